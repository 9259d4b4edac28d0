import csv
import json
from datetime import datetime, time, timedelta

import django_otp
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from . import selectors, services, two_factor
from .access import membership_required
from .forms import PracticeSettingsForm
from .http import csv_cell, safe_next, validate_sane_date
from .models import AuditEvent, Practice
from .services import audit_access, audit_record


@require_GET
def healthz(request):
    """For a load balancer: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


# A small icon of our own. Pages say `<link rel="icon" href="data:,">`, but a browser still asks for
# /favicon.ico when it shows a document that is not one of our pages (a download, a plain response):
# a 404 there is noise in every log and a console error in every browser test that meets it.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<circle cx="8" cy="8" r="7" fill="#0d6efd"/><path d="M5 8.5l2 2 4-5" stroke="#fff" stroke-width="1.6" '
    'fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>'
)


@require_GET
def favicon(request) -> HttpResponse:
    response = HttpResponse(FAVICON_SVG, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def not_found(request, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request) -> HttpResponse:
    return render(request, "500.html", status=500)


# ------------------------------------------------------------ two factors


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the key), then prove it with a code; recovery codes are shown once."""
    user = request.user
    if two_factor.has_device(user) and not user.is_verified():
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': safe_next(request, '')})}")
    device = two_factor.enrollment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        membership = getattr(request, "membership", None)
        codes = two_factor.enrollment_confirm(
            user=user,
            device=device,
            token=form.cleaned_data["code"],
            practice=membership.practice if membership else None,
        )
        if codes is not None:
            django_otp.login(request, device)
            return render(
                request,
                "registration/two_factor_codes.html",
                {"codes": codes, "next": safe_next(request, reverse("appointments:today")), "signing_in": True},
            )
        form.add_error("code", "That code did not match. Check the time on your phone and try the newest code.")
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr": two_factor.qr_code_data_uri(device),
            "secret": two_factor.secret_for_typing(device),
            "next": safe_next(request, ""),
            "replacing": two_factor.has_device(user),
            "signing_in": True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app, or one recovery code."""
    user = request.user
    target = safe_next(request, reverse("appointments:today"))
    if user.is_verified():
        return redirect(target)
    if not two_factor.has_device(user):
        return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': target})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify(user=user, token=form.cleaned_data["code"])
        membership = getattr(request, "membership", None)
        if device is not None:
            django_otp.login(request, device)
            if membership is not None:
                audit_record(
                    practice=membership.practice,
                    actor=user,
                    action="account.second_factor_passed",
                    obj=membership,
                    changes={"with": "recovery code" if device.name == two_factor.RECOVERY_DEVICE_NAME else "app"},
                )
            return redirect(target)
        if membership is not None:
            audit_record(
                practice=membership.practice, actor=user, action="account.second_factor_failed", obj=membership
            )
        form.add_error("code", "That code did not work. Wait for a new code and try again, or use a recovery code.")
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": target, "signing_in": True})


# ------------------------------------------------------------------ the audit


class AuditFilterForm(forms.Form):
    person = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Person")
    action = forms.CharField(required=False, max_length=60, label="Action starts with")
    client = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date]
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_sane_date]
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone")] + [(u.pk, u.get_full_name() or u.username) for u in people]


@require_GET
@membership_required(admin_only=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who did and saw what: every change and every view of a client record, newest first."""
    from appointments.models import Client  # the page names the client it is filtered by

    practice = request.membership.practice
    people = get_user_model().objects.filter(membership__practice=practice).order_by("first_name", "username")
    form = AuditFilterForm(request.GET or None, people=people)
    events = AuditEvent.objects.filter(practice=practice).select_related("actor")
    client = None
    if form.is_bound and not form.is_valid():
        messages.warning(request, "Some filters were not understood and were left out.")
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    zone = practice.time_zone
    if data.get("person"):
        events = events.filter(actor_id=data["person"])
    if data.get("action"):
        events = events.filter(action__startswith=data["action"])
    if data.get("client"):
        client = Client.objects.filter(practice=practice, pk=data["client"]).first()
        events = events.filter(client_ref=client.pk if client else 0)
    if data.get("date_from"):
        events = events.filter(at__gte=datetime.combine(data["date_from"], time.min, tzinfo=zone))
    if data.get("date_to"):
        events = events.filter(at__lt=datetime.combine(data["date_to"] + timedelta(days=1), time.min, tzinfo=zone))
    if request.GET.get("export") == "csv":
        audit_access(request=request, action="audit.exported")
        return _audit_csv(events, zone)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "practice/audit.html", {"form": form, "page": page, "client": client, "query": query.urlencode()}
    )


class _Echo:
    def write(self, value):
        return value


def _audit_csv(events, zone) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["at", "person", "action", "object", "object_id", "client_id", "details"])
        for event in events.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    timezone.localtime(event.at, zone).strftime("%Y-%m-%d %H:%M:%S"),
                    csv_cell(event.actor.get_username()) if event.actor else "",
                    event.action,
                    event.object_type,
                    event.object_id,
                    event.client_ref or "",
                    csv_cell(json.dumps(event.changes, sort_keys=True)),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


# ------------------------------------------------------------ practice settings


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def practice_settings(request: HttpRequest) -> HttpResponse:
    """Practice admins set the practice up. A new time zone is saved only after
    the admin has seen how many booked sessions will show at another local time."""
    practice = request.membership.practice
    # A copy: validating a ModelForm writes to its instance, and the request's
    # practice must keep showing what is saved until the service has saved.
    form = PracticeSettingsForm(request.POST or None, instance=Practice.objects.get(pk=practice.pk))
    zone_change = None
    if request.method == "POST" and form.is_valid():
        new_zone = str(form.cleaned_data["time_zone"])
        if new_zone != str(practice.time_zone) and request.POST.get("confirm_zone") != new_zone:
            zone_change = selectors.zone_change_preview(practice=practice, new_zone=new_zone)
        if zone_change is None or zone_change.count == 0:
            try:
                services.practice_update(practice=practice, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_service_error(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("practice_settings")
    return render(
        request,
        "practice/settings.html",
        {
            "form": form,
            "zone_change": zone_change,
            "new_zone": form.cleaned_data.get("time_zone") if zone_change else None,
        },
    )


def _add_service_error(form, exc: ValidationError) -> None:
    """Put a service's message beside the field it names, or above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
