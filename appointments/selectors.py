"""Reads for the schedule and client pages. Every one is scoped to a membership."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Window
from django.utils import timezone

from practice import sqlonce
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


# What a schedule row shows (appointments.rows.schedule_row), and only that: the practice
# comes from the membership, so it is not joined, and the wide client and user rows are not read whole.
ROW_FIELDS = (
    "start",
    "end",
    "status",
    "session_type",
    "modality",
    "confirmed_at",
    "client_response",
    "status_changed_at",
    "client__first_name",
    "client__last_name",
    "client__needs_safety_check",
    "clinician__first_name",
    "clinician__last_name",
    "clinician__username",
)


def schedule_appointments(membership: Membership) -> QuerySet:
    """The member's appointments with what their schedule rows show."""
    return Appointment.objects.for_membership(membership).select_related("client", "clinician").only(*ROW_FIELDS)


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
    qs = schedule_appointments(membership).filter(start__gte=start, start__lt=end)
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


def counted_page(queryset: QuerySet, number, per_page: int, *, window: bool = False) -> Page:
    """`Paginator(queryset, per_page).get_page(number)`, usually without the separate COUNT.

    1. The page's rows are read first. A page that is not full is the last one,
       so the total is its offset plus its rows (a first page with none: 0).
    2. With `window=True` the total comes with the rows (`COUNT(*) OVER ()`,
       computed before LIMIT), so even a full page takes one query. Only for
       lists that are bounded anyway (a day's sessions): the window makes
       PostgreSQL read and join every matching row, where LIMIT may stop early.
    3. Otherwise a full page asks the paginator's COUNT; a page past the end or a
       number below 1 (get_page shows the last page for both) is get_page's own answer.
    """
    paginator = Paginator(queryset, per_page)
    try:
        wanted = int(number)
    except (TypeError, ValueError):
        wanted = 1  # as get_page: not a whole number, the first page
    if wanted < 1:
        return paginator.get_page(number)
    offset = (wanted - 1) * per_page
    if window:
        queryset = queryset.annotate(page_total=Window(Count("*")))
    rows = list(queryset[offset : offset + per_page])
    if rows and window:
        total = rows[0].page_total
    elif len(rows) < per_page and (rows or wanted == 1):
        total = offset + len(rows)
    elif rows:
        total = paginator.count
    else:
        return paginator.get_page(number)
    paginator.count = total  # what the paginator's COUNT(*) says (a cached_property, set here)
    return Page(rows, wanted, paginator)


# Needs outcome shows this many sessions a page.
NEEDS_OUTCOME_PAGE_SIZE = 50


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
    qs = schedule_appointments(membership).filter(status=Appointment.Status.SCHEDULED, start__lt=timezone.now())
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
    # For the client page's other sections, from the same query (issue 11): every session
    # (the history's pager), and those cancelled in time (the engagement rates).
    total: int = 0
    cancelled_in_time: int = 0


def client_attendance(*, client: Client) -> AttendanceSummary:
    """Counts of the client's sessions by outcome, in one query (its SQL compiled once, practice/sqlonce.py)."""
    found = sqlonce.rows(_attendance_query, client_id=client.pk, now=timezone.now())
    if not found:
        return AttendanceSummary(0, 0, 0, 0, 0)
    return AttendanceSummary(*found[0])


def _attendance_query(*, client_id: int, now: datetime) -> QuerySet:
    """client_attendance's counts, as one row (grouped by the client: no sessions, no row)."""
    S = Appointment.Status
    return (
        Appointment.objects.filter(client_id=client_id)
        .order_by()
        .values("client_id")
        .annotate(
            attended=Count("pk", filter=Q(status=S.ATTENDED)),
            no_show=Count("pk", filter=Q(status=S.NO_SHOW)),
            late_cancel=Count("pk", filter=Q(status=S.LATE_CANCEL)),
            cancelled=Count("pk", filter=Q(status__in=[S.CANCELLED_IN_TIME, S.CANCELLED_BY_CLINICIAN, S.RESCHEDULED])),
            upcoming=Count("pk", filter=Q(status=S.SCHEDULED, start__gte=now)),
            total=Count("pk"),
            cancelled_in_time=Count("pk", filter=Q(status=S.CANCELLED_IN_TIME)),
        )
        .values_list("attended", "no_show", "late_cancel", "cancelled", "upcoming", "total", "cancelled_in_time")
    )


class SessionFacts(NamedTuple):
    """What a row of the client page's attendance table shows of one session, read as values."""

    pk: int
    start: datetime
    status: str
    session_type: str
    modality: str
    initiated_by: str
    clinician_id: int
    clinician_first_name: str
    clinician_last_name: str
    clinician_username: str


def client_history_page(*, client: Client, number, per_page: int, count: int) -> Page:
    """One page of the client's sessions (`_history_query`) as SessionFacts, as
    `Paginator(...).get_page(number)` pages it, told its `count` (read with the attendance counts):
    one query, its SQL compiled once (practice/sqlonce.py), values rather than instances (building
    100 models was a tenth of the page)."""
    paginator = Paginator(range(count), per_page)  # a range: counted, not queried
    number = paginator.get_page(number).number  # get_page's answer to "abc", 0, 999
    found = sqlonce.rows(_history_values_query, client_id=client.pk, limit=per_page, offset=(number - 1) * per_page)
    return Page([SessionFacts(*row) for row in found], number, paginator)


def _history_values_query(*, client_id: int) -> QuerySet:
    return _history_query(client_id=client_id).values_list(*SessionFacts._fields[:7], *_CLINICIAN_NAME)


_CLINICIAN_NAME = ("clinician__first_name", "clinician__last_name", "clinician__username")


def _history_query(*, client_id: int) -> QuerySet:
    return (
        Appointment.objects.filter(client_id=client_id)
        .select_related("clinician")
        .only(
            "client",
            "start",
            "status",
            "session_type",
            "modality",
            "initiated_by",
            "clinician__username",
            "clinician__first_name",
            "clinician__last_name",
        )
        .order_by("-start", "-id")
    )


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
    _first, range_end = _open_range(practice=practice, now=now, days=days)
    # Sessions over before now cannot clash with a slot that starts after it.
    holding = Appointment.objects.holding_time().filter(clinician_id=clinician_id, start__lt=range_end, end__gt=now)
    if exclude_id is not None:
        holding = holding.exclude(pk=exclude_id)
    busy = list(holding.values_list("start", "end"))
    return open_slots_from(windows=windows, busy=busy, practice=practice, now=now, days=days, lead=lead)


def _open_range(*, practice: Practice, now: datetime, days: int) -> tuple[date, datetime]:
    """The first local date offered and the UTC instant of the local midnight `days` later."""
    tz = zoneinfo.ZoneInfo(str(practice.time_zone))
    first = now.astimezone(tz).date()
    return first, datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz)


def open_slots_from(
    *,
    windows: list[slots.Window],
    busy: list[tuple[datetime, datetime]],
    practice: Practice,
    now: datetime,
    days: int = 14,
    lead: timedelta = BOOKING_LEAD,
) -> list[tuple[datetime, datetime]]:
    """`open_slots_for` from windows and booked sessions already read (the rebooking page reads
    them in its one statement, aftercare.selectors.rebook_page_read). Sessions that start at or
    after the range's last local midnight are left out, as `open_slots_for`'s query leaves them."""
    if not windows:
        return []
    first, range_end = _open_range(practice=practice, now=now, days=days)
    busy = [(start, end) for start, end in busy if start < range_end and end > now]
    tz = zoneinfo.ZoneInfo(str(practice.time_zone))
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
