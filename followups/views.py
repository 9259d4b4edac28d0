"""Follow-up settings and message log for staff; the client's no-login rescheduling page."""

from datetime import date, datetime
from functools import lru_cache, wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftercare import responses
from aftercare import services as aftercare
from appointments.models import Appointment, NoShowEvent
from practice import ratelimit
from practice.access import membership_required
from practice.emails import contact_line
from practice.services import audit_access

from . import calendar, defaults, purposes, reminders, selectors, services, templating, wording_check
from .forms import (
    CantMakeItForm,
    MessageFilterForm,
    MoveSlotForm,
    PlanForm,
    ReminderPlanForm,
    RescheduleForm,
    TemplateForm,
)
from .models import ClientLink, MessageTemplate
from .rows import message_rows

# Repeated bad links from one address: after this many in the window, stop answering them.
BAD_LINK_LIMIT = 20
BAD_LINK_WINDOW = 15 * 60


# ------------------------------------------------------------------ staff


def _anchor(kind: str) -> str:
    return "#reminders" if kind == MessageTemplate.Kind.REMINDER else "#followups"


def followup_context(membership) -> dict:
    """The Follow-ups and Reminders sections of the Policies page."""
    practice = membership.practice
    plan = services.plan_for(practice)
    own = {t.kind: t for t in MessageTemplate.objects.filter(practice=practice)}
    templates = []
    for kind, label in MessageTemplate.Kind.choices:
        subject, body = (own[kind].subject, own[kind].body) if kind in own else defaults.DEFAULTS[kind]
        # Wording saved before the checker existed (or before a word joined a list) is still sent; say so.
        blocked = [f.rule for f in wording_check.check(kind=kind, subject=subject, body=body).errors]
        templates.append(
            {"kind": kind, "label": label, "subject": subject, "body": body, "custom": kind in own, "blocked": blocked}
        )
    reminder_template = next(t for t in templates if t["kind"] == MessageTemplate.Kind.REMINDER)
    templates = [t for t in templates if t["kind"] in MessageTemplate.FOLLOWUP_KINDS]
    return {
        "plan_form": PlanForm(instance=plan),
        "templates": templates,
        "placeholders": templating.PLACEHOLDERS,
        "reminder_form": ReminderPlanForm(instance=reminders.plan_for(practice)),
        "reminder_template": reminder_template,
    }


@require_POST
@membership_required(admin_only=True)
def plan_save(request: HttpRequest) -> HttpResponse:
    plan = services.plan_for(request.membership.practice)
    form = PlanForm(request.POST, instance=plan)
    if form.is_valid():
        services.plan_update(practice=request.membership.practice, actor=request.user, **form.cleaned_data)
        messages.success(request, "Follow-up plan saved.")
        return redirect(reverse("policies:policy") + "#followups")
    errors = "; ".join(f"{form.fields[name].label}: {' '.join(errs)}" for name, errs in form.errors.items())
    messages.error(request, f"Nothing was saved. {errors}")
    return redirect(reverse("policies:policy") + "#followups")


@require_POST
@membership_required(admin_only=True)
def reminder_plan_save(request: HttpRequest) -> HttpResponse:
    practice = request.membership.practice
    form = ReminderPlanForm(request.POST, instance=reminders.plan_for(practice))
    if form.is_valid():
        reminders.plan_update(practice=practice, actor=request.user, **form.cleaned_data)
        messages.success(request, "Reminder plan saved.")
        return redirect(reverse("policies:policy") + "#reminders")
    errors = "; ".join(
        (f"{form.fields[name].label}: " if name in form.fields else "") + " ".join(errs)
        for name, errs in form.errors.items()
    )
    messages.error(request, f"Nothing was saved. {errors}")
    return redirect(reverse("policies:policy") + "#reminders")


@require_http_methods(["GET", "POST"])
@membership_required(admin_only=True)
def template_edit(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in MessageTemplate.Kind.values:
        return render(request, "404.html", status=404)
    practice = request.membership.practice
    subject, body = services.wording_for(practice, kind)
    form = TemplateForm(request.POST or None, initial={"kind": kind, "subject": subject, "body": body}, kind=kind)
    if request.method == "POST":
        if request.POST.get("reset"):
            services.template_reset(practice=practice, kind=kind, actor=request.user)
            messages.success(request, "Back to the default wording.")
            return redirect(reverse("policies:policy") + _anchor(kind))
        if form.is_valid():
            services.template_save(
                practice=practice,
                kind=kind,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                actor=request.user,
            )
            messages.success(request, "Wording saved.")
            for warning in form.warnings:
                messages.warning(request, str(warning))
            return redirect(reverse("policies:policy") + _anchor(kind))
    return render(
        request,
        "followups/template_edit.html",
        {
            "form": form,
            "kind_label": MessageTemplate.Kind(kind).label,
            "kind": kind,
            "placeholders": templating.placeholders_for(kind),
            "preview": _preview(practice, kind, form.data.get("subject", subject), form.data.get("body", body)),
        },
    )


@require_POST
@membership_required(admin_only=True)
def template_preview(request: HttpRequest) -> HttpResponse:
    """htmx: the message as a client would read it, with sample values, and what the checker says."""
    kind = request.POST.get("kind", "")
    if kind not in MessageTemplate.Kind.values:
        kind = MessageTemplate.Kind.FIRST_LATE_CANCEL  # the strictest rules
    preview = _preview(request.membership.practice, kind, request.POST.get("subject", ""), request.POST.get("body", ""))
    return render(request, "followups/template_edit.html#preview", {"preview": preview})


def _preview(practice, kind: str, subject: str, body: str) -> dict:
    subject, body = subject.replace("\r\n", "\n"), body.replace("\r\n", "\n")
    problems = templating.check_template(subject=subject, body=body, kind=kind)
    report = wording_check.check(kind=kind, subject=subject, body=body)
    problems += [str(error) for error in report.errors]
    plan = services.plan_for(practice)
    rendered = templating.render(
        subject=subject[:120],
        body=body[:3000],
        values={
            "first_name": "Sam",
            "session_time": "Tuesday 3 March at 10:00",
            "place": "video session",
            "terms": "Moving or cancelling is free until Monday 10:00.",
            "confirm_link": "https://…/c/example-link",
            "cancel_link": "https://…/cancel/example-link",
            "move_link": "https://…/move/example-link",
            "reschedule_link": "https://…/r/example-link",
            "practice_phone": practice.phone_display,
            "contact_line": contact_line(phone=practice.phone_display, reply_to=practice.reply_to_email, by_email=True),
            "practice_name": practice.sender_name,
            "exercises_note": defaults.EXERCISES_NOTE if plan.mention_exercises else "",
        },
    )
    return {
        "subject": rendered.subject,
        "body": rendered.body,
        "problems": problems,
        "warnings": [str(warning) for warning in report.warnings],
    }


@require_GET
@membership_required
def message_log(request: HttpRequest) -> HttpResponse:
    form = MessageFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else ""
    page = selectors.message_log_page(membership=request.membership, status=status, number=request.GET.get("page"))
    audit_access(request=request, action="messages.viewed")
    rows = message_rows(page.object_list)
    return render(request, "followups/messages.html", {"page": page, "form": form, "rows": rows})


@require_POST
@membership_required
def message_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    message = get_object_or_404(selectors.messages_for(membership=request.membership), pk=pk)
    try:
        if action == "send-again":
            services.outbox_send_again(message=message, actor=request.user)
            messages.success(request, "The message will go out within a minute.")
        else:
            services.outbox_cancel(message=message, actor=request.user)
            messages.success(request, "Message cancelled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("followups:messages"))


@require_POST
@membership_required
def contacted(request: HttpRequest, event_pk: int) -> HttpResponse:
    """Staff reached the client themselves: stop the automated follow-ups for this miss."""
    visible = Appointment.objects.for_membership(request.membership)
    event = get_object_or_404(NoShowEvent.objects.filter(appointment__in=visible), pk=event_pk)
    services.contacted_mark(event=event, actor=request.user)
    messages.success(request, "Marked as contacted: no more automated follow-ups for this session.")
    return redirect(event.appointment.client)


# ----------------------------------------------------------------- client


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


def bad_link_response(
    request: HttpRequest, practice=None, template: str = "followups/link_unusable.html"
) -> HttpResponse:
    """The kind page, for every kind of client link. Only unknown tokens count towards the
    limit: a client who reopens their own used or expired link is not guessing."""
    if practice is None:
        ratelimit.hit(f"reschedule-bad:{_client_ip(request)}", BAD_LINK_WINDOW)
    return render(request, template, {"practice": practice}, status=404)


def too_many_bad_links(request: HttpRequest) -> bool:
    return ratelimit.count(f"reschedule-bad:{_client_ip(request)}") >= BAD_LINK_LIMIT


def limit_bad_links(template: str = "followups/link_unusable.html"):
    """For every client-link page: an address that has guessed too many links gets "try again later" (429)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if too_many_bad_links(request):
                return render(request, template, {"too_many": True}, status=429)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@require_http_methods(["GET", "POST"])
@limit_bad_links()
def reschedule(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the open times and changes nothing; POST books the one picked."""
    try:
        offer = aftercare.reschedule_offer(token=token)
    except aftercare.LinkUnusable as exc:
        return bad_link_response(request, exc.practice)
    # Times on this page are the practice's.
    timezone.activate(offer.missed.practice.time_zone)
    form = RescheduleForm(request.POST or None)
    taken = False
    if request.method == "POST" and form.is_valid():
        try:
            start = datetime.fromisoformat(form.cleaned_data["slot"])
            if start.tzinfo is None:
                raise ValueError("naive")
            booked = aftercare.client_reschedule(
                token=token, start=start, reason=form.cleaned_data["reason"], text=form.cleaned_data["text"]
            )
        except ValueError:
            form.add_error("slot", "Pick one of the times.")
        except aftercare.SlotTaken:
            taken = True
            offer = aftercare.reschedule_offer(token=token)
        except aftercare.LinkUnusable as exc:
            return bad_link_response(request, exc.practice)
        else:
            return render(
                request,
                "followups/rescheduled.html",
                {
                    "appointment": booked,
                    "practice": offer.missed.practice,
                    "first_name": offer.missed.client.first_name,
                    "session": calendar.session_details(booked),
                    "calendar_url": reverse("followups:reschedule_calendar", args=[token]),
                    "calendar_days": aftercare.CALENDAR_LINK_DAYS,
                },
            )
    days = _slot_days(offer.slots, offer.missed.practice.time_zone)
    return render(
        request,
        "followups/reschedule.html",
        {
            "offer": offer,
            "practice": offer.missed.practice,
            "first_name": offer.missed.client.first_name,
            "days": days,
            "form": form,
            "taken": taken,
        },
    )


@require_GET
@limit_bad_links()
def reschedule_calendar(request: HttpRequest, token: str) -> HttpResponse:
    """The booked session as an .ics file, from the link that booked it (for a while after)."""
    try:
        appointment = aftercare.rebooked_session(token=token)
    except aftercare.LinkUnusable as exc:
        return bad_link_response(request, exc.practice)
    response = HttpResponse(calendar.session_ics(appointment), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="appointment.ics"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
@limit_bad_links()
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """A reminder's Confirm link. GET shows the session and a button and changes nothing; POST confirms."""
    try:
        offer = reminders.confirm_offer(token=token)
    except services.LinkUnusable as exc:
        return bad_link_response(request, exc.practice)
    appointment = offer.appointment
    practice = appointment.practice
    # Times on this page are the practice's.
    timezone.activate(practice.time_zone)
    context = {
        "practice": practice,
        "first_name": appointment.client.first_name,
        "session": calendar.session_details(appointment),
        "terms": purposes.terms_sentence(appointment, practice.time_zone, timezone.now()),
    }
    if offer.already_confirmed:
        return render(request, "followups/confirmed.html", context)
    if request.method == "POST":
        try:
            reminders.session_confirm(token=token)
        except services.LinkUnusable as exc:
            return bad_link_response(request, exc.practice)
        return render(request, "followups/confirmed.html", context)
    return render(request, "followups/confirm.html", context)


@lru_cache(maxsize=1024)
def _day_label(day: date, language: str | None) -> str:
    """ "Tuesday 9 June" in the active language (a key of the cache): date_format's lookups of the
    format and the names were a tenth of the rebooking page's time, for a handful of dates a day."""
    return date_format(day, "l j F")


def _slot_days(slots, zone) -> list[dict]:
    """Open times grouped by local day, for the radio buttons of the client pages
    (templates/followups/_slot_picker.html). Every label, id and value is made here, once: in the
    template each `{{ forloop.counter }}` and `|time` went through number and date localization,
    which made the loop the costliest part of the rebooking page (bench/rebooking.py)."""
    by_day: dict = {}
    for start, _end in slots:
        local = start.astimezone(zone)
        by_day.setdefault(local.date(), []).append((start, local))
    return [
        {
            "label": _day_label(day, get_language()),
            "slots": [
                {"id": f"slot-{d}-{n}", "value": start.isoformat(), "label": f"{local:%H:%M}"}
                for n, (start, local) in enumerate(times, 1)
            ],
        }
        for d, (day, times) in enumerate(by_day.items(), 1)
    ]


def _response_done(request: HttpRequest, offer, done: str) -> HttpResponse:
    appointment = offer.appointment
    return render(
        request,
        "followups/responded.html",
        {
            "practice": appointment.practice,
            "first_name": appointment.client.first_name,
            "session": calendar.session_details(appointment),
            "done": done,
            "late": appointment.status == Appointment.Status.LATE_CANCEL,
            "terms": offer.terms,
        },
    )


@require_http_methods(["GET", "POST"])
@limit_bad_links()
def session_response(request: HttpRequest, token: str, purpose: str) -> HttpResponse:
    """A reminder's "I can't make it" or "Move it" link. GET shows the terms that apply now and the
    times to move to, and changes nothing; POST (action "cancel" or "move") acts, once."""
    try:
        offer = responses.response_offer(token=token, purpose=purpose)
    except services.LinkUnusable as exc:
        return bad_link_response(request, exc.practice)
    appointment = offer.appointment
    practice = appointment.practice
    # Times on this page are the practice's.
    timezone.activate(practice.time_zone)
    if offer.done:
        return _response_done(request, offer, offer.done)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    can_cancel = purpose == ClientLink.Purpose.CANT_MAKE_IT
    cancel_form = CantMakeItForm(request.POST if action == "cancel" else None)
    move_form = MoveSlotForm(request.POST if action == "move" else None)
    notice, taken = "", False
    if request.method == "POST":
        try:
            if action == "cancel" and can_cancel and cancel_form.is_valid():
                data = cancel_form.cleaned_data
                responses.client_cant_make_it(
                    token=token, late_seen=data["late"], reason=data["reason"], text=data["text"]
                )
                # What the link did: this POST, or the first of a double click or two tabs.
                done = responses.response_offer(token=token, purpose=purpose)
                return _response_done(request, done, done.done)
            if action == "move" and move_form.is_valid():
                start = datetime.fromisoformat(move_form.cleaned_data["slot"])
                if start.tzinfo is None:
                    raise ValueError("naive")
                responses.client_move(token=token, purpose=purpose, start=start)
                done = responses.response_offer(token=token, purpose=purpose)
                return _response_done(request, done, done.done)
            if action == "cancel" and can_cancel:
                notice = "Something went wrong with the form. Nothing has changed: please try again."
            elif action != "move":
                notice = "Please use one of the buttons below. Nothing has changed."
        except ValueError:
            move_form.add_error("slot", "Pick one of the times.")
        except responses.TermsChanged:
            notice = (
                "The time to cancel without a fee has just passed. Nothing has changed: please read what applies now."
            )
        except aftercare.SlotTaken:
            taken = True
        except services.LinkUnusable as exc:
            return bad_link_response(request, exc.practice)
        offer = responses.response_offer(token=token, purpose=purpose)
    return render(
        request,
        "followups/respond.html",
        {
            "practice": practice,
            "first_name": appointment.client.first_name,
            "session": calendar.session_details(appointment),
            "offer": offer,
            "terms": offer.terms,
            "days": _slot_days(offer.slots, practice.time_zone),
            "can_cancel": can_cancel,
            "cancel_form": cancel_form,
            "move_form": move_form,
            "reasons": CantMakeItForm.base_fields["reason"].choices,
            "notice": notice,
            "taken": taken,
        },
    )
