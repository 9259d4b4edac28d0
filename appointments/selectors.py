"""Reads for the schedule and client pages. Every one is scoped to a membership."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from practice.models import Membership, Practice

from . import slots
from .models import Appointment, Availability, Client

User = get_user_model()


# Clients may not book a slot that starts sooner than this.
BOOKING_LEAD = timedelta(hours=12)


def practice_zone(membership: Membership) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(str(membership.practice.time_zone))


def local_today(membership: Membership) -> date:
    return timezone.now().astimezone(practice_zone(membership)).date()


def day_bounds(membership: Membership, first: date, days: int = 1) -> tuple[datetime, datetime]:
    """UTC instants that bound `days` local days from `first` in the practice's zone."""
    tz = practice_zone(membership)
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz)
    return start, end


def clinicians_for(membership: Membership) -> QuerySet:
    """Clinicians whose schedules this member may see."""
    qs = User.objects.filter(
        membership__practice_id=membership.practice_id,
        membership__is_clinician=True,
        membership__is_active=True,
    ).order_by("last_name", "first_name", "username")
    if not membership.sees_whole_practice:
        qs = qs.filter(pk=membership.user_id)
    return qs


def appointments_for(membership: Membership) -> QuerySet:
    return Appointment.objects.for_membership(membership).select_related("client", "clinician", "practice")


def schedule(
    *,
    membership: Membership,
    first: date,
    days: int = 1,
    clinician_id: int | None = None,
    clinician_ids: list[int] | None = None,
) -> QuerySet:
    """Appointments in a run of local days, with what each row shows, in a fixed number of queries."""
    start, end = day_bounds(membership, first, days)
    qs = appointments_for(membership).filter(start__gte=start, start__lt=end)
    if clinician_id is not None:
        qs = qs.filter(clinician_id=clinician_id)
    if clinician_ids is not None:
        qs = qs.filter(clinician_id__in=clinician_ids)
    return qs.order_by("start", "clinician__last_name", "id")


# Bounded lists (issue 11): the most rows one page of Today or Week shows. A session
# row is about 1.3 KB of HTML, so a page stays well under 200 KB whatever the
# practice's size; a front desk of a big practice pages on or picks a clinician.
TODAY_PAGE_SIZE = 50
WEEK_PAGE_ROWS = 120


def schedule_clinician_pages(
    *, membership: Membership, first: date, days: int, clinicians: list, cap: int = WEEK_PAGE_ROWS
) -> list[list[int]]:
    """Clinician ids grouped into pages of at most `cap` sessions in the window, in one query.

    Each clinician's sessions stay on one page, so a page shows whole weeks.
    Clinicians follow the order of `clinicians` (the filter's order); anyone
    else with sessions in the window (a clinician who has left) comes last.
    A clinician with more than `cap` sessions gets a page alone, which the
    caller caps (`schedule(...)[:cap]`).
    """
    start, end = day_bounds(membership, first, days)
    counts = dict(
        Appointment.objects.for_membership(membership)
        .filter(start__gte=start, start__lt=end)
        .values_list("clinician_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    known = [c.pk for c in clinicians]
    order = [pk for pk in known if pk in counts] + sorted(set(counts) - set(known))
    pages: list[list[int]] = []
    rows = 0
    for pk in order:
        if not pages or rows + counts[pk] > cap:
            pages.append([])
            rows = 0
        pages[-1].append(pk)
        rows += counts[pk]
    return pages


def needs_outcome(*, membership: Membership, clinician_id: int | None = None) -> QuerySet:
    """Past sessions still marked scheduled (partial index appt_awaiting_outcome_idx)."""
    qs = appointments_for(membership).filter(status=Appointment.Status.SCHEDULED, start__lt=timezone.now())
    if clinician_id is not None:
        qs = qs.filter(clinician_id=clinician_id)
    return qs.order_by("-start", "id")


def clients_for(*, membership: Membership, search: str = "", include_archived: bool = False) -> QuerySet:
    qs = Client.objects.for_membership(membership).select_related("clinician")
    if not include_archived:
        qs = qs.filter(is_archived=False)
    for word in search.split()[:5]:
        qs = qs.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(phone__icontains=word)
        )
    return qs.order_by("last_name", "first_name", "id")


@dataclass(frozen=True)
class AttendanceSummary:
    attended: int
    no_show: int
    late_cancel: int
    cancelled: int
    upcoming: int


def client_attendance(*, client: Client) -> AttendanceSummary:
    S = Appointment.Status
    counts = client.appointments.aggregate(
        attended=Count("pk", filter=Q(status=S.ATTENDED)),
        no_show=Count("pk", filter=Q(status=S.NO_SHOW)),
        late_cancel=Count("pk", filter=Q(status=S.LATE_CANCEL)),
        cancelled=Count("pk", filter=Q(status__in=[S.CANCELLED_IN_TIME, S.CANCELLED_BY_CLINICIAN, S.RESCHEDULED])),
        upcoming=Count("pk", filter=Q(status=S.SCHEDULED, start__gte=timezone.now())),
    )
    return AttendanceSummary(**counts)


def client_history(*, client: Client) -> QuerySet:
    return client.appointments.select_related("clinician", "practice").order_by("-start", "-id")


def availability_for(*, membership: Membership, clinician_id: int) -> QuerySet:
    """One clinician's weekly windows, as far as this member may see them."""
    return (
        Availability.objects.for_membership(membership)
        .filter(clinician_id=clinician_id)
        .select_related("practice")  # each row shows its effective values, with the practice's defaults
        .order_by("weekday", "start_time", "id")
    )


def open_slots_for(
    *,
    clinician_id: int,
    practice: Practice,
    days: int = 14,
    now: datetime | None = None,
    lead: timedelta = BOOKING_LEAD,
    exclude_id: int | None = None,
) -> list[tuple[datetime, datetime]]:
    """The clinician's open slots from today for `days` local days, as (start, end) in UTC.

    Two queries, however many windows and appointments: the windows, then
    the appointments that hold the clinician's time in the range. A
    clinician who is no longer an active member of the practice has none.
    Staff pages pass `lead=timedelta(0)` (they may book today), and the move
    form `exclude_id`, so a session does not block its own new time.
    """
    now = now or timezone.now()
    tz = zoneinfo.ZoneInfo(str(practice.time_zone))
    first = now.astimezone(tz).date()
    windows = [
        slots.Window(window.weekday, window.start_time, window.end_time, *window.effective(practice))
        for window in Availability.objects.filter(
            practice=practice,
            clinician_id=clinician_id,
            clinician__membership__practice=practice,
            clinician__membership__is_active=True,
        ).only("weekday", "start_time", "end_time", "session_minutes", "buffer_minutes", "grid_minutes")
    ]
    if not windows:
        return []
    range_end = datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz)
    # Sessions over before now cannot clash with a slot that starts after it.
    holding = Appointment.objects.holding_time().filter(clinician_id=clinician_id, start__lt=range_end, end__gt=now)
    if exclude_id is not None:
        holding = holding.exclude(pk=exclude_id)
    busy = list(holding.values_list("start", "end"))
    return slots.open_slots(windows=windows, busy=busy, zone=tz, start=first, days=days, now=now, lead=lead)


# Staff pages list open times from now on, over one week.
STAFF_OPEN_DAYS = 7


# How far ahead a "book this week at another time" link may ask for open times.
STAFF_OPEN_MAX_AHEAD = timedelta(days=371)


def open_times_for_staff(
    *, membership: Membership, clinician_id: int, exclude_id: int | None = None, first: date | None = None
) -> dict[date, list[tuple[datetime, datetime]]]:
    """The clinician's open times over a week from `first` (today by default), by local date.

    For the booking and move forms. A `first` in the past or too far ahead is read as today.
    """
    today = local_today(membership)
    if first is None or first < today or first - today > STAFF_OPEN_MAX_AHEAD:
        first = today
    ahead = (first - today).days
    found = open_slots_for(
        clinician_id=clinician_id,
        practice=membership.practice,
        days=ahead + STAFF_OPEN_DAYS,
        lead=timedelta(0),
        exclude_id=exclude_id,
    )
    return slots.by_local_date(found, zone=practice_zone(membership), start=first, days=STAFF_OPEN_DAYS)
