"""Schedule rows (Today, Week, Needs outcome, htmx swaps) as flat row views, rendered through the row cache.

`templates/appointments/schedule.html#row` reads only `row`, a `ScheduleRow`:
every value it shows is here, already worked out in Python (local times as
text in the practice's zone, the viewer's rights, whether the session has
started, whether the outcome can still be undone, every URL). So the row view
is the whole input of the row's HTML and, with the template, its cache key
(practice/rowcache.py): a session marked, moved, renamed or seen by someone
with other rights, or a minute that starts a session or ends the undo window,
is a different row view.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from practice import rowcache
from practice.models import Membership
from practice.templatetags.localdates import local
from practice.urlcache import reverse_pk

from .models import Appointment

TEMPLATE = "appointments/schedule.html#row"

# Labels by value, looked up once: Model.get_FOO_display() rebuilds a dict of the choices on every call.
_STATUS = dict(Appointment.Status.choices)
_SESSION_TYPE = dict(Appointment.SessionType.choices)
_MODALITY = dict(Appointment.Modality.choices)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """Everything one schedule row shows, and nothing else (hashable: it is the cache key)."""

    pk: int
    status: str
    status_display: str
    is_missed: bool
    # Local date and times in the practice's zone, as shown.
    date_label: str  # "Mon 6 Jul", only shown with show_date
    start_time: str
    end_time: str
    client_name: str
    client_url: str
    client_needs_safety_check: bool
    clinician_name: str  # "" unless the viewer sees the whole practice
    session_type_display: str
    modality_display: str
    confirmed: bool
    client_response: str
    # Actions: which buttons show, and where they go.
    has_started: bool
    can_undo: bool
    undo_until: str  # "14:05" local, "" unless can_undo
    may_correct: bool
    outcome_url: str
    cancel_url: str
    edit_url: str
    undo_url: str
    correct_url: str
    # The page and the viewer.
    show_date: bool
    sees_whole_practice: bool
    time_zone: str
    language: str
    # One-off messages of an htmx swap; a row with either is rendered uncached.
    error: str = ""
    note: str = ""

    @property
    def cacheable(self) -> bool:
        return not (self.error or self.note)


def schedule_row(
    appointment: Appointment,
    *,
    membership: Membership,
    now: datetime,
    show_date: bool,
    zone: ZoneInfo | None = None,
) -> ScheduleRow:
    """The row view of one appointment for this member at `now`.

    Fields a row does not show in its state are left at their defaults (an
    attended session's `has_started`, a scheduled one's undo time), so that a
    row's key changes only when what it shows does.
    """
    practice = membership.practice
    zone = zone or ZoneInfo(str(practice.time_zone))
    start = appointment.start.astimezone(zone)
    status = appointment.status
    scheduled = status == Appointment.Status.SCHEDULED
    is_missed = status in Appointment.MISSED_STATUSES
    # Appointment.undo_until, with the practice the membership already holds (no join to it).
    undo_until = None
    if not scheduled and status != Appointment.Status.RESCHEDULED and appointment.status_changed_at is not None:
        undo_until = appointment.status_changed_at + timedelta(minutes=practice.undo_window_minutes)
    can_undo = undo_until is not None and now <= undo_until
    may_correct = (
        not scheduled
        and not can_undo
        and (status == Appointment.Status.ATTENDED or is_missed)
        and (membership.is_admin or appointment.clinician_id == membership.user_id)
    )
    clinician = appointment.clinician
    client = appointment.client
    pk = appointment.pk
    return ScheduleRow(
        pk=pk,
        status=status,
        status_display=rowcache.label(_STATUS, status),
        is_missed=is_missed,
        date_label=local(start, "D j M") if show_date else "",  # `start` is in the practice's zone
        start_time=f"{start:%H:%M}",
        end_time=f"{appointment.end.astimezone(zone):%H:%M}",
        client_name=client.full_name,
        client_url=reverse_pk("appointments:client_detail", client.pk),
        client_needs_safety_check=client.needs_safety_check,
        clinician_name=(clinician.get_full_name() or clinician.username) if membership.sees_whole_practice else "",
        session_type_display=rowcache.label(_SESSION_TYPE, appointment.session_type),
        modality_display=rowcache.label(_MODALITY, appointment.modality),
        confirmed=scheduled and appointment.confirmed_at is not None,
        client_response=appointment.client_response,
        has_started=scheduled and appointment.start <= now,
        can_undo=can_undo,
        undo_until=f"{undo_until.astimezone(zone):%H:%M}" if can_undo else "",
        may_correct=may_correct,
        outcome_url=reverse_pk("appointments:appointment_outcome", pk) if scheduled else "",
        cancel_url=reverse_pk("appointments:appointment_cancel", pk) if scheduled else "",
        edit_url=reverse_pk("appointments:appointment_edit", pk) if scheduled else "",
        undo_url=reverse_pk("appointments:appointment_undo", pk) if can_undo else "",
        correct_url=reverse_pk("appointments:appointment_correct", pk) if may_correct else "",
        show_date=show_date,
        sees_whole_practice=membership.sees_whole_practice,
        time_zone=str(zone),
        language=get_language() or "",
    )


def schedule_rows(
    appointments, *, membership: Membership, show_date: bool, now: datetime | None = None
) -> list[ScheduleRow]:
    """Row views for a list of appointments, all at the same `now`."""
    now = now or timezone.now()
    zone = ZoneInfo(str(membership.practice.time_zone))
    return [
        schedule_row(appointment, membership=membership, now=now, show_date=show_date, zone=zone)
        for appointment in appointments
    ]


def render(rows: list[ScheduleRow]) -> SafeString:
    """The rows' HTML; rows with a one-off message are rendered afresh."""
    if all(row.cacheable for row in rows):
        return rowcache.render_rows(TEMPLATE, rows)
    return SafeString("".join(rowcache.render_row(TEMPLATE, row, cache=row.cacheable) for row in rows))


def with_message(row: ScheduleRow, *, error: str = "", note: str = "") -> ScheduleRow:
    return replace(row, error=error, note=note)


# The client page's attendance table (issue 11): the same pattern, its own partial.
HISTORY_TEMPLATE = "appointments/_history_row.html"


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """Everything one row of a client's attendance table shows (hashable: it is the cache key)."""

    start: str  # "D j M Y H:i", local
    start_short: str  # "j M", local (the Correct link's label)
    clinician_name: str
    session_type_display: str
    modality_display: str
    status: str
    status_display: str
    initiated_by_display: str  # lower case, "" when nobody is recorded
    is_missed: bool
    move_url: str  # a scheduled session's
    makeup_url: str  # a missed session's
    correct_url: str  # "" unless the viewer may correct the outcome
    time_zone: str
    language: str


_INITIATED_BY = dict(Appointment.Initiator.choices)


def history_rows(sessions, *, membership: Membership) -> list[HistoryRow]:
    """The row views of a page of the attendance table (SessionFacts) for this viewer."""
    zone = str(membership.practice.time_zone)
    language = get_language() or ""
    urls = (get_urlconf(), get_script_prefix())  # what reverse_pk's answers depend on
    return [_history_row(s, membership.is_admin, membership.user_id, zone, language, urls) for s in sessions]


@lru_cache(maxsize=4096)
def _history_row(session, is_admin: bool, user_id: int, zone: str, language: str, urls: tuple) -> HistoryRow:
    """One row view: a function of its arguments alone (labels in `language`, URLs under `urls`' URLconf and prefix),
    so a process builds each once (building 50 a page was a tenth of the client page, issue 11)."""
    start = session.start.astimezone(ZoneInfo(zone))
    status = session.status
    is_missed = status in Appointment.MISSED_STATUSES
    may_correct = (status == Appointment.Status.ATTENDED or is_missed) and (is_admin or session.clinician_id == user_id)
    pk = session.pk
    initiated_by = session.initiated_by
    name = f"{session.clinician_first_name} {session.clinician_last_name}".strip()  # User.get_full_name
    return HistoryRow(
        start=local(start, "D j M Y H:i"),
        start_short=local(start, "j M") if may_correct else "",
        clinician_name=name or session.clinician_username,
        session_type_display=rowcache.label(_SESSION_TYPE, session.session_type),
        modality_display=rowcache.label(_MODALITY, session.modality),
        status=status,
        status_display=rowcache.label(_STATUS, status),
        initiated_by_display=rowcache.label(_INITIATED_BY, initiated_by).lower() if initiated_by else "",
        is_missed=is_missed,
        move_url=reverse_pk("appointments:appointment_edit", pk) if status == Appointment.Status.SCHEDULED else "",
        makeup_url=reverse_pk("appointments:appointment_makeup", pk) if is_missed else "",
        correct_url=reverse_pk("appointments:appointment_correct", pk) if may_correct else "",
        time_zone=zone,
        language=language,
    )


def render_history(sessions, *, membership: Membership) -> SafeString:
    """The attendance table's rows (SessionFacts), each from the row cache when seen before."""
    return rowcache.render_rows(HISTORY_TEMPLATE, history_rows(sessions, membership=membership))
