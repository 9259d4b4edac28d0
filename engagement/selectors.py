"""Reads for a client's engagement and the ladder's tasks. Bounded; counted in the database."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from appointments.models import Appointment, Client, NoShowEvent
from followups.models import MissReason, OutboxMessage
from policies.models import Acknowledgement, FeeAssessment
from practice import sqlonce
from practice.models import AuditEvent, Membership
from waitlist.models import WaitlistOffer

from .models import CheckInTask, ReflectionNote

S = Appointment.Status

# The four outcomes the strip and the rates count. Sessions the clinician
# cancelled, moved ones and those still to come are not the client's doing.
COUNTED = (S.ATTENDED, S.CANCELLED_IN_TIME, S.LATE_CANCEL, S.NO_SHOW)
MISSED = (S.NO_SHOW, S.LATE_CANCEL)
STRIP_LENGTH = 20
# Under this many sessions a rate says more about chance than about the client.
TOO_FEW = 5
TODAY_TASKS = 20
NOTES_SHOWN = 20


def engagement_strip(*, client: Client, misses: bool = True) -> list[Appointment]:
    """The client's last 20 counted sessions, newest first, each with what followed a miss. One query.

    Annotated: `followups_sent` (follow-ups that reached the client),
    `reason` / `reason_text` (what the client said got in the way), `rebooked`
    (a make-up or rebooking came from it). The client's reasons are read
    through the live missed session, as the client page does; when
    MissReason gains a link to the appointment itself (the "resp" package),
    read it through that link here.

    `misses=False` (client_sections found no missed session of the client's, live or undone): the
    four annotations about a miss are what they are without one (None, 0, None, None), set here
    instead of read; PostgreSQL spent half of the page's strip query on them (issue 11).
    """
    # Its SQL is compiled once per process (practice/sqlonce.py): compiling cost more than running it.
    rows = sqlonce.objects(_strip_query, misses, client_id=client.pk)
    labels = dict(MissReason.Reason.choices)
    for row in rows:
        if not misses:
            row.miss_id, row.followups_sent, row.reason, row.reason_text = None, 0, None, None
        row.reason_label = labels.get(row.reason or "", "")
    return rows


def _strip_query(misses: bool, *, client_id: int) -> QuerySet:
    """engagement_strip's query, for one client (without what followed a miss when it has none)."""
    counted = Appointment.objects.filter(client_id=client_id, status__in=COUNTED)
    rebooked = Exists(Appointment.objects.filter(rescheduled_from=OuterRef("pk")))
    if not misses:
        return counted.annotate(rebooked=rebooked).order_by("-start", "-id")[:STRIP_LENGTH]
    live_miss = NoShowEvent.objects.filter(appointment=OuterRef("pk"), undone_at=None)
    reason = MissReason.objects.filter(missed_session__appointment=OuterRef("pk"), missed_session__undone_at=None)
    sent = (
        OutboxMessage.objects.filter(
            missed_session__appointment=OuterRef("pk"),
            missed_session__undone_at=None,
            purpose=OutboxMessage.Purpose.FOLLOWUP,
            status=OutboxMessage.Status.SENT,
        )
        .order_by()
        .values("missed_session__appointment")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return counted.annotate(
        miss_id=Subquery(live_miss.values("pk")[:1]),
        followups_sent=Coalesce(Subquery(sent, output_field=IntegerField()), 0),
        reason=Subquery(reason.values("reason")[:1]),
        reason_text=Subquery(reason.values("text")[:1]),
        rebooked=rebooked,
    ).order_by("-start", "-id")[:STRIP_LENGTH]


@dataclass(frozen=True)
class Rate:
    """`part` of `whole` sessions; `percent` is None when the group is too small to tell."""

    label: str
    part: int
    whole: int

    @property
    def too_few(self) -> bool:
        return self.whole < TOO_FEW

    @property
    def percent(self) -> int | None:
        if self.too_few:
            return None
        return round(100 * self.part / self.whole)

    @property
    def text(self) -> str:
        figure = f"{self.part} of {self.whole} session{'' if self.whole == 1 else 's'}"
        if self.too_few:
            return f"{figure}: too few to tell"
        return f"{figure} ({self.percent}%)"


@dataclass(frozen=True)
class Engagement:
    total: int
    rates: list[Rate]
    longest_run: int  # consecutive misses within the strip
    strip_length: int


def engagement_rates(*, client: Client, strip: list[Appointment], summary=None) -> Engagement:
    """Rates over the client's whole history, each with its denominator.

    From `summary` (appointments.selectors.client_attendance, which the client
    page reads anyway) when given, else one aggregate query. The longest run of
    misses is counted within the strip (the last 20), so the figure stays
    bounded; the page says so.
    """
    if summary is not None:
        counts = {
            "attended": summary.attended,
            "in_time": summary.cancelled_in_time,
            "late": summary.late_cancel,
            "no_show": summary.no_show,
        }
        counts["total"] = sum(counts.values())
    else:
        counts = client.appointments.filter(status__in=COUNTED).aggregate(
            total=Count("pk"),
            attended=Count("pk", filter=Q(status=S.ATTENDED)),
            in_time=Count("pk", filter=Q(status=S.CANCELLED_IN_TIME)),
            late=Count("pk", filter=Q(status=S.LATE_CANCEL)),
            no_show=Count("pk", filter=Q(status=S.NO_SHOW)),
        )
    total = counts["total"]
    rates = [
        Rate("Attended", counts["attended"], total),
        Rate("Cancelled in time", counts["in_time"], total),
        Rate("Late cancel", counts["late"], total),
        Rate("No-show", counts["no_show"], total),
        Rate("Missed (no-show or late cancel)", counts["late"] + counts["no_show"], total),
    ]
    return Engagement(total=total, rates=rates, longest_run=longest_run(strip), strip_length=len(strip))


def longest_run(sessions: list[Appointment]) -> int:
    """The most misses in a row, in the order the sessions happened."""
    best = run = 0
    for appointment in sorted(sessions, key=lambda a: (a.start, a.pk)):
        run = run + 1 if appointment.status in MISSED else 0
        best = max(best, run)
    return best


def reflection_notes_for(*, membership: Membership, client: Client) -> QuerySet:
    """The notes on this client this member may read (their own; admins all), newest first, bounded."""
    return (
        ReflectionNote.objects.for_membership(membership)
        .filter(client=client)
        .select_related("author", "missed_session__appointment")
        .order_by("-created_at", "-id")[:NOTES_SHOWN]
    )


def _as_member(role: str, *, practice_id: int, user_id: int) -> Membership:
    """A membership with only what `for_membership` reads, for queries built in sqlonce's sentinels."""
    return Membership.scoped(practice_id=practice_id, user_id=user_id, whole_practice=role == Membership.Role.ADMIN)


def _scope(membership: Membership) -> tuple[str | None, dict]:
    """A member's scope as sqlonce's shape (a role, or None when they read none) and values."""
    if membership.is_admin:
        return Membership.Role.ADMIN.value, {"practice_id": membership.practice_id, "user_id": membership.user_id}
    if membership.is_clinician:
        return Membership.Role.CLINICIAN.value, {"practice_id": membership.practice_id, "user_id": membership.user_id}
    return None, {}


@dataclass(frozen=True)
class ClientSections:
    """Which of the client page's sections have any rows at all, whoever may see them (one query)."""

    fees: bool
    followups: bool
    misses: bool
    reasons: bool
    notes: bool
    checkins: bool


def client_sections(*, client: Client) -> ClientSections:
    """Six EXISTS in one query, compiled once (practice/sqlonce.py): the page skips the reads of the
    sections that have nothing (most clients have no fees, notes or check-ins; a section's read
    cost PostgreSQL more to plan than this to answer, issue 11). A row added after this read is
    shown on the next view, as if the page had been read a moment earlier."""
    found = sqlonce.rows(_sections_query, client_id=client.pk)
    return ClientSections(*found[0]) if found else ClientSections(*(False,) * 6)


def _sections_query(*, client_id: int) -> QuerySet:
    client = OuterRef("pk")
    return Client.objects.filter(pk=client_id).values_list(
        Exists(FeeAssessment.objects.filter(client=client)),
        Exists(OutboxMessage.objects.filter(client=client, purpose=OutboxMessage.Purpose.FOLLOWUP)),
        Exists(NoShowEvent.objects.filter(appointment__client=client)),
        Exists(MissReason.objects.filter(appointment__client=client)),
        Exists(ReflectionNote.objects.filter(client=client)),
        Exists(CheckInTask.objects.filter(client=client)),
    )


def client_notes(*, membership: Membership, client: Client) -> list[ReflectionNote]:
    """`reflection_notes_for`, in one query compiled once per role (practice/sqlonce.py)."""
    return _for_member(reflection_notes_for, membership=membership, client=client)


def _for_member(selector, *, membership: Membership, client: Client) -> list:
    """A client's rows that `selector(membership=..., client=...)` scopes with `for_membership`, its SQL
    compiled once per selector and role; none for a member who reads none (front desk)."""
    role, values = _scope(membership)
    if role is None:
        return []
    return sqlonce.objects(_member_query, selector, role, client_id=client.pk, may_ignore=("user_id",), **values)


def _member_query(selector, role: str, *, practice_id: int, user_id: int, client_id: int) -> QuerySet:
    member = _as_member(role, practice_id=practice_id, user_id=user_id)
    return selector(membership=member, client=Client(pk=client_id, practice_id=practice_id))


def misses_for_notes(*, client: Client) -> QuerySet:
    """The client's live missed sessions a note can be about (the latest 20)."""
    return _misses_for_notes_query(client_id=client.pk)


def misses_for_notes_list(*, client: Client) -> list[NoShowEvent]:
    """`misses_for_notes`, in one query compiled once (practice/sqlonce.py)."""
    return sqlonce.objects(_misses_for_notes_query, client_id=client.pk)


def _misses_for_notes_query(*, client_id: int) -> QuerySet:
    return (
        NoShowEvent.objects.filter(appointment__client_id=client_id, undone_at=None)
        .select_related("appointment")
        .order_by("-appointment__start", "-id")[:STRIP_LENGTH]
    )


def checkin_tasks_open(*, membership: Membership) -> QuerySet:
    """Today's open check-ins: a clinician's own, every one for admins, none for front desk. Bounded."""
    return (
        CheckInTask.objects.for_membership(membership)
        .filter(done_at=None, cancelled_at=None)
        .select_related("client", "clinician", "missed_session__appointment")
        .order_by("created_at", "id")[:TODAY_TASKS]
    )


def client_checkin_tasks(*, membership: Membership, client: Client) -> QuerySet:
    return (
        CheckInTask.objects.for_membership(membership)
        .filter(client=client)
        .select_related("done_by", "missed_session__appointment")
        .order_by("-created_at", "-id")[:STRIP_LENGTH]
    )


def client_checkins(*, membership: Membership, client: Client) -> list[CheckInTask]:
    """`client_checkin_tasks`, in one query compiled once per role (practice/sqlonce.py)."""
    return _for_member(client_checkin_tasks, membership=membership, client=client)


# What the client told us (issue 10, package "replies").
REPLIES_SHOWN = 20
# Audit actions for replies that leave no row of their own (a text reply's STOP / START).
REPLY_AUDIT_ACTIONS = {
    "client.sms_opted_out": "Texted STOP: no more text messages",
    "client.sms_start_received": "Texted START",
}


@dataclass(frozen=True)
class Reply:
    """One thing the client told us: when, what, and about which session (None: not about one)."""

    at: datetime
    kind: str
    what: str
    session_start: datetime | None = None
    # A rebooking: the new session's start (shown in the practice's zone by the page).
    new_start: datetime | None = None


def client_replies(*, client: Client) -> list[Reply]:
    """The latest 20 things the client told us, newest first. One query (UNION ALL of seven bounded parts).

    Each source is read newest first and cut at 20, so the 20 newest of all
    are among what is read: confirmations and reminder answers
    (`Appointment.confirmed_at`, `client_response`), rebookings through the
    link (a session booked with `rescheduled_from` and no staff author), the
    reasons given for a miss (`MissReason`), waitlist answers (offers accepted
    or left), policy acknowledgements, and text replies that changed no row of
    their own (STOP / START: their audit events). Every read is limited to this
    client, so to its practice. The parts were seven queries until issue 11:
    each one's SQL compiled in Python cost more than the database's work.
    """
    # Its SQL is compiled once per process (practice/sqlonce.py): compiling cost more than running it.
    rows = sqlonce.rows(_replies_query, client_id=client.pk, practice_id=client.practice_id)
    return [_reply(*row) for row in rows]


def _replies_query(*, client_id: int, practice_id: int) -> QuerySet:
    """client_replies' query: seven parts, each its own newest 20, then the newest 20 of all."""
    sessions = Appointment.objects.filter(client_id=client_id, practice_id=practice_id)
    parts = [
        _reply_part(
            sessions.exclude(confirmed_at=None),
            source=0,
            at="confirmed_at",
            session_start=F("start"),
            code=Value("confirmed"),
        ),
        _reply_part(
            sessions.exclude(client_response="").exclude(client_responded_at=None),
            source=1,
            at="client_responded_at",
            session_start=F("start"),
            code=F("client_response"),
        ),
        _reply_part(
            sessions.filter(rescheduled_from__isnull=False, created_by=None),
            source=2,
            at="created_at",
            session_start=F("rescheduled_from__start"),
            new_start=F("start"),
        ),
        _reply_part(
            MissReason.objects.filter(appointment__client_id=client_id, practice_id=practice_id),
            source=3,
            at="created_at",
            session_start=F("appointment__start"),
            code=F("reason"),
            text=F("text"),
        ),
        _reply_part(
            WaitlistOffer.objects.filter(
                entry__client_id=client_id,
                entry__practice_id=practice_id,
                outcome__in=(WaitlistOffer.Outcome.ACCEPTED, WaitlistOffer.Outcome.LEFT),
            ).exclude(answered_at=None),
            source=4,
            at="answered_at",
            session_start=F("slot__start"),
            code=F("outcome"),
        ),
        _reply_part(
            Acknowledgement.objects.filter(client_id=client_id, practice_id=practice_id),
            source=5,
            at="acknowledged_at",
            code=F("method"),
            number=F("version__number"),
        ),
        _reply_part(
            AuditEvent.objects.filter(practice_id=practice_id, client_ref=client_id, action__in=REPLY_AUDIT_ACTIONS),
            source=6,
            at="at",
            code=F("action"),
        ),
    ]
    # Newest first; a tie keeps the parts' order, and within a part the newest row first.
    return parts[0].union(*parts[1:], all=True).order_by("-r_at", "r_source", "-r_id")[:REPLIES_SHOWN]


# Typed NULLs: PostgreSQL types a UNION's columns pair by pair, and two bare NULLs make text.
_NO_TIME = Cast(Value(None), output_field=DateTimeField())


def _reply_part(
    qs: QuerySet, *, source: int, at: str, session_start=_NO_TIME, new_start=_NO_TIME, code=None, text=None, number=None
) -> QuerySet:
    """One source of replies as the same eight columns, its own newest 20."""
    part = qs.annotate(
        r_source=Value(source, output_field=IntegerField()),
        r_id=F("pk"),
        r_at=F(at),
        r_session=session_start,
        r_new=new_start,
        r_code=code if code is not None else Value("", output_field=CharField()),
        r_text=text if text is not None else Value("", output_field=TextField()),
        r_number=number if number is not None else Cast(Value(None), output_field=IntegerField()),
    ).values_list("r_source", "r_id", "r_at", "r_session", "r_new", "r_code", "r_text", "r_number")
    if not connection.features.supports_slicing_ordering_in_compound:
        # SQLite (the embedded default) takes no LIMIT inside a UNION's parts: each part is one
        # client's rows, and the union's own LIMIT still bounds what the page gets.
        return part.order_by()
    return part.order_by("-r_at", "-r_id")[:REPLIES_SHOWN]


_REASON_LABELS = dict(MissReason.Reason.choices)
_ACK_METHODS = dict(Acknowledgement.Method.choices)


def _reply(source, _id, at, session_start, new_start, code, text, number) -> Reply:
    if source == 0:
        return Reply(at, "confirmed", "Confirmed the session", session_start)
    if source == 1:
        if code == Appointment.ClientResponse.MOVED:
            return Reply(at, code, "Moved the session from a reminder", session_start)
        return Reply(at, code, "Said they can't make it", session_start)
    if source == 2:
        return Reply(at, "rebooked", "Rebooked through the link", session_start, new_start)
    if source == 3:
        said = _REASON_LABELS.get(code, "")
        if text:
            said = f"{said}: “{text}”" if said else f"“{text}”"
        return Reply(at, "reason", f"Told us what got in the way: {said}", session_start)
    if source == 4:
        if code == WaitlistOffer.Outcome.ACCEPTED:
            return Reply(at, f"waitlist_{code}", "Took a time offered from the waitlist", session_start)
        return Reply(at, f"waitlist_{code}", "Left the waitlist from an offer", session_start)
    if source == 5:
        method = str(_ACK_METHODS.get(code, code)).lower()
        return Reply(at, "acknowledged", f"Acknowledged the policy (version {number}): {method}")
    return Reply(at, code.removeprefix("client."), REPLY_AUDIT_ACTIONS[code])
