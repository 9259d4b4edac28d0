"""Every write to policies, acknowledgements, safety checks and fees.

Fees are assessed exactly once per missed session: FeeAssessment has a
one-to-one key on the missed session, and `fee_assess` returns the existing
row when it finds one (or loses the race to create it).
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from practice import sqlonce, timefmt
from practice.emails import send_email
from practice.models import Practice
from practice.services import audit_record

from . import rules
from . import terms as client_text
from .models import (
    Acknowledgement,
    EscalationStep,
    FeeAssessment,
    FeeChange,
    FeeOverride,
    PolicyVersion,
    SafetyCheck,
)

log = logging.getLogger(__name__)

State = FeeAssessment.State

POLICY_FIELDS = (
    "effective_at",
    "currency",
    "notice_hours",
    "late_cancel_fee",
    "no_show_fee",
    "grace_count",
    "grace_days",
    "exempt_intake",
    "makeup_days",
    "hold_hours",
    "summary",
)


# ---------------------------------------------------------------- policies


def policy_version_create(
    *,
    practice: Practice,
    actor,
    overrides: dict[str, tuple[Decimal | None, Decimal | None]] | None = None,
    **fields,
) -> PolicyVersion:
    """Save a new version. Old versions are never changed: misses are judged by the one in force."""
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"Unknown policy fields: {sorted(unknown)}")
    with transaction.atomic():
        # Serialise numbering per practice.
        Practice.objects.select_for_update(no_key=True).filter(pk=practice.pk).first()
        last = PolicyVersion.objects.filter(practice=practice).order_by("-number").first()
        version = PolicyVersion(practice=practice, number=(last.number + 1) if last else 1, created_by=actor, **fields)
        version.full_clean()
        version.save()
        for session_type, (no_show, late_cancel) in (overrides or {}).items():
            if no_show is None and late_cancel is None:
                continue
            override = FeeOverride(
                version=version, session_type=session_type, no_show_fee=no_show, late_cancel_fee=late_cancel
            )
            override.full_clean()
            override.save()
        audit_record(
            practice=practice,
            actor=actor,
            action="policy.version_created",
            obj=version,
            changes={"number": version.number, "effective_at": version.effective_at.isoformat()},
        )
    return version


def policy_in_force(*, practice_id: int, at: datetime, overrides: bool = True) -> PolicyVersion | None:
    """The version in force at `at`, with its fee overrides (`overrides`) as `version.overrides.all()`.

    Two queries, each compiled once per process (practice/sqlonce.py): the pipeline asks this for every
    miss, and compiling the versions' query and their prefetch cost more than running them (issue 11).
    Only the returned version's overrides are read (the only ones a caller can reach)."""
    versions = sqlonce.objects(_versions_of_practice, practice_id=practice_id)
    version = rules.version_in_force([(v.effective_at, v.number, v) for v in versions], at)
    if version is not None and overrides:
        _overrides_attach(version)
    return version


def _versions_of_practice(*, practice_id: int) -> QuerySet:
    return PolicyVersion.objects.filter(practice_id=practice_id)


def _overrides_of_version(*, version_id: int) -> QuerySet:
    return FeeOverride.objects.filter(version_id=version_id).order_by("pk")


def _overrides_attach(version: PolicyVersion) -> None:
    """`version.overrides.all()` answered from one compiled query, as `prefetch_related("overrides")` leaves it."""
    found = sqlonce.objects(_overrides_of_version, version_id=version.pk)
    for override in found:
        override.version = version  # as the prefetch sets the reverse side
    cached = version.overrides.get_queryset()  # not evaluated: a filtered queryset, no query
    cached._result_cache = found
    cached._prefetch_done = True
    if not hasattr(version, "_prefetched_objects_cache"):
        version._prefetched_objects_cache = {}
    version._prefetched_objects_cache[PolicyVersion.overrides.field.remote_field.cache_name] = cached


def acknowledgement_record(
    *, client: Client, version: PolicyVersion, method: str, actor=None, at: datetime | None = None
) -> Acknowledgement:
    """Record that a client acknowledged a version. A second record for the same version changes nothing."""
    if version.practice_id != client.practice_id:
        raise ValidationError("That policy belongs to another practice.")
    if method not in Acknowledgement.Method.values:
        raise ValidationError("Say how the client acknowledged the policy.")
    with transaction.atomic():
        ack, created = Acknowledgement.objects.get_or_create(
            client=client,
            version=version,
            defaults={
                "practice_id": client.practice_id,
                "method": method,
                "acknowledged_at": at or timezone.now(),
                "recorded_by": actor if actor is not None and actor.is_authenticated else None,
            },
        )
        if created:
            audit_record(
                practice=client.practice,
                actor=actor,
                action="policy.acknowledged",
                obj=ack,
                changes={"version": version.number, "method": method},
            )
    return ack


def cancellation_is_late(*, appointment: Appointment, at: datetime) -> bool:
    """Whether a client cancelling now is inside the notice window of the policy in force."""
    version = policy_in_force(practice_id=appointment.practice_id, at=appointment.start)
    if version is None:
        return False
    return rules.is_late_cancellation(cancelled_at=at, start=appointment.start, notice_hours=version.notice_hours)


@dataclass(frozen=True)
class CancelTerms:
    """What a client cancelling a session at a given moment is held to, before they confirm.

    Decided as `fee_assess` would decide the late cancel (rules.assess_lesser:
    never more than the terms the client acknowledged), so the page and the fee agree.
    """

    late: bool  # inside the notice window of the policy in force
    notice_hours: int = 0
    fee: Decimal = Decimal("0.00")  # what the late cancel would charge; 0 when nothing
    currency: str = "USD"
    # The make-up window of the terms the client is held to (0: none), and its last local date.
    makeup_days: int = 0
    makeup_until: date | None = None
    # Those terms, each as one plain sentence (policies/terms.py).
    lines: list[str] = field(default_factory=list)

    @property
    def charges(self) -> bool:
        return self.fee > 0

    @property
    def fee_text(self) -> str:
        return client_text.format_money(self.fee, self.currency)


def cancellation_terms(*, appointment: Appointment, at: datetime) -> CancelTerms:
    """The terms a client telling us at `at` that they can't make `appointment` is held to."""
    zone = appointment.practice.time_zone
    version = policy_in_force(practice_id=appointment.practice_id, at=appointment.start)
    if version is None:
        return CancelTerms(late=False)
    late = rules.is_late_cancellation(cancelled_at=at, start=appointment.start, notice_hours=version.notice_hours)
    accepted = acknowledged_version(client_id=appointment.client_id, start=appointment.start, by=at)
    comparable = version if accepted is None or accepted.currency == version.currency else accepted
    miss = rules.Miss(
        kind=rules.LATE_CANCEL,
        session_type=appointment.session_type,
        start=appointment.start,
        recorded_at=at,
        acknowledged=accepted is not None,
        grace_used=0,
    )
    decision = rules.assess_lesser(
        miss,
        in_force=_judged(comparable, appointment=appointment, zone=zone),
        acknowledged=_judged(accepted, appointment=appointment, zone=zone),
        zone=zone,
    )
    held = {v.number: v for v in (version, accepted) if v is not None}.get(decision.version) or accepted or version
    makeup_days = held.makeup_days
    start_day = rules.local_date(appointment.start, zone)
    return CancelTerms(
        late=late,
        notice_hours=version.notice_hours,
        fee=decision.charged_amount,
        currency=held.currency,
        makeup_days=makeup_days,
        makeup_until=start_day + timedelta(days=makeup_days) if makeup_days else None,
        lines=client_text.client_terms(
            held.terms(), currency=held.currency, session_labels=dict(Appointment.SessionType.choices)
        ),
    )


# ----------------------------------------------------------- safety checks


def safety_check_open(*, event: NoShowEvent) -> tuple[SafetyCheck, bool]:
    """Open the check for a flagged client's miss (once). Returns (check, created)."""
    appointment = event.appointment
    return SafetyCheck.objects.get_or_create(
        missed_session=event,
        defaults={"practice_id": event.practice_id, "clinician_id": appointment.clinician_id},
    )


def safety_alert_send(*, check_id: int) -> bool:
    """Email the clinician about an open safety check, once.

    The row is locked while the mail goes out, so two workers cannot both
    send; a crash after sending and before the commit can repeat the alert,
    which for a clinician alert is the safer way to fail.
    """
    with transaction.atomic():
        check = (
            SafetyCheck.objects.select_for_update(no_key=True, of=("self",))
            .select_related("clinician", "missed_session__appointment", "practice")
            .filter(pk=check_id, alert_sent_at=None)
            .first()
        )
        if check is None:
            return False
        if check.clinician.email:
            appointment = check.missed_session.appointment
            # Rendered in the practice's zone: a worker has no active zone (UTC).
            with timefmt.practice_time(check.practice):
                send_email(
                    "safety-alert",
                    to=check.clinician.email,
                    context={"check": check, "start": appointment.start},
                    message_id=f"<safety-check-{check.pk}@reconnect>",
                )
        check.alert_sent_at = timezone.now()
        check.save(update_fields=["alert_sent_at"])
    log.info("safety alert sent check_id=%s", check_id)
    return True


def safety_check_complete(*, check: SafetyCheck, actor, note: str = "") -> SafetyCheck:
    with transaction.atomic():
        check = SafetyCheck.objects.select_for_update(no_key=True).get(pk=check.pk)
        if check.completed_at is not None:
            return check
        check.completed_at = timezone.now()
        check.completed_by = actor
        check.note = note[:2000]
        check.save(update_fields=["completed_at", "completed_by", "note"])
        audit_record(practice=check.practice, actor=actor, action="safety_check.completed", obj=check)
    return check


# -------------------------------------------------------------------- fees


# The fee's reads below run once per miss in the pipeline; each is compiled once per process
# (practice/sqlonce.py), and tests/policies/test_fee_reads_compiled.py holds each to its queryset.


def _grace_used(*, client_id: int, appointment: Appointment, days: int, zone) -> int:
    first_day = rules.grace_window_start(start=appointment.start, days=days, zone=zone)
    window_start = datetime.combine(first_day, time.min, tzinfo=zone)
    found = sqlonce.rows(_grace_used_query, client_id=client_id, since=window_start, start=appointment.start)
    return found[0][0] if found else 0


def _grace_used_query(*, client_id: int, since: datetime, start: datetime) -> QuerySet:
    # Grouped by the client (one group, or none: 0) rather than count(): a queryset sqlonce can keep.
    return (
        FeeAssessment.objects.filter(
            client_id=client_id,
            rule=rules.RULE_GRACE,
            state=State.NOT_CHARGED,
            missed_session__appointment__start__gte=since,
            missed_session__appointment__start__lt=start,
        )
        .order_by()
        .values("client_id")
        .annotate(n=Count("pk"))
        .values_list("n")
    )


def _makeup_start(appointment: Appointment) -> datetime | None:
    found = sqlonce.rows(_makeup_start_query, appointment_id=appointment.pk)
    return found[0][0] if found else None


def _makeup_start_query(*, appointment_id: int) -> QuerySet:
    return (
        Appointment.objects.filter(rescheduled_from_id=appointment_id, status__in=Appointment.BLOCKING_STATUSES)
        .order_by("start", "pk")
        .values_list("start")[:1]
    )


def acknowledged_version(*, client_id: int, start: datetime, by: datetime) -> PolicyVersion | None:
    """The latest version the client had acknowledged by `by`, of those in effect at `start`.

    `by` is when the miss was recorded (for a late cancel, the cancellation):
    an acknowledgement given after that never makes a miss cost more, and a
    rerun of the assessment (after a safety check) gives the same answer.
    A version that had not taken effect at the start is for later sessions.
    """
    acks = sqlonce.objects(_acknowledged_query, client_id=client_id, start=start, by=by)
    version = rules.version_in_force([(a.version.effective_at, a.version.number, a.version) for a in acks], start)
    if version is not None:
        _overrides_attach(version)
    return version


def _acknowledged_query(*, client_id: int, start: datetime, by: datetime) -> QuerySet:
    return Acknowledgement.objects.filter(
        client_id=client_id, acknowledged_at__lte=by, version__effective_at__lte=start
    ).select_related("version")


def _judged(version: PolicyVersion | None, *, appointment: Appointment, zone) -> rules.Judged | None:
    """A version's terms with the grace this client has used in that version's own window."""
    if version is None:
        return None
    terms = version.terms()
    grace_used = (
        _grace_used(client_id=appointment.client_id, appointment=appointment, days=terms.grace_days, zone=zone)
        if terms.grace_count
        else 0
    )
    return rules.Judged(number=version.number, terms=terms, grace_used=grace_used)


def _appointment_of(event: NoShowEvent) -> Appointment:
    """The missed session's appointment with its practice and client: as the caller fetched them
    (the pipeline's batch does, in this transaction), or fetched now."""
    if NoShowEvent.appointment.is_cached(event):
        appointment = event.appointment
        if Appointment.practice.is_cached(appointment) and Appointment.client.is_cached(appointment):
            return appointment
    return Appointment.objects.select_related("practice", "client").get(pk=event.appointment_id)


def _fee_of_query(*, event_id: int) -> QuerySet:
    return FeeAssessment.objects.filter(missed_session_id=event_id).order_by("pk")[:1]


def fee_assess(*, event: NoShowEvent, now: datetime | None = None) -> FeeAssessment:
    """Decide and store the fee for one missed session; idempotent.

    1. An existing assessment is returned unchanged (a redelivery, a rerun).
    2. Gather the inputs: the version in force at the session's start, the
       latest version the client had acknowledged when the miss was recorded,
       and for each of the two the grace already used; any make-up.
    3. `rules.assess_lesser` decides (never more than the acknowledged terms);
       store it with the rule that produced it and both versions.
    4. Two workers at once: the unique key lets one insert; the other
       returns the winner's row.
    """
    now = now or timezone.now()
    existing = sqlonce.objects(_fee_of_query, event_id=event.pk)
    if existing:
        return existing[0]
    appointment = _appointment_of(event)
    zone = appointment.practice.time_zone
    version = policy_in_force(practice_id=appointment.practice_id, at=appointment.start)
    accepted = (
        acknowledged_version(client_id=appointment.client_id, start=appointment.start, by=event.recorded_at)
        if version
        else None
    )

    miss = rules.Miss(
        kind=event.kind,
        session_type=appointment.session_type,
        start=appointment.start,
        recorded_at=event.recorded_at,
        acknowledged=accepted is not None,
        grace_used=0,
        makeup_start=_makeup_start(appointment),
    )
    # Amounts in two currencies cannot be compared: then only the accepted terms count.
    comparable = version if accepted is None or accepted.currency == version.currency else accepted
    decision = rules.assess_lesser(
        miss,
        in_force=_judged(comparable, appointment=appointment, zone=zone),
        acknowledged=_judged(accepted, appointment=appointment, zone=zone),
        zone=zone,
    )
    charged_under = {v.number: v for v in (version, accepted) if v is not None}.get(decision.version)
    if decision.charge:
        state = State.DUE if decision.hold_hours == 0 else State.PROPOSED
        due_at = now + timedelta(hours=decision.hold_hours)
    else:
        state = State.WAIVED if decision.rule == rules.RULE_MAKEUP else State.NOT_CHARGED
        due_at = None
    try:
        with transaction.atomic():
            fee = FeeAssessment.objects.create(
                practice_id=appointment.practice_id,
                missed_session=event,
                client_id=appointment.client_id,
                policy_version=version,
                charged_under=charged_under,
                state=state,
                amount=decision.amount,
                currency=(charged_under or version).currency if version else "USD",
                rule=decision.rule,
                rule_detail=decision.detail[:200],
                due_at=due_at,
                session_start=appointment.start,
                clinician_id=appointment.clinician_id,
            )
            FeeChange.objects.create(
                fee=fee,
                to_state=state,
                reason_code=FeeAssessment.WaiverReason.MAKEUP if decision.rule == rules.RULE_MAKEUP else "",
                note=decision.detail,
            )
    except IntegrityError:
        # Another worker assessed it first; theirs stands.
        return FeeAssessment.objects.get(missed_session=event)
    log.info("fee assessed fee_id=%s event_id=%s state=%s", fee.pk, event.pk, state)
    return fee


def _transition(*, fee: FeeAssessment, to: str, allowed_from, actor, reason_code: str = "", note: str = ""):
    with transaction.atomic():
        fee = (
            FeeAssessment.objects.select_for_update(no_key=True, of=("self",)).select_related("practice").get(pk=fee.pk)
        )
        if fee.state == to:
            return fee
        if fee.state not in allowed_from:
            current, wanted = fee.get_state_display().lower(), State(to).label.lower()
            raise ValidationError(f"This fee is {current}; it cannot be marked {wanted}.")
        old = fee.state
        fee.state = to
        fee.save(update_fields=["state", "updated_at"])
        FeeChange.objects.create(
            fee=fee,
            actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
            from_state=old,
            to_state=to,
            reason_code=reason_code,
            note=note[:500],
        )
        audit_record(
            practice=fee.practice,
            actor=actor,
            action=f"fee.{to}",
            obj=fee,
            changes={"state": [old, to], "reason_code": reason_code},
        )
    return fee


def fee_waive(*, fee: FeeAssessment, actor, reason_code: str, note: str = "") -> FeeAssessment:
    if reason_code not in FeeAssessment.WaiverReason.values:
        raise ValidationError("Choose a reason for the waiver.")
    return _transition(
        fee=fee,
        to=State.WAIVED,
        allowed_from=FeeAssessment.OPEN_STATES,
        actor=actor,
        reason_code=reason_code,
        note=note,
    )


def fee_mark_paid(*, fee: FeeAssessment, actor, note: str = "") -> FeeAssessment:
    return _transition(fee=fee, to=State.PAID, allowed_from=FeeAssessment.OPEN_STATES, actor=actor, note=note)


def fee_void(*, fee: FeeAssessment, actor, note: str = "", reason_code: str = "") -> FeeAssessment:
    allowed = (State.PROPOSED, State.DUE, State.WAIVED, State.NOT_CHARGED)
    return _transition(fee=fee, to=State.VOID, allowed_from=allowed, actor=actor, note=note, reason_code=reason_code)


def fee_void_for_undo(*, event: NoShowEvent, actor) -> FeeAssessment | None:
    """An undone mark voids its fee unless it was already paid."""
    fee = FeeAssessment.objects.filter(missed_session=event).first()
    if fee is None or fee.state in (State.PAID, State.VOID):
        return fee
    return fee_void(fee=fee, actor=actor, note="The missed-session mark was undone.", reason_code="undo")


def fee_waive_for_makeup(*, event: NoShowEvent, makeup: Appointment, actor=None) -> FeeAssessment | None:
    """A make-up booked within the policy's window waives an open fee."""
    fee = FeeAssessment.objects.select_related("charged_under", "practice").filter(missed_session=event).first()
    # The waiver of the terms the fee was charged under (the kinder ones).
    if fee is None or fee.state not in FeeAssessment.OPEN_STATES or fee.charged_under is None:
        return fee
    missed_start = Appointment.objects.values_list("start", flat=True).get(pk=event.appointment_id)
    if not rules.makeup_waives(
        missed_start=missed_start,
        makeup_start=makeup.start,
        makeup_days=fee.charged_under.makeup_days,
        zone=fee.practice.time_zone,
    ):
        return fee
    return _transition(
        fee=fee,
        to=State.WAIVED,
        allowed_from=FeeAssessment.OPEN_STATES,
        actor=actor,
        reason_code=FeeAssessment.WaiverReason.MAKEUP,
        note="Make-up session booked.",
    )


def fees_mark_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """End review holds: proposed fees whose hold has passed become due (partial index fee_hold_due_idx)."""
    now = now or timezone.now()
    moved = 0
    with transaction.atomic():
        fees = list(
            FeeAssessment.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(state=State.PROPOSED, due_at__lte=now)
            .order_by("due_at")[:limit]
        )
        for fee in fees:
            # Conditional on the state we read: a waiver that got in first wins.
            if FeeAssessment.objects.filter(pk=fee.pk, state=State.PROPOSED).update(state=State.DUE, updated_at=now):
                FeeChange.objects.create(
                    fee=fee, from_state=State.PROPOSED, to_state=State.DUE, note="Review hold ended."
                )
                moved += 1
    return moved


# ---------------------------------------------------------------- the ladder for repeated misses

STEP_FIELDS = ("count", "window_days", "title", "script")
DUPLICATE_STEP = "There is already a step for that many misses in that many days."
# A ladder is a few steps; the bound keeps its page and the per-miss check small.
MAX_STEPS = 10

# The ladder every new practice starts with (practice.services.practice_create,
# and so seed_demo): the one source of default steps. Gentlest first; a miss
# that reaches both gets the second, most supportive one (engagement.services).
# Admins change them on Policies → Repeated misses. Migration
# policies.0004_insight_ladder_from_plan keeps its own frozen copy for
# practices that existed before the ladder (their old 3-in-90 threshold).
DEFAULT_LADDER = (
    (
        2,
        30,
        "Check in personally",
        "Hi {first_name}, it's been a little while since we last met and I wanted to check in. How are you doing?",
    ),
    (
        3,
        60,
        "Suggest a conversation about what would help",
        "Hi {first_name}, I've noticed a few of our sessions haven't worked out lately, and I wanted to check in. "
        "Would something else suit you better: a different time, meeting by video, or meeting more or less often? "
        "There's no wrong answer; I'd like our sessions to fit your life.",
    ),
)


def _step_validate(step: EscalationStep) -> None:
    """Field limits (counts 2..20, windows 1..365) and one step per count and window, as staff-facing messages."""
    step.full_clean(exclude=["practice"], validate_unique=False, validate_constraints=False)
    clash = EscalationStep.objects.filter(practice_id=step.practice_id, count=step.count, window_days=step.window_days)
    if step.pk:
        clash = clash.exclude(pk=step.pk)
    if clash.exists():
        raise ValidationError(DUPLICATE_STEP)


def escalation_step_create(
    *, practice: Practice, actor, count: int, window_days: int, title: str, script: str = ""
) -> EscalationStep:
    """Add a step to the ladder, validated and audited (the audit holds the numbers, never the script)."""
    step = EscalationStep(practice=practice, count=count, window_days=window_days, title=title, script=script)
    _step_validate(step)
    if EscalationStep.objects.filter(practice=practice).count() >= MAX_STEPS:
        raise ValidationError(f"A ladder holds at most {MAX_STEPS} steps. Change or remove one first.")
    try:
        with transaction.atomic():
            step.save()
            audit_record(
                practice=practice,
                actor=actor,
                action="ladder.step_added",
                obj=step,
                changes={"count": count, "window_days": window_days},
            )
    except IntegrityError as exc:  # two admins adding the same step at once
        raise ValidationError(DUPLICATE_STEP) from exc
    return step


def escalation_step_update(*, step: EscalationStep, actor, **fields) -> EscalationStep:
    """Change a step; the audit names what changed (numbers with their values, text fields by name)."""
    unknown = set(fields) - set(STEP_FIELDS)
    if unknown:
        raise TypeError(f"not step fields: {sorted(unknown)}")
    before = {name: getattr(step, name) for name in STEP_FIELDS}
    for name, value in fields.items():
        setattr(step, name, value)
    _step_validate(step)
    changed = {}
    for name in STEP_FIELDS:
        if before[name] != getattr(step, name):
            changed[name] = [before[name], getattr(step, name)] if name in ("count", "window_days") else "changed"
    if not changed:
        return step
    try:
        with transaction.atomic():
            step.save()
            audit_record(practice=step.practice, actor=actor, action="ladder.step_changed", obj=step, changes=changed)
    except IntegrityError as exc:
        raise ValidationError(DUPLICATE_STEP) from exc
    return step


def escalation_step_delete(*, step: EscalationStep, actor) -> None:
    """Take a step off the ladder. Its tasks stay, with their own copy of the title and script."""
    with transaction.atomic():
        audit_record(
            practice=step.practice,
            actor=actor,
            action="ladder.step_removed",
            obj=step,
            changes={"count": step.count, "window_days": step.window_days},
        )
        step.delete()


def escalation_steps_default_create(*, practice: Practice) -> list[EscalationStep]:
    """Give a practice that has no ladder yet the default steps, in the caller's transaction.

    Called when a practice is born (practice.services.practice_create); a
    practice that already has steps keeps them. Audited as the system.
    """
    if EscalationStep.objects.filter(practice=practice).exists():
        return []
    made = []
    for count, window_days, title, script in DEFAULT_LADDER:
        step = EscalationStep.objects.create(
            practice=practice, count=count, window_days=window_days, title=title, script=script
        )
        audit_record(
            practice=practice,
            actor=None,
            action="ladder.step_added",
            obj=step,
            changes={"count": count, "window_days": window_days, "default": True},
        )
        made.append(step)
    return made
