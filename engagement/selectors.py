"""Reads for a client's engagement and the ladder's tasks. Bounded; counted in the database."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from appointments.models import Appointment, Client, NoShowEvent
from followups.models import MissReason, OutboxMessage
from policies.models import Acknowledgement
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


def engagement_strip(*, client: Client) -> list[Appointment]:
    """The client's last 20 counted sessions, newest first, each with what followed a miss. One query.

    Annotated: `followups_sent` (follow-ups that reached the client),
    `reason` / `reason_text` (what the client said got in the way), `rebooked`
    (a make-up or rebooking came from it). The client's reasons are read
    through the live missed session, as the client page does; when
    MissReason gains a link to the appointment itself (the "resp" package),
    read it through that link here.
    """
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
    rows = list(
        client.appointments.filter(status__in=COUNTED)
        .annotate(
            miss_id=Subquery(live_miss.values("pk")[:1]),
            followups_sent=Coalesce(Subquery(sent, output_field=IntegerField()), 0),
            reason=Subquery(reason.values("reason")[:1]),
            reason_text=Subquery(reason.values("text")[:1]),
            rebooked=Exists(Appointment.objects.filter(rescheduled_from=OuterRef("pk"))),
        )
        .order_by("-start", "-id")[:STRIP_LENGTH]
    )
    labels = dict(MissReason.Reason.choices)
    for row in rows:
        row.reason_label = labels.get(row.reason or "", "")
    return rows


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


def engagement_rates(*, client: Client, strip: list[Appointment]) -> Engagement:
    """Rates over the client's whole history (one aggregate query), each with its denominator.

    The longest run of misses is counted within the strip (the last 20), so
    the figure stays bounded; the page says so.
    """
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


def misses_for_notes(*, client: Client) -> QuerySet:
    """The client's live missed sessions a note can be about (the latest 20)."""
    return (
        NoShowEvent.objects.filter(appointment__client=client, undone_at=None)
        .select_related("appointment")
        .order_by("-appointment__start")[:STRIP_LENGTH]
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
    """The latest 20 things the client told us, newest first. Seven bounded queries, whatever the history.

    Each source is read newest first and cut at 20, so the 20 newest of all
    are among what is read: confirmations and reminder answers
    (`Appointment.confirmed_at`, `client_response`), rebookings through the
    link (a session booked with `rescheduled_from` and no staff author), the
    reasons given for a miss (`MissReason`), waitlist answers (offers accepted
    or left), policy acknowledgements, and text replies that changed no row of
    their own (STOP / START: their audit events). Every read is limited to this
    client, so to its practice.
    """
    n = REPLIES_SHOWN
    replies: list[Reply] = []
    sessions = Appointment.objects.filter(client=client, practice_id=client.practice_id)
    for a in sessions.exclude(confirmed_at=None).only("start", "confirmed_at").order_by("-confirmed_at", "-id")[:n]:
        replies.append(Reply(a.confirmed_at, "confirmed", "Confirmed the session", a.start))
    answered = (
        sessions.exclude(client_response="")
        .exclude(client_responded_at=None)
        .only("start", "status", "client_response", "client_responded_at")
        .order_by("-client_responded_at", "-id")[:n]
    )
    for a in answered:
        if a.client_response == Appointment.ClientResponse.MOVED:
            what = "Moved the session from a reminder"
        else:
            what = "Said they can't make it"
        replies.append(Reply(a.client_responded_at, a.client_response, what, a.start))
    rebooked = (
        sessions.filter(rescheduled_from__isnull=False, created_by=None)
        .select_related("rescheduled_from")
        .only("start", "created_at", "rescheduled_from__start")
        .order_by("-created_at", "-id")[:n]
    )
    for a in rebooked:
        replies.append(Reply(a.created_at, "rebooked", "Rebooked through the link", a.rescheduled_from.start, a.start))
    labels = dict(MissReason.Reason.choices)
    reasons = (
        MissReason.objects.filter(appointment__client=client, practice_id=client.practice_id)
        .select_related("appointment")
        .only("reason", "text", "created_at", "appointment__start")
        .order_by("-created_at", "-id")[:n]
    )
    for r in reasons:
        said = labels.get(r.reason, "")
        if r.text:
            said = f"{said}: “{r.text}”" if said else f"“{r.text}”"
        replies.append(Reply(r.created_at, "reason", f"Told us what got in the way: {said}", r.appointment.start))
    offers = (
        WaitlistOffer.objects.filter(
            entry__client=client,
            entry__practice_id=client.practice_id,
            outcome__in=(WaitlistOffer.Outcome.ACCEPTED, WaitlistOffer.Outcome.LEFT),
        )
        .exclude(answered_at=None)
        .select_related("slot")
        .only("outcome", "answered_at", "slot__start")
        .order_by("-answered_at", "-id")[:n]
    )
    for o in offers:
        if o.outcome == WaitlistOffer.Outcome.ACCEPTED:
            what = "Took a time offered from the waitlist"
        else:
            what = "Left the waitlist from an offer"
        replies.append(Reply(o.answered_at, f"waitlist_{o.outcome}", what, o.slot.start))
    acks = (
        Acknowledgement.objects.filter(client=client, practice_id=client.practice_id)
        .select_related("version")
        .only("method", "acknowledged_at", "version__number")
        .order_by("-acknowledged_at", "-id")[:n]
    )
    for ack in acks:
        what = f"Acknowledged the policy (version {ack.version.number}): {ack.get_method_display().lower()}"
        replies.append(Reply(ack.acknowledged_at, "acknowledged", what))
    events = (
        AuditEvent.objects.filter(practice_id=client.practice_id, client_ref=client.pk, action__in=REPLY_AUDIT_ACTIONS)
        .only("action", "at")
        .order_by("-at", "-id")[:n]
    )
    for e in events:
        replies.append(Reply(e.at, e.action.removeprefix("client."), REPLY_AUDIT_ACTIONS[e.action]))
    replies.sort(key=lambda r: r.at, reverse=True)
    return replies[:n]
