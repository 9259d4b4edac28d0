"""Policy, fees, acknowledgements and safety checks."""

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftercare.services import safety_check_done
from appointments.access import get_client_for_user
from appointments.selectors import clinicians_for
from followups import acknowledgements as ack_requests
from followups import selectors as followup_selectors
from followups.services import LinkUnusable
from followups.views import bad_link_response, followup_context, limit_bad_links
from practice import timefmt
from practice.access import membership_required
from practice.http import csv_cell, safe_next
from practice.services import audit_access

from . import selectors, services
from .forms import AcknowledgementForm, FeeActionForm, FeeFilterForm, PolicyForm, SafetyCheckForm
from .models import Acknowledgement, FeeAssessment, PolicyVersion

State = FeeAssessment.State


@require_http_methods(["GET", "POST"])
@membership_required
def policy(request: HttpRequest) -> HttpResponse:
    """Everyone on staff reads the policy; practice admins save new versions."""
    membership = request.membership
    versions, current = selectors.policy_versions_with_current(membership=membership)
    zone = membership.practice.time_zone
    form = PolicyForm(request.POST or None, zone=zone, initial=PolicyForm.initial_from(current))
    if request.method == "POST":
        if not membership.is_admin:
            messages.error(request, "Only practice admins can change the policy.")
            return redirect("policies:policy")
        if form.is_valid():
            try:
                version = services.policy_version_create(
                    practice=membership.practice,
                    actor=request.user,
                    overrides=form.overrides(),
                    **form.policy_fields(),
                )
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                messages.success(request, f"Saved as version {version.number}.")
                return redirect("policies:policy")
    return render(
        request,
        "policies/policy.html",
        {
            "form": form,
            "current": current,
            "versions": versions,
            **_ack_context(membership, current),
            **followup_context(membership),
        },
    )


def _ack_context(membership, current: PolicyVersion | None) -> dict:
    """Admins: who has not acknowledged the version in force, and how the emailed requests are going."""
    if current is None or not membership.is_admin:
        return {}
    practice_id = membership.practice_id
    progress = followup_selectors.ack_request_progress(practice_id=practice_id, version=current)
    return {
        "outreach": followup_selectors.ack_outreach(practice_id=practice_id, version=current, now=timezone.now()),
        "progress": progress,
    }


@require_POST
@membership_required(admin_only=True)
def ack_requests_send(request: HttpRequest) -> HttpResponse:
    """Email the acknowledgement link to every active client who has not acknowledged and consents."""
    current = selectors.policy_current(membership=request.membership)
    if current is None:
        messages.error(request, "There is no policy in force to acknowledge.")
        return redirect("policies:policy")
    queued = ack_requests.ack_requests_queue(version=current, actor=request.user)
    if queued:
        messages.success(request, f"Emailing the link to {queued} client{'' if queued == 1 else 's'}: progress below.")
    else:
        messages.info(request, "Nothing new to send: everyone who consents to email has been sent the link.")
    return redirect(reverse("policies:policy") + "#ack-requests")


@require_GET
@membership_required(admin_only=True)
def ack_requests_progress(request: HttpRequest) -> HttpResponse:
    """htmx: the progress panel, polled while requests are still queued."""
    current = selectors.policy_current(membership=request.membership)
    context = _ack_context(request.membership, current)
    return render(request, "policies/policy.html#ack-progress", {"current": current, **context})


@require_GET
@membership_required(whole_practice=True)
def fees(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    clinicians = list(clinicians_for(membership))
    form = FeeFilterForm(request.GET or None, clinicians=clinicians)
    filters = {}
    if form.is_bound:
        if form.is_valid():
            filters = {
                "state": form.cleaned_data["state"],
                "clinician_id": form.cleaned_data["clinician"],
                "date_from": form.cleaned_data["date_from"],
                "date_to": form.cleaned_data["date_to"],
            }
        else:
            messages.warning(request, "Some filters were not understood and were left out.")
    if request.GET.get("export") == "csv":
        audit_access(
            request=request, action="fees.exported", changes={"filters": sorted(k for k, v in filters.items() if v)}
        )
        return _fees_csv(selectors.fees_filtered(membership=membership, **filters), membership.practice.time_zone)
    page = selectors.fees_page(membership=membership, number=request.GET.get("page"), **filters)
    audit_access(request=request, action="fees.viewed")
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "policies/fees.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


def _fees_csv(qs, zone) -> StreamingHttpResponse:
    """For the billing system: one row per fee, times in the practice's zone."""
    writer = csv.writer(_Echo())
    header = [
        "fee_id",
        "session_start",
        "client_id",
        "client_name",
        "clinician",
        "kind",
        "state",
        "amount",
        "currency",
        "rule",
        "policy_version",
        "due_at",
        "charged_under_version",
        "waiver_reason",
        "waiver_note",
    ]

    def rows():
        yield writer.writerow(header)
        for fee in qs.iterator(chunk_size=500):
            closing = fee.closing_change if fee.state in (State.WAIVED, State.VOID) else None
            yield writer.writerow(
                [
                    fee.pk,
                    # The fee's own copies of its session (null only on rows no service wrote).
                    timezone.localtime(fee.session_start, zone).strftime("%Y-%m-%d %H:%M") if fee.session_start else "",
                    fee.client_id,
                    csv_cell(fee.client.full_name),
                    csv_cell(fee.clinician.get_full_name() or fee.clinician.username) if fee.clinician else "",
                    fee.missed_session.kind,
                    fee.state,
                    fee.amount,
                    fee.currency,
                    csv_cell(fee.rule_detail),
                    fee.policy_version.number if fee.policy_version else "",
                    timezone.localtime(fee.due_at, zone).strftime("%Y-%m-%d %H:%M") if fee.due_at else "",
                    fee.charged_under.number if fee.charged_under else "",
                    closing.reason_code if closing else "",
                    csv_cell(closing.note) if closing else "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="fees-{timezone.localdate():%Y-%m-%d}.csv"'
    return response


@require_POST
@membership_required(whole_practice=True)
def fee_action(request: HttpRequest, pk: int) -> HttpResponse:
    fee = get_object_or_404(selectors.fees_for(membership=request.membership), pk=pk)
    form = FeeActionForm(request.POST)
    back = safe_next(request, reverse("policies:fees"))
    if not form.is_valid():
        errors = "; ".join(e for field_errors in form.errors.values() for e in field_errors)
        messages.error(request, f"Nothing was changed: {errors}")
        return redirect(back)
    action, data = form.cleaned_data["action"], form.cleaned_data
    try:
        if action == "waive":
            services.fee_waive(fee=fee, actor=request.user, reason_code=data["reason_code"], note=data["note"])
        elif action == "paid":
            services.fee_mark_paid(fee=fee, actor=request.user, note=data["note"])
        else:
            services.fee_void(fee=fee, actor=request.user, note=data["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, {"waive": "Fee waived.", "paid": "Fee marked paid.", "void": "Fee voided."}[action])
    return redirect(back)


@require_POST
@membership_required
def acknowledgement_record(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = get_client_for_user(request, client_pk)
    version = selectors.policy_current(membership=request.membership)
    form = AcknowledgementForm(request.POST)
    if version is None:
        messages.error(request, "There is no policy in force to acknowledge.")
    elif not form.is_valid():
        messages.error(request, "Say how the client acknowledged the policy.")
    else:
        services.acknowledgement_record(
            client=client, version=version, method=form.cleaned_data["method"], actor=request.user
        )
        messages.success(request, f"Recorded: {client.full_name} acknowledged policy version {version.number}.")
    return redirect(client)


@require_POST
@membership_required
def acknowledgement_send_link(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = get_client_for_user(request, client_pk)
    version = selectors.policy_current(membership=request.membership)
    if version is None:
        messages.error(request, "There is no policy in force to acknowledge.")
        return redirect(client)
    try:
        ack_requests.ack_request_client(client=client, version=version, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The acknowledgement link will be emailed to the client within a minute.")
    return redirect(client)


@require_http_methods(["GET", "POST"])
@limit_bad_links("policies/ack_invalid.html")
def acknowledgement_public(request: HttpRequest, token: str) -> HttpResponse:
    """The client's page. GET only shows (mail scanners open links before people do); POST accepts."""
    try:
        link = ack_requests.ack_link_open(token=token)
        if request.method == "POST":
            link = ack_requests.ack_link_accept(token=token)
    except LinkUnusable as exc:
        return bad_link_response(request, exc.practice, template="policies/ack_invalid.html")
    version = PolicyVersion.objects.get(pk=link.policy_version_id)
    client = link.client
    done = request.method == "POST" or Acknowledgement.objects.filter(client=client, version=version).exists()
    # A client page reached by a link: no login, so name the zone here.
    timefmt.activate(client.practice)
    return render(request, "policies/ack_public.html", {"client": client, "version": version, "done": done})


@require_POST
@membership_required
def safety_check_complete(request: HttpRequest, pk: int) -> HttpResponse:
    check = get_object_or_404(selectors.safety_checks_for(membership=request.membership), pk=pk)
    form = SafetyCheckForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The note is too long. Nothing was changed.")
    else:
        safety_check_done(
            check=check,
            actor=request.user,
            note=form.cleaned_data["note"],
            send_followups=form.cleaned_data["send_followups"],
        )
        messages.success(request, "Safety check recorded as done.")
    return redirect(safe_next(request, reverse("appointments:today")))
