"""Schedule, clients and booking. Views stay short: selectors read, services write."""

from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftercare.services import attendance_correct, attendance_record, attendance_undo, makeup_book, session_move
from engagement import selectors as engagement_selectors
from engagement.forms import ReflectionNoteForm
from followups import selectors as followup_selectors
from policies import selectors as policy_selectors
from practice import sqlonce
from practice.access import membership_required
from practice.http import date_is_sane, safe_next
from practice.models import Membership, Practice
from practice.services import audit_access

from . import selectors, services, slots
from .access import check_appointment_for_user, get_appointment_for_user, get_client_for_user, get_series_for_user
from .forms import AvailabilityForm, BookingForm, CancelForm, ClientForm, CorrectionForm, MoveForm, OutcomeForm
from .models import Appointment, Availability, Client
from .rows import render as render_schedule_rows
from .rows import schedule_row, schedule_rows, with_message

# The client page's fees, follow-ups and reasons show at most this many, newest first.
CLIENT_SECTION_CAP = 50
CLIENT_HISTORY_PAGE = 50


def _clinician_filter(request: HttpRequest) -> tuple[int | None, list]:
    """The clinician picked in the filter, if any, and the choices to show.

    A clinician always sees their own schedule, with no picker (so no query
    for its choices); admins and front desk see everyone's, or one
    clinician's. An unknown id is ignored with a message.
    """
    membership = request.membership
    if not membership.sees_whole_practice:
        return membership.user_id, []
    # The picker shows names only.
    clinicians = list(selectors.clinicians_for(membership).only("first_name", "last_name", "username"))
    raw = request.GET.get("clinician", "")
    if not raw:
        return None, clinicians
    ids = {c.pk for c in clinicians}
    if raw.isdigit() and int(raw) in ids:
        return int(raw), clinicians
    messages.warning(request, "That clinician is not in this practice; showing everyone.")
    return None, clinicians


def _row_response(
    request, appointment: Appointment, error: str = "", note: str = "", *, show_date: bool
) -> HttpResponse:
    """One schedule row for htmx to swap in; a row with a message is rendered afresh (practice/rowcache.py)."""
    row = schedule_row(appointment, membership=request.membership, now=timezone.now(), show_date=show_date)
    return HttpResponse(render_schedule_rows([with_message(row, error=error, note=note)]))


@require_GET
@membership_required
def today(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    clinician_id, clinicians = _clinician_filter(request)
    day = selectors.local_today(membership)
    appointments = selectors.schedule(membership=membership, first=day, clinician_id=clinician_id)
    # Bounded: a big practice's day is paged (the clinician picker narrows it).
    page = selectors.counted_page(appointments, request.GET.get("page"), selectors.TODAY_PAGE_SIZE, window=True)
    return render(
        request,
        "appointments/today.html",
        {
            "day": day,
            "rows": schedule_rows(page.object_list, membership=membership, show_date=False),
            "page": page,
            "query": urlencode({"clinician": clinician_id}) if clinician_id else "",
            **_today_alerts(membership),
            "clinicians": clinicians,
            "clinician_id": clinician_id,
        },
    )


def _alert_lists(membership, now) -> dict:
    return {
        "safety_checks": policy_selectors.safety_checks_open(membership=membership),
        "unreached": followup_selectors.messages_failed(membership=membership),
        "unconfirmed": followup_selectors.unconfirmed_soon_queryset(membership=membership, now=now),
        "checkins": engagement_selectors.checkin_tasks_open(membership=membership),
    }


def _alerts_present(role: str, is_clinician: bool, *, practice_id: int, user_id: int, now: datetime):
    """Which of Today's alert lists has anything: an EXISTS of each list's own selector queryset, so the
    scoping stays theirs. Built for practice/sqlonce.py: a role and `is_clinician` decide its shape."""
    membership = Membership(practice_id=practice_id, user_id=user_id, role=role, is_clinician=is_clinician)
    lists = _alert_lists(membership, now)
    return Practice.objects.filter(pk=practice_id).order_by().values_list(*(Exists(qs) for qs in lists.values()))


def _today_alerts(membership) -> dict:
    """Today's four alert lists: safety checks, clients we could not reach, unconfirmed sessions, check-ins.

    Usually all four are empty, so one query first asks which have anything, and
    only those lists are read. An empty list costs no query of its own. That
    query's SQL is compiled once per process and role (practice/sqlonce.py):
    building and compiling the four querysets was a third of the page (issue 11).
    """
    now = timezone.now()
    has = _alerts_found(membership, now)
    if not any(has.values()):
        return {"safety_checks": [], "unreached": [], "unconfirmed": [], "checkins": []}
    lists = _alert_lists(membership, now)
    return {
        "safety_checks": lists["safety_checks"] if has["safety_checks"] else [],
        "unreached": lists["unreached"][:20] if has["unreached"] else [],
        "unconfirmed": followup_selectors.unconfirmed_soon(membership=membership, now=now)
        if has["unconfirmed"]
        else [],
        "checkins": lists["checkins"] if has["checkins"] else [],
    }


def _alerts_found(membership, now: datetime) -> dict[str, bool]:
    [found] = sqlonce.rows(
        _alerts_present,
        membership.role,
        membership.is_clinician,
        practice_id=membership.practice_id,
        user_id=membership.user_id,
        now=now,
        may_ignore=("user_id",),  # an admin's and front desk's lists are the whole practice's
    )
    return dict(zip(("safety_checks", "unreached", "unconfirmed", "checkins"), map(bool, found), strict=True))


@require_GET
@membership_required
def week(request: HttpRequest) -> HttpResponse:
    clinician_id, clinicians = _clinician_filter(request)
    today_ = selectors.local_today(request.membership)
    raw = request.GET.get("start", "")
    try:
        first = date.fromisoformat(raw) if raw else today_
    except ValueError:
        messages.warning(request, "That date was not understood; showing this week.")
        first = today_
    if not date_is_sane(first):
        messages.warning(request, "That date is outside the dates this schedule shows; showing this week.")
        first = today_
    first -= timedelta(days=first.weekday())  # weeks start on Monday
    # Bounded: pages of whole weeks for groups of clinicians, at most WEEK_PAGE_ROWS rows each.
    cap = selectors.WEEK_PAGE_ROWS
    if clinician_id is None:
        groups = selectors.schedule_clinician_pages(
            membership=request.membership, first=first, days=7, clinicians=clinicians, cap=cap
        ) or [[]]
        page = Paginator(groups, 1).get_page(request.GET.get("page"))
        ids = page.object_list[0]
        page_clinicians = [c for c in clinicians if c.pk in ids] if page.has_other_pages() else []
        appointments = selectors.schedule(membership=request.membership, first=first, days=7, clinician_ids=ids)
    else:
        page, page_clinicians = None, []
        appointments = selectors.schedule(membership=request.membership, first=first, days=7, clinician_id=clinician_id)
    appointments = list(appointments[: cap + 1])
    truncated = len(appointments) > cap
    days = {first + timedelta(days=i): [] for i in range(7)}
    zone = selectors.practice_zone(request.membership)
    now = timezone.now()
    for appointment in appointments[:cap]:
        days[appointment.start.astimezone(zone).date()].append(
            schedule_row(appointment, membership=request.membership, now=now, show_date=False, zone=zone)
        )
    return render(
        request,
        "appointments/week.html",
        {
            "first": first,
            "days": days,
            "previous": first - timedelta(days=7),
            "next": first + timedelta(days=7),
            "today": today_,
            "clinicians": clinicians,
            "clinician_id": clinician_id,
            "page": page,
            "query": urlencode({"start": first.isoformat()}),
            "truncated": truncated,
            "cap": cap,
            "page_clinicians": page_clinicians,
            "week_params": [("start", first.isoformat())],
        },
    )


@require_GET
@membership_required
def needs_outcome(request: HttpRequest) -> HttpResponse:
    clinician_id, clinicians = _clinician_filter(request)
    qs = selectors.needs_outcome(membership=request.membership, clinician_id=clinician_id)
    page = selectors.counted_page(qs, request.GET.get("page"), selectors.NEEDS_OUTCOME_PAGE_SIZE)
    return render(
        request,
        "appointments/needs_outcome.html",
        {
            "page": page,
            "rows": schedule_rows(page.object_list, membership=request.membership, show_date=True),
            "clinicians": clinicians,
            "clinician_id": clinician_id,
        },
    )


@require_POST
@membership_required
def appointment_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    check_appointment_for_user(request, pk)
    form = OutcomeForm(request.POST)
    error = ""
    appointment = None
    if not form.is_valid():
        error = "That action was not understood. Nothing was changed."
    else:
        try:
            recorded = attendance_record(
                appointment_id=pk,
                actor=request.user,
                outcome=form.cleaned_data["outcome"],
                initiated_by=form.cleaned_data["initiated_by"],
                reason_code=form.cleaned_data["reason_code"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            # The row as committed, with the client, clinician and practice the service read
            # in its locking query: no second read for the row (issue 11, marks per second).
            appointment = recorded.appointment
    if appointment is None:
        appointment = get_appointment_for_user(request, pk)
    if request.htmx:
        return _row_response(request, appointment, error, show_date=request.POST.get("show_date") == "1")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Marked {appointment.get_status_display().lower()}.")
    return redirect(safe_next(request, reverse("appointments:today")))


@require_http_methods(["GET", "POST"])
@membership_required
def appointment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask who cancelled, then record it."""
    appointment = get_appointment_for_user(request, pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            recorded = attendance_record(
                appointment_id=appointment.pk,
                actor=request.user,
                outcome=services.Outcome.CANCELLED,
                initiated_by=form.cleaned_data["initiated_by"],
                reason_code=form.cleaned_data["reason_code"],
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            appointment = get_appointment_for_user(request, pk)
            note = (
                "Recorded as a late cancel: the client cancelled inside the policy's notice window."
                if recorded.appointment.status == Appointment.Status.LATE_CANCEL
                else ""
            )
            if request.htmx:
                return _row_response(request, appointment, note=note, show_date=request.POST.get("show_date") == "1")
            messages.success(request, note or "Session cancelled.")
            return redirect("appointments:today")
    template = "appointments/schedule.html#cancel-row" if request.htmx else "appointments/cancel.html"
    return render(
        request,
        template,
        {"appointment": appointment, "form": form, "show_date": request.GET.get("show_date") == "1"},
    )


@require_GET
@membership_required
def appointment_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One schedule row, for htmx to put back (the cancel form's 'Back')."""
    appointment = get_appointment_for_user(request, pk)
    return _row_response(request, appointment, show_date=request.GET.get("show_date") == "1")


@require_POST
@membership_required
def appointment_undo(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for_user(request, pk)
    error = note = ""
    try:
        outcome = attendance_undo(appointment_id=appointment.pk, actor=request.user)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        note = _undo_note(outcome)
    appointment = get_appointment_for_user(request, pk)
    if request.htmx:
        return _row_response(request, appointment, error, note=note, show_date=request.POST.get("show_date") == "1")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Undone. The session is scheduled again. {note}".strip())
    return redirect(safe_next(request, reverse("appointments:today")))


def _undo_note(outcome) -> str:
    """What the undo did to the follow-ups, truthfully: stopped, or already on its way."""
    stopped = "the follow-up was stopped" if outcome.stopped == 1 else "the follow-ups were stopped"
    if outcome.on_its_way:
        note = "The follow-up was already on its way to the client and could not be stopped."
        return f"{note} The later one will not be sent." if outcome.stopped else note
    if outcome.stopped:
        return f"Nothing had been sent to the client: {stopped}."
    return ""


def _open_times(request: HttpRequest, *, clinician_id: int, keep: dict, exclude_id: int | None = None) -> list:
    """The clinician's open times this week, each a link that fills the form in (date, time, length).

    `keep` is the rest of the query string the link carries (client, clinician).
    """
    try:
        first = date.fromisoformat(request.GET.get("date", "")[:10])
    except ValueError:
        first = None
    days = selectors.open_times_for_staff(
        membership=request.membership, clinician_id=clinician_id, exclude_id=exclude_id, first=first
    )
    result = []
    for day, day_slots in days.items():
        links = []
        for start, end in day_slots:
            query = {
                **keep,
                "date": day.isoformat(),
                "start_time": f"{start:%H:%M}",
                "duration": int((end - start).total_seconds() // 60),
            }
            links.append({"start": start, "end": end, "url": f"{request.path}?{urlencode(query)}"})
        if links:
            result.append((day, links))
    return result


def _prefill(request: HttpRequest, initial: dict) -> dict:
    """Date, time and length from an open-time link; the form validates them on submit."""
    for name in ("date", "start_time", "duration"):
        value = request.GET.get(name, "")[:10]
        if value:
            initial[name] = value
    return initial


def _clash_rows(membership, clashes: list) -> list[dict]:
    """Each clashing week for the page: the other session's client is named only to someone who may see them."""
    visible = set(
        Client.objects.for_membership(membership)
        .filter(pk__in={c.clashes_with.client_id for c in clashes})
        .values_list("pk", flat=True)
    )
    zone = selectors.practice_zone(membership)
    return [
        {
            "start": c.start.astimezone(zone),
            "end": c.end.astimezone(zone),
            "other_start": c.clashes_with.start.astimezone(zone),
            "other_end": c.clashes_with.end.astimezone(zone),
            "other_client": c.clashes_with.client if c.clashes_with.client_id in visible else None,
        }
        for c in clashes
    ]


@require_http_methods(["GET", "POST"])
@membership_required
def appointment_book(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    clients = selectors.clients_for(membership=membership)
    initial = {"weeks": 1, "duration": membership.practice.session_minutes}
    client_raw = request.GET.get("client", "")
    if client_raw.isdigit():
        initial["client"] = clients.filter(pk=int(client_raw)).first()
    clinicians = list(selectors.clinicians_for(membership))
    by_id = {c.pk: c for c in clinicians}
    clinician_raw = request.GET.get("clinician", "")
    slot_clinician = (
        (by_id.get(int(clinician_raw)) if clinician_raw.isdigit() else None)
        or by_id.get(membership.user_id)
        or (clinicians[0] if clinicians else None)
    )
    if slot_clinician is not None:
        initial["clinician"] = slot_clinician
    form = BookingForm(request.POST or None, membership=membership, clients=clients, initial=_prefill(request, initial))
    clashes = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booked = services.appointment_book(
                practice=membership.practice,
                client=data["client"],
                clinician=data["clinician"],
                start=data["start"],
                end=data["end"],
                session_type=data["session_type"],
                modality=data["modality"],
                weeks=data["weeks"],
                skip_clashes=request.POST.get("skip_clashes") == "1",
                actor=request.user,
            )
        except services.SeriesClashError as exc:
            clashes = _clash_rows(membership, exc.clashes)
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            n = len(booked)
            series = booked[0].series
            if series is not None and series.skipped:
                messages.warning(
                    request, f"Booked {n} of {series.weeks} weekly sessions; {len(series.skipped)} skipped."
                )
                return redirect(series)
            messages.success(request, f"Booked {n} session{'s' if n != 1 else ''}.")
            return redirect(data["client"].get_absolute_url())
    context = {
        "form": form,
        "clinicians": clinicians,
        "slot_clinician": slot_clinician,
        "client_id": client_raw if client_raw.isdigit() else "",
        "clashes": clashes,
        "free_weeks": (form.cleaned_data.get("weeks", 0) - len(clashes)) if clashes else 0,
    }
    if slot_clinician is not None:
        keep = {"clinician": slot_clinician.pk}
        if initial.get("client") is not None:
            keep["client"] = initial["client"].pk
        context["open_days"] = _open_times(request, clinician_id=slot_clinician.pk, keep=keep)
    return render(request, "appointments/book.html", context)


@require_http_methods(["GET", "POST"])
@membership_required
def appointment_correct(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a recorded outcome after the undo window, with a reason; then say what followed."""
    appointment = get_appointment_for_user(request, pk)
    correctable = appointment.status in services.CORRECTABLE.values()
    refusal = services.correction_allowed(appointment=appointment, membership=request.membership, now=timezone.now())
    if request.method == "POST" and (refusal or not correctable):
        raise PermissionDenied(refusal or "This session has no outcome to correct.")
    form = CorrectionForm(request.POST or None, current=appointment.status)
    if request.method == "POST" and form.is_valid():
        try:
            result = attendance_correct(
                appointment_id=appointment.pk,
                new_outcome=form.cleaned_data["outcome"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, f"Corrected to {result.appointment.get_status_display().lower()}.")
            for note in result.notes:
                messages.info(request, note)
            return redirect(appointment.client)
    return render(
        request,
        "appointments/correct.html",
        {"appointment": appointment, "form": form, "refusal": refusal, "correctable": correctable},
    )


@require_GET
@membership_required
def series_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A weekly series: the sessions booked, and each skipped week with a link to book it at another time."""
    series = get_series_for_user(request, pk)
    zone = selectors.practice_zone(request.membership)
    booked = list(series.appointments.order_by("start"))
    skipped = []
    for raw in series.skipped:
        start = datetime.fromisoformat(raw).astimezone(zone)
        query = {"client": series.client_id, "clinician": series.clinician_id, "date": start.date().isoformat()}
        if booked:
            query["duration"] = int(booked[0].duration.total_seconds() // 60)
        skipped.append({"start": start, "url": f"{reverse('appointments:appointment_book')}?{urlencode(query)}"})
    return render(request, "appointments/series.html", {"series": series, "booked": booked, "skipped": skipped})


@require_http_methods(["GET", "POST"])
@membership_required
def appointment_makeup(request: HttpRequest, pk: int) -> HttpResponse:
    """Book a make-up for a missed session, with the same clinician and session type."""
    missed = get_appointment_for_user(request, pk)
    if not missed.is_missed:
        messages.error(request, "A make-up can only be booked for a missed session.")
        return redirect(missed.client)
    initial = _prefill(request, {"duration": request.membership.practice.session_minutes})
    form = MoveForm(request.POST or None, membership=request.membership, initial=initial)
    form.helper.inputs[0].value = "Book make-up"
    if request.method == "POST" and form.is_valid():
        try:
            makeup_book(
                missed=missed,
                actor=request.user,
                clinician=missed.clinician,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                session_type=missed.session_type,
                modality=missed.modality,
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Make-up session booked.")
            return redirect(missed.client)
    open_days = _open_times(request, clinician_id=missed.clinician_id, keep={})
    return render(request, "appointments/makeup.html", {"form": form, "appointment": missed, "open_days": open_days})


@require_http_methods(["GET", "POST"])
@membership_required
def appointment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for_user(request, pk)
    zone = selectors.practice_zone(request.membership)
    local = appointment.start.astimezone(zone)
    initial = {
        "date": local.date(),
        "start_time": local.time().replace(second=0, microsecond=0),
        "duration": int(appointment.duration.total_seconds() // 60),
    }
    form = MoveForm(request.POST or None, membership=request.membership, initial=_prefill(request, initial))
    if request.method == "POST" and form.is_valid():
        try:
            session_move(
                appointment=appointment,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Session moved.")
            return redirect(appointment.client.get_absolute_url())
    context = {"form": form, "appointment": appointment}
    if appointment.status == Appointment.Status.SCHEDULED:
        context["open_days"] = _open_times(
            request, clinician_id=appointment.clinician_id, keep={}, exclude_id=appointment.pk
        )
    return render(request, "appointments/edit.html", context)


@require_GET
@membership_required
def client_list(request: HttpRequest) -> HttpResponse:
    # NUL cannot go into a PostgreSQL query; nothing typed in a search box needs it.
    search = request.GET.get("q", "").replace("\x00", "")[:100]
    include_archived = request.GET.get("archived") == "1"
    qs = selectors.clients_for(membership=request.membership, search=search, include_archived=include_archived)
    page = selectors.counted_page(qs, request.GET.get("page"), selectors.NEEDS_OUTCOME_PAGE_SIZE)
    if search:
        audit_access(request=request, action="clients.searched", changes={"results": page.paginator.count})
    template = "appointments/clients.html#results" if request.htmx else "appointments/clients.html"
    return render(request, template, {"page": page, "q": search, "archived": include_archived})


@require_http_methods(["GET", "POST"])
@membership_required
def client_create(request: HttpRequest) -> HttpResponse:
    form = ClientForm(request.POST or None, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.client_create(
                practice=request.membership.practice, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Client added.")
            return redirect(client)
    return render(request, "appointments/client_form.html", {"form": form, "client": None})


@require_http_methods(["GET", "POST"])
@membership_required
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_client_for_user(request, pk)
    form = ClientForm(request.POST or None, instance=client, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        # The form wrote its values onto the instance; hand the service a fresh copy.
        fresh = get_client_for_user(request, pk)
        try:
            services.client_update(client=fresh, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Client saved.")
            return redirect(fresh)
    return render(request, "appointments/client_form.html", {"form": form, "client": client})


@require_GET
@membership_required
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_client_for_user(request, pk, related=("clinician",))
    audit_access(request=request, action="client.viewed", obj=client)
    # Only its number shows here: no per-session-type overrides to fetch.
    policy = policy_selectors.policy_current(membership=request.membership, overrides=False)
    # One count of the client's sessions serves the summary, the engagement rates and the pager.
    summary = selectors.client_attendance(client=client)
    history = selectors.client_history_page(
        client=client, number=request.GET.get("page"), per_page=CLIENT_HISTORY_PAGE, count=summary.total
    )
    membership = request.membership
    # The reads of sections with no rows at all are skipped (one query says which have any).
    has = engagement_selectors.client_sections(client=client)
    strip = engagement_selectors.engagement_strip(client=client, misses=has.misses)
    notes = engagement_selectors.client_notes(membership=membership, client=client) if has.notes else []
    if notes:
        # Private notes are health data: who read which is on file.
        audit_access(
            request=request,
            action="reflection_notes.viewed",
            client_id=client.pk,
            changes={"notes": [n.pk for n in notes]},
        )
    # Bounded (issue 11): the latest of each; the Fees page and the message log have them all.
    # Each section's SQL is compiled once per process (practice/sqlonce.py): compiling a dozen
    # querysets cost more than the database's work for them.
    fees = policy_selectors.client_fees_latest(client=client, limit=CLIENT_SECTION_CAP) if has.fees else []
    followups = []
    if has.followups:
        followups = followup_selectors.client_messages_latest(client=client, limit=CLIENT_SECTION_CAP)
    reasons = followup_selectors.client_reasons_latest(client=client, limit=CLIENT_SECTION_CAP) if has.reasons else []
    note_form = None
    if membership.is_admin or membership.is_clinician:
        misses = engagement_selectors.misses_for_notes_list(client=client) if has.misses else []
        note_form = ReflectionNoteForm(misses=misses)
    return render(
        request,
        "appointments/client_detail.html",
        {
            "client": client,
            "history": history,
            "summary": summary,
            "fees": fees,
            "section_cap": CLIENT_SECTION_CAP,
            "policy": policy,
            "acknowledgement": policy_selectors.client_acknowledgement(client=client, version=policy),
            "followups": followups,
            "reasons": reasons,
            "strip": strip,
            "engagement": engagement_selectors.engagement_rates(client=client, strip=strip, summary=summary),
            "notes": notes,
            "replies": engagement_selectors.client_replies(client=client),
            "replies_shown": engagement_selectors.REPLIES_SHOWN,
            "note_form": note_form,
            "checkins": engagement_selectors.client_checkins(membership=membership, client=client)
            if has.checkins
            else [],
        },
    )


def _availability_clinician(request: HttpRequest):
    """The clinician whose availability the page is about, and the choices to show.

    A clinician gets their own; admins and front desk pick anyone of the
    practice (themselves, or the first, by default). A `?clinician=` outside
    what the member may see is ignored with a message on a GET, and is a 404
    on a POST: a change must never land on someone else than was asked.
    """
    membership = request.membership
    clinicians = list(selectors.clinicians_for(membership))
    by_id = {c.pk: c for c in clinicians}
    raw = request.GET.get("clinician", "")
    if raw:
        if raw.isdigit() and int(raw) in by_id:
            return by_id[int(raw)], clinicians
        if request.method == "POST":
            raise Http404("No such clinician in this practice.")
        messages.warning(request, "That clinician is not one whose availability you can see here.")
    default = by_id.get(membership.user_id) or (clinicians[0] if clinicians else None)
    return default, clinicians


def _can_edit_availability(membership, clinician_id: int) -> bool:
    # Front desk sees every clinician's windows but changes none.
    return membership.is_admin or clinician_id == membership.user_id


def _availability_url(clinician_id: int) -> str:
    return f"{reverse('appointments:availability')}?clinician={clinician_id}"


@require_http_methods(["GET", "POST"])
@membership_required
def availability(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    clinician, clinicians = _availability_clinician(request)
    can_edit = clinician is not None and _can_edit_availability(membership, clinician.pk)
    form = AvailabilityForm(request.POST or None, practice=membership.practice)
    if request.method == "POST":
        if clinician is None:
            raise Http404("This practice has no clinicians.")
        if not can_edit:
            raise PermissionDenied("Only the clinician or a practice admin can change availability.")
        if form.is_valid():
            try:
                services.availability_add(
                    practice=membership.practice, clinician=clinician, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, "Window added.")
                return redirect(_availability_url(clinician.pk))
    context = {
        "clinician": clinician,
        "clinicians": clinicians,
        "can_edit": can_edit,
        "form": form,
        "lead_hours": int(selectors.BOOKING_LEAD.total_seconds() // 3600),
    }
    if clinician is not None:
        zone = selectors.practice_zone(membership)
        found = selectors.open_slots_for(clinician_id=clinician.pk, practice=membership.practice)
        context["windows"] = selectors.availability_for(membership=membership, clinician_id=clinician.pk)
        context["preview"] = slots.by_local_date(found, zone=zone, start=selectors.local_today(membership), days=14)
    return render(request, "appointments/availability.html", context)


@require_POST
@membership_required
def availability_remove(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(Availability.objects.for_membership(request.membership), pk=pk)
    if not _can_edit_availability(request.membership, window.clinician_id):
        raise PermissionDenied("Only the clinician or a practice admin can change availability.")
    services.availability_remove(availability=window, actor=request.user)
    messages.success(request, "Window removed.")
    return redirect(_availability_url(window.clinician_id))
