"""Every write to clients, appointments and missed-session records.

Views, admin actions, commands and tasks call these; nothing else saves
these models. Each function takes keyword arguments only, checks what the
database cannot, and records an audit event in the same transaction.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from practice import sqlonce
from practice.models import Membership, Practice
from practice.phones import normalise_phone, phone_problem
from practice.services import audit_record

from .models import Appointment, AppointmentSeries, Availability, Client, NoShowEvent

User = get_user_model()

Status = Appointment.Status

CLIENT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "preferred_channel",
    "consent_email",
    "consent_sms",
    "needs_safety_check",
    "mention_exercises",
    "reminders_opt_out",
    "is_archived",
    "clinician",
)


def _check_clinician(practice: Practice, clinician) -> None:
    is_member = Membership.objects.filter(practice=practice, user=clinician, is_active=True, is_clinician=True).exists()
    if not is_member:
        raise ValidationError({"clinician": "Choose a clinician of this practice."})


def client_create(*, practice: Practice, actor, **fields) -> Client:
    unknown = set(fields) - set(CLIENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown client fields: {sorted(unknown)}")
    if fields.get("phone"):
        fields["phone"] = _phone_e164(fields["phone"], practice)
    with transaction.atomic():
        _check_clinician(practice, fields["clinician"])
        client = Client(practice=practice, **fields)
        client.full_clean()
        client.save()
        audit_record(practice=practice, actor=actor, action="client.created", obj=client)
    return client


def client_update(*, client: Client, actor, **fields) -> Client:
    unknown = set(fields) - set(CLIENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown client fields: {sorted(unknown)}")
    with transaction.atomic():
        if "clinician" in fields:
            _check_clinician(client.practice, fields["clinician"])
        # A flagged number kept as it is stays flagged; any new number must parse.
        if fields.get("phone") and fields["phone"] != client.phone:
            fields["phone"] = _phone_e164(fields["phone"], client.practice)
        if "phone" in fields and fields["phone"] != client.phone and client.phone_needs_review:
            fields["phone_needs_review"] = False
        changes = {}
        for name, value in fields.items():
            old = getattr(client, name)
            if old != value:
                changes[name] = [_plain(old), _plain(value)]
                setattr(client, name, value)
        if not changes:
            return client
        client.full_clean()
        client.save()
        # Names of changed fields only: the values are health data.
        audit_record(
            practice=client.practice,
            actor=actor,
            action="client.updated",
            obj=client,
            changes={"fields": sorted(changes)},
        )
    return client


def _plain(value):
    return getattr(value, "pk", value)


def _phone_e164(raw: str, practice: Practice) -> str:
    """A phone in E.164, read with the practice's country; a clear error if it is not usable."""
    e164, ok = normalise_phone(raw, practice.country)
    if not ok:
        raise ValidationError({"phone": phone_problem(raw, practice.country)})
    return e164


def _check_no_clash(*, clinician_id: int, start: datetime, end: datetime, exclude_id=None) -> None:
    """Refuse a booking that overlaps one the clinician already holds.

    The database cannot say "no overlapping ranges" portably, so the
    caller's transaction first locks the clinician's user row: two
    bookings for one clinician then run one after the other, and the
    second sees the first.
    """
    User.objects.select_for_update(no_key=True).filter(pk=clinician_id).first()
    clash = Appointment.objects.holding_time().filter(clinician_id=clinician_id, start__lt=end, end__gt=start)
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    first = clash.order_by("start").first()
    if first is not None:
        when = timezone.localtime(first.start)
        raise ValidationError(f"The clinician already has a session at {when:%a %d %b %Y %H:%M}. Pick another time.")


@dataclass(frozen=True)
class WeekClash:
    """One week of a series that cannot be booked: when, and the session it clashes with."""

    week: int  # 0 for the first week
    start: datetime
    end: datetime
    clashes_with: Appointment


class SeriesClashError(ValidationError):
    """Some weeks of a series clash. Nothing was booked; `clashes` names every one."""

    def __init__(self, clashes: list[WeekClash], weeks: int):
        self.clashes = clashes
        self.weeks = weeks
        free = weeks - len(clashes)
        super().__init__(
            f"{len(clashes)} of the {weeks} weeks clash with sessions already booked. "
            f"Nothing is booked yet: book the {free} free weeks, or pick another time."
        )


def _series_starts(start: datetime, end: datetime, weeks: int, tz) -> list[tuple[datetime, datetime]]:
    """Each week's (start, end): the same local wall-clock time, the same real length."""
    local_start = start.astimezone(tz)
    length = end - start
    found = []
    for week in range(weeks):
        # Add days to the local wall time, then resolve it in the zone.
        naive = local_start.replace(tzinfo=None) + timedelta(weeks=week)
        slot_start = timezone.make_aware(naive, tz)
        found.append((slot_start, slot_start + length))
    return found


def _clashes(*, clinician_id: int, times: list[tuple[datetime, datetime]]) -> list[WeekClash]:
    """Every week that overlaps a session the clinician holds (one query; the caller holds the lock)."""
    if not times:
        return []
    holding = list(
        Appointment.objects.holding_time()
        .filter(clinician_id=clinician_id, start__lt=times[-1][1], end__gt=times[0][0])
        .select_related("client")
        .order_by("start")
    )
    found = []
    for week, (start, end) in enumerate(times):
        other = next((a for a in holding if a.start < end and a.end > start), None)
        if other is not None:
            found.append(WeekClash(week=week, start=start, end=end, clashes_with=other))
    return found


def appointment_book(
    *,
    practice: Practice,
    client: Client,
    clinician,
    start: datetime,
    end: datetime,
    session_type: str = Appointment.SessionType.INDIVIDUAL,
    modality: str = Appointment.Modality.IN_PERSON,
    weeks: int = 1,
    skip_clashes: bool = False,
    actor=None,
    rescheduled_from: Appointment | None = None,
) -> list[Appointment]:
    """Book one session, or `weeks` weekly sessions at the same local time.

    Weekly repeats keep the wall-clock time in the practice's zone across a
    DST change. A single session that clashes is refused, naming the clash.
    For a series, every clashing week is found first: without `skip_clashes`
    nothing is booked and `SeriesClashError` lists them all; with it, the
    free weeks are booked and the clashing ones skipped (the series' audit
    record names them). If no week is free, nothing is booked.
    """
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValidationError({"end": "The session must end after it starts."})
    if not 1 <= weeks <= 52:
        raise ValidationError({"weeks": "A series runs for 1 to 52 weeks."})
    if client.practice_id != practice.id:
        raise ValidationError("That client belongs to another practice.")
    if client.is_archived:
        raise ValidationError("This client is archived. Restore them before booking.")
    times = _series_starts(start, end, weeks, practice.time_zone)
    with transaction.atomic():
        _check_clinician(practice, clinician)
        if weeks == 1:
            _check_no_clash(clinician_id=clinician.pk, start=times[0][0], end=times[0][1])
            clashes = []
        else:
            # Lock the clinician as _check_no_clash does, then look at every week at once.
            User.objects.select_for_update().filter(pk=clinician.pk).first()
            clashes = _clashes(clinician_id=clinician.pk, times=times)
            if clashes and (not skip_clashes or len(clashes) == weeks):
                raise SeriesClashError(clashes, weeks)
        skipped = {c.week for c in clashes}
        series = None
        if weeks > 1:
            series = AppointmentSeries.objects.create(
                practice=practice,
                client=client,
                clinician=clinician,
                weeks=weeks,
                skipped=[c.start.astimezone(UTC).isoformat() for c in clashes],
                created_by=actor,
            )
        booked = []
        for week, (slot_start, slot_end) in enumerate(times):
            if week in skipped:
                continue
            appointment = Appointment.objects.create(
                practice=practice,
                client=client,
                clinician=clinician,
                start=slot_start,
                end=slot_end,
                session_type=session_type,
                modality=modality,
                series=series,
                created_by=actor,
                rescheduled_from=rescheduled_from,
            )
            booked.append(appointment)
            audit_record(practice=practice, actor=actor, action="appointment.booked", obj=appointment)
        if series is not None:
            audit_record(
                practice=practice,
                actor=actor,
                action="series.booked",
                obj=series,
                changes={
                    "weeks": weeks,
                    "booked": len(booked),
                    "skipped": series.skipped,
                },
            )
    return booked


def appointment_move(
    *, appointment: Appointment, start: datetime, end: datetime, actor, by_client: bool = False
) -> Appointment:
    """Move a scheduled session to a new time (and keep everything else).

    `by_client`: the client moved it from a reminder's link (no actor); the row then says "moved by client".
    """
    if end <= start:
        raise ValidationError({"end": "The session must end after it starts."})
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update(no_key=True).get(pk=appointment.pk)
        if appointment.status != Status.SCHEDULED:
            raise ValidationError("Only a scheduled session can be moved.")
        _check_no_clash(clinician_id=appointment.clinician_id, start=start, end=end, exclude_id=appointment.pk)
        old = [appointment.start.isoformat(), appointment.end.isoformat()]
        # A confirmation was for the old time; the new time gets reminders (and a Confirm link) of its own.
        was_confirmed = appointment.confirmed_at is not None and start != appointment.start
        appointment.start, appointment.end = start, end
        if was_confirmed:
            appointment.confirmed_at = None
        fields = ["start", "end", "confirmed_at"]
        if by_client:
            appointment.client_response = Appointment.ClientResponse.MOVED
            appointment.client_responded_at = timezone.now()
            fields += ["client_response", "client_responded_at"]
        appointment.save(update_fields=fields)
        audit_record(
            practice=appointment.practice,
            actor=actor,
            action="appointment.moved",
            obj=appointment,
            changes={
                "from": old,
                "to": [start.isoformat(), end.isoformat()],
                **({"confirmed": "cleared"} if was_confirmed else {}),
                **({"by": "client"} if by_client else {}),
            },
        )
    return appointment


class Outcome:
    """What staff can record for a session, and the status each one sets."""

    ATTENDED = "attended"
    NO_SHOW = "no_show"
    LATE_CANCEL = "late_cancel"
    CANCELLED = "cancelled"

    CHOICES = (ATTENDED, NO_SHOW, LATE_CANCEL, CANCELLED)


@dataclass(frozen=True)
class OutcomeResult:
    appointment: Appointment
    event: NoShowEvent | None
    # False when this call found the outcome already recorded (a double click).
    changed: bool


def _status_for(outcome: str, initiated_by: str) -> str:
    if outcome == Outcome.ATTENDED:
        return Status.ATTENDED
    if outcome == Outcome.NO_SHOW:
        return Status.NO_SHOW
    if outcome == Outcome.LATE_CANCEL:
        return Status.LATE_CANCEL
    if outcome == Outcome.CANCELLED:
        if initiated_by == Appointment.Initiator.CLIENT:
            return Status.CANCELLED_IN_TIME
        if initiated_by in (Appointment.Initiator.CLINICIAN, Appointment.Initiator.PRACTICE):
            return Status.CANCELLED_BY_CLINICIAN
        raise ValidationError("Say who cancelled: the client, the clinician or the practice.")
    raise ValidationError(f"Unknown outcome {outcome!r}.")


def _outcome_lock_query(*, appointment_id: int):
    return (
        Appointment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("practice", "client", "clinician")
        .filter(pk=appointment_id)
    )


def appointment_record_outcome(
    *,
    appointment_id: int,
    outcome: str,
    actor,
    initiated_by: str = "",
    reason_code: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> OutcomeResult:
    """Record what happened to a session, in one transaction.

    1. Lock the appointment row, so that a double click waits for the first.
    2. If the same outcome is already recorded, change nothing (idempotent).
    3. If another outcome is recorded, refuse: it must be undone first.
    4. Set the status, who and why; for a no-show or late cancel, write the
       NoShowEvent, which is also the durable record of the work to do.

    Call inside the caller's transaction; the caller enqueues the after-miss
    work on commit.
    """
    now = now or timezone.now()
    status = _status_for(outcome, initiated_by)
    if reason_code and reason_code not in Appointment.ReasonCode.values:
        raise ValidationError("Unknown reason code.")
    if outcome == Outcome.LATE_CANCEL and not initiated_by:
        initiated_by = Appointment.Initiator.CLIENT
    with transaction.atomic():
        # Locks the appointment row only; the practice (audit, undo window), the client (safety
        # flag, follow-ups) and the clinician (the schedule row) come in the same query, compiled
        # once per process (practice/sqlonce.py; every mark pays it, issue 11).
        found = sqlonce.objects(_outcome_lock_query, appointment_id=appointment_id)
        if not found:
            raise Appointment.DoesNotExist("Appointment matching query does not exist.")
        [appointment] = found
        if appointment.status == status:
            event = NoShowEvent.objects.filter(appointment=appointment, undone_at=None).first()
            return OutcomeResult(appointment=appointment, event=event, changed=False)
        if appointment.status != Status.SCHEDULED:
            raise ValidationError(
                f"This session is already marked {appointment.get_status_display().lower()}. Undo that first."
            )
        if outcome in (Outcome.ATTENDED, Outcome.NO_SHOW) and appointment.start > now:
            raise ValidationError("This session has not started yet.")
        appointment.status = status
        appointment.initiated_by = initiated_by
        appointment.reason_code = reason_code
        appointment.status_changed_at = now
        appointment.status_changed_by = actor
        appointment.save(
            update_fields=[
                "status",
                "initiated_by",
                "reason_code",
                "status_changed_at",
                "status_changed_by",
            ]
        )
        event = None
        if status in Appointment.MISSED_STATUSES:
            try:
                with transaction.atomic():
                    event = NoShowEvent.objects.create(
                        practice_id=appointment.practice_id,
                        appointment=appointment,
                        kind=status,
                        recorded_by=actor,
                        recorded_at=now,
                        reason=reason,
                    )
            except IntegrityError as exc:  # pragma: no cover - the row lock above prevents it
                raise ValidationError("This missed session is already recorded.") from exc
        audit_record(
            practice=appointment.practice,
            actor=actor,
            action="appointment.outcome_recorded",
            obj=appointment,
            changes={"status": [Status.SCHEDULED, status], "initiated_by": initiated_by},
        )
    return OutcomeResult(appointment=appointment, event=event, changed=True)


def appointment_undo_outcome(
    *, appointment_id: int, actor, now: datetime | None = None
) -> tuple[Appointment, NoShowEvent | None]:
    """Put a session back to scheduled, within the practice's undo window.

    Returns the appointment and the missed-session record that the undo
    closed, if there was one; the caller undoes what that record started.
    """
    now = now or timezone.now()
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("practice")
            .get(pk=appointment_id)
        )
        if appointment.status == Status.SCHEDULED:
            raise ValidationError("There is nothing to undo on this session.")
        if appointment.status == Status.RESCHEDULED:
            raise ValidationError("A rescheduled session cannot be undone here.")
        window = timedelta(minutes=appointment.practice.undo_window_minutes)
        if appointment.status_changed_at is None or now - appointment.status_changed_at > window:
            raise ValidationError(
                f"The mark can only be undone within {appointment.practice.undo_window_minutes} "
                "minutes. Ask a practice admin to correct it."
            )
        old_status = appointment.status
        appointment.status = Status.SCHEDULED
        appointment.initiated_by = ""
        appointment.reason_code = ""
        appointment.status_changed_at = None
        appointment.status_changed_by = None
        # A client's "can't make it" undone by staff (they called back): the row no longer says so.
        if appointment.client_response == Appointment.ClientResponse.CANT_MAKE_IT:
            appointment.client_response = Appointment.ClientResponse.NONE
        appointment.save(
            update_fields=[
                "status",
                "initiated_by",
                "reason_code",
                "status_changed_at",
                "status_changed_by",
                "client_response",
            ]
        )
        event = (
            NoShowEvent.objects.select_for_update(no_key=True).filter(appointment=appointment, undone_at=None).first()
        )
        if event is not None:
            event.undone_at = now
            event.undone_by = actor
            event.save(update_fields=["undone_at", "undone_by"])
        audit_record(
            practice=appointment.practice,
            actor=actor,
            action="appointment.outcome_undone",
            obj=appointment,
            changes={"status": [old_status, Status.SCHEDULED]},
        )
    return appointment, event


# What a recorded outcome can be corrected to, and from.
CORRECTABLE = {
    Outcome.ATTENDED: Status.ATTENDED,
    Outcome.NO_SHOW: Status.NO_SHOW,
    Outcome.LATE_CANCEL: Status.LATE_CANCEL,
}


@dataclass(frozen=True)
class Correction:
    appointment: Appointment
    old_status: str
    # The missed-session record the correction closed, and the one it opened.
    closed: NoShowEvent | None
    opened: NoShowEvent | None


def correction_allowed(*, appointment: Appointment, membership: Membership | None, now: datetime) -> str:
    """Why this member may not correct this session's outcome, or "" if they may.

    Practice admins may at any time; the session's clinician within the
    practice's `correction_window_days` of the session's start.
    """
    if membership is None or not membership.is_active or membership.practice_id != appointment.practice_id:
        return "Only a practice admin or the session's clinician can correct an outcome."
    if membership.is_admin:
        return ""
    if membership.user_id != appointment.clinician_id:
        return "Only a practice admin or the session's clinician can correct an outcome."
    days = appointment.practice.correction_window_days
    if now - appointment.start > timedelta(days=days):
        return f"Clinicians can correct an outcome within {days} days of the session. Ask a practice admin."
    return ""


def appointment_correct_outcome(
    *, appointment_id: int, new_outcome: str, actor, reason: str, now: datetime | None = None
) -> Correction:
    """Correct a recorded outcome after the undo window, in the caller's transaction.

    1. Lock the appointment row (only it: `of=("self",)`).
    2. Refuse without a reason, without permission (`correction_allowed`),
       for a session with no attended/no-show/late-cancel outcome, for the
       outcome it already has, and attended or no-show before the start.
    3. Close the live missed-session record, if any (stamped undone, kept).
    4. Set the new status; a miss gets a fresh missed-session record, whose
       after-miss work the caller starts.
    5. Audit: from, to, and the reason.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the outcome is being corrected."})
    if new_outcome not in CORRECTABLE:
        raise ValidationError("An outcome can be corrected to attended, no-show or late cancel.")
    new_status = CORRECTABLE[new_outcome]
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",)).select_related("practice").get(pk=appointment_id)
        )
        membership = Membership.objects.filter(user=actor, is_active=True).first()
        refusal = correction_allowed(appointment=appointment, membership=membership, now=now)
        if refusal:
            raise PermissionDenied(refusal)
        old_status = appointment.status
        if old_status not in CORRECTABLE.values():
            raise ValidationError("Only an attended, no-show or late-cancel outcome can be corrected here.")
        if old_status == new_status:
            raise ValidationError(f"This session is already marked {appointment.get_status_display().lower()}.")
        if new_status in (Status.ATTENDED, Status.NO_SHOW) and appointment.start > now:
            raise ValidationError("This session has not started yet.")
        closed = (
            NoShowEvent.objects.select_for_update(of=("self",)).filter(appointment=appointment, undone_at=None).first()
        )
        if closed is not None:
            closed.undone_at = now
            closed.undone_by = actor
            closed.save(update_fields=["undone_at", "undone_by"])
        appointment.status = new_status
        if new_status == Status.LATE_CANCEL:
            appointment.initiated_by = Appointment.Initiator.CLIENT
        elif new_status in (Status.ATTENDED, Status.NO_SHOW):
            appointment.initiated_by = ""
        appointment.status_changed_at = now
        appointment.status_changed_by = actor
        appointment.save(update_fields=["status", "initiated_by", "status_changed_at", "status_changed_by"])
        opened = None
        if new_status in Appointment.MISSED_STATUSES:
            opened = NoShowEvent.objects.create(
                practice_id=appointment.practice_id,
                appointment=appointment,
                kind=new_status,
                recorded_by=actor,
                recorded_at=now,
                reason=f"Corrected: {reason}"[:500],
            )
        audit_record(
            practice=appointment.practice,
            actor=actor,
            action="appointment.outcome_corrected",
            obj=appointment,
            changes={"status": [old_status, new_status], "reason": reason[:500]},
        )
    return Correction(appointment=appointment, old_status=old_status, closed=closed, opened=opened)


def _minutes_between(start: time, end: time) -> int:
    return int((datetime.combine(date.min, end) - datetime.combine(date.min, start)).total_seconds() // 60)


def _window_changes(window: Availability) -> dict:
    return {
        "weekday": window.weekday,
        "start_time": window.start_time.isoformat("minutes"),
        "end_time": window.end_time.isoformat("minutes"),
        "session_minutes": window.session_minutes,
        "buffer_minutes": window.buffer_minutes,
        "grid_minutes": window.grid_minutes,
    }


def availability_add(
    *,
    practice: Practice,
    clinician,
    weekday: int,
    start_time: time,
    end_time: time,
    session_minutes: int | None = None,
    buffer_minutes: int | None = None,
    grid_minutes: int | None = None,
    actor,
) -> Availability:
    """Add one weekly window for a clinician, in the practice's wall-clock time.

    Session length, buffer and grid left as None follow the practice's
    defaults. Refuses, with the message on the field it is about: an end not
    after the start, a window too short for one session, and a window that
    overlaps another of the clinician's on that weekday (windows that only
    touch are fine).
    """
    if end_time <= start_time:
        raise ValidationError({"end_time": "The window must end after it starts (and by midnight)."})
    low, high = Availability.MIN_SESSION_MINUTES, Availability.MAX_SESSION_MINUTES
    if session_minutes is not None and not low <= session_minutes <= high:
        raise ValidationError({"session_minutes": f"A session lasts {low} to {high} minutes."})
    if buffer_minutes is not None and not 0 <= buffer_minutes <= Availability.MAX_BUFFER_MINUTES:
        raise ValidationError({"buffer_minutes": f"A buffer is 0 to {Availability.MAX_BUFFER_MINUTES} minutes."})
    if grid_minutes is not None and grid_minutes not in dict(Availability.GRID_CHOICES):
        raise ValidationError({"grid_minutes": "Start times are every quarter hour, half hour or hour."})
    length = _minutes_between(start_time, end_time)
    session = session_minutes or practice.session_minutes
    if length < session:
        raise ValidationError({"end_time": f"This {length}-minute window cannot hold one {session}-minute session."})
    with transaction.atomic():
        _check_clinician(practice, clinician)
        # As for bookings: lock the clinician's row, so two adds run one after the other.
        User.objects.select_for_update(no_key=True).filter(pk=clinician.pk).first()
        window = Availability(
            practice=practice,
            clinician=clinician,
            weekday=weekday,
            start_time=start_time,
            end_time=end_time,
            session_minutes=session_minutes,
            buffer_minutes=buffer_minutes,
            grid_minutes=grid_minutes,
        )
        window.full_clean()
        clash = (
            Availability.objects.filter(
                clinician=clinician, weekday=weekday, start_time__lt=end_time, end_time__gt=start_time
            )
            .order_by("start_time")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "start_time": f"This overlaps the {clash.get_weekday_display()} window "
                    f"{clash.start_time:%H:%M}-{clash.end_time:%H:%M}. Remove that one first, or pick other times."
                }
            )
        window.save()
        audit_record(
            practice=practice, actor=actor, action="availability.added", obj=window, changes=_window_changes(window)
        )
    return window


def availability_remove(*, availability: Availability, actor) -> None:
    with transaction.atomic():
        # Audit first: the row has no pk once deleted.
        audit_record(
            practice=availability.practice,
            actor=actor,
            action="availability.removed",
            obj=availability,
            changes=_window_changes(availability),
        )
        availability.delete()


# ------------------------------------------------------------------ staff changes


def appointment_reassign(*, appointment: Appointment, clinician, actor) -> Appointment:
    """Give a scheduled session to another clinician of the practice, at the same time.

    The new clinician is locked and checked for a clash, as a booking is
    (no double booking); a clash is refused naming the session it hits.
    """
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update(no_key=True, of=("self",)).get(pk=appointment.pk)
        if appointment.status != Status.SCHEDULED:
            raise ValidationError("Only a scheduled session can be given to another clinician.")
        if appointment.clinician_id == clinician.pk:
            return appointment
        _check_clinician(appointment.practice, clinician)
        _check_no_clash(clinician_id=clinician.pk, start=appointment.start, end=appointment.end)
        old = appointment.clinician_id
        appointment.clinician = clinician
        appointment.save(update_fields=["clinician"])
        audit_record(
            practice=appointment.practice,
            actor=actor,
            action="appointment.reassigned",
            obj=appointment,
            changes={"clinician": [old, clinician.pk]},
        )
    return appointment


@dataclass(frozen=True)
class Caseload:
    """What a clinician still holds that would be used for new work."""

    upcoming: list[Appointment]
    availability: list[Availability]
    clients: list[Client]

    @property
    def is_empty(self) -> bool:
        return not (self.upcoming or self.availability or self.clients)


def clinician_caseload(*, membership: Membership, now: datetime | None = None) -> Caseload:
    """The clinician's future scheduled sessions, availability windows and clients (archived too)."""
    now = now or timezone.now()
    user_id, practice_id = membership.user_id, membership.practice_id
    return Caseload(
        upcoming=list(
            Appointment.objects.filter(
                practice_id=practice_id, clinician_id=user_id, status=Status.SCHEDULED, start__gte=now
            )
            .select_related("client")
            .order_by("start", "id")
        ),
        availability=list(Availability.objects.filter(practice_id=practice_id, clinician_id=user_id)),
        clients=list(Client.objects.filter(practice_id=practice_id, clinician_id=user_id).order_by("last_name", "id")),
    )


def staff_role_change(*, membership: Membership, actor, role: str, is_clinician: bool = False) -> Membership:
    """Change a member's role; taking away a schedule is refused while they still hold one."""
    from practice.services import membership_role_change

    with transaction.atomic(durable=True):
        keeps_schedule = role == Membership.Role.CLINICIAN or (role == Membership.Role.ADMIN and is_clinician)
        if membership.is_clinician and not keeps_schedule:
            caseload = clinician_caseload(membership=membership)
            if not caseload.is_empty:
                raise ValidationError(
                    f"They still hold {len(caseload.upcoming)} upcoming session(s), "
                    f"{len(caseload.availability)} availability window(s) and {len(caseload.clients)} client(s). "
                    "Hand them over first: deactivating does this, and the account can be reactivated after."
                )
        return membership_role_change(membership=membership, actor=actor, role=role, is_clinician=is_clinician)


CANCEL = "cancel"


@dataclass(frozen=True)
class Handover:
    """What a deactivation did: sessions moved and cancelled (whose clients staff must call)."""

    reassigned: list[Appointment]
    cancelled: list[Appointment]
    windows_removed: int
    clients_moved: int


def clinician_deactivate(
    *,
    membership: Membership,
    actor,
    sessions: dict[int, object],
    clients_to=None,
    now: datetime | None = None,
) -> Handover:
    """Hand over a member's work and deactivate them, all in one transaction.

    `sessions` maps each upcoming session's id to a clinician (reassign) or
    CANCEL. `clients_to` is the clinician who takes their clients.

    1. Every upcoming scheduled session must have a choice (one booked since
       the admin looked is refused, so nothing is left behind unseen).
    2. Reassign each (no double booking) or cancel it as cancelled by the
       practice, reason "clinician unavailable" (no fee: not the client's doing).
    3. Remove their availability; move their clients and their series.
    4. Deactivate the membership and the account.
    """
    from practice.services import membership_deactivate

    now = now or timezone.now()
    with transaction.atomic(durable=True):
        caseload = clinician_caseload(membership=membership, now=now)
        missing = [a for a in caseload.upcoming if a.pk not in sessions]
        if missing:
            when = timezone.localtime(missing[0].start)
            raise ValidationError(
                f"A session at {when:%a %d %b %Y %H:%M} was not in the list. Review the list again and choose for it."
            )
        if caseload.clients and clients_to is None:
            raise ValidationError({"clients_to": "Choose who takes over their clients."})
        if clients_to is not None:
            if clients_to.pk == membership.user_id:
                raise ValidationError({"clients_to": "Choose another clinician for their clients."})
            _check_clinician(membership.practice, clients_to)
        reassigned, cancelled = [], []
        for appointment in caseload.upcoming:
            choice = sessions[appointment.pk]
            if choice == CANCEL:
                appointment_record_outcome(
                    appointment_id=appointment.pk,
                    outcome=Outcome.CANCELLED,
                    actor=actor,
                    initiated_by=Appointment.Initiator.PRACTICE,
                    reason_code=Appointment.ReasonCode.CLINICIAN_UNAVAILABLE,
                    now=now,
                )
                cancelled.append(appointment)
            else:
                if getattr(choice, "pk", None) == membership.user_id:
                    raise ValidationError("Choose another clinician for each session, or cancel it.")
                try:
                    reassigned.append(appointment_reassign(appointment=appointment, clinician=choice, actor=actor))
                except ValidationError as exc:
                    when = timezone.localtime(appointment.start)
                    raise ValidationError(f"The session at {when:%a %d %b %Y %H:%M}: {' '.join(exc.messages)}") from exc
        for window in caseload.availability:
            availability_remove(availability=window, actor=actor)
        for client in caseload.clients:
            client_update(client=client, actor=actor, clinician=clients_to)
        if clients_to is not None:
            AppointmentSeries.objects.filter(
                practice_id=membership.practice_id, clinician_id=membership.user_id
            ).update(clinician=clients_to)
        membership_deactivate(
            membership=membership,
            actor=actor,
            changes={
                "reassigned": [a.pk for a in reassigned],
                "cancelled": [a.pk for a in cancelled],
                "windows_removed": len(caseload.availability),
                "clients_to": clients_to.pk if clients_to is not None else None,
                "clients_moved": len(caseload.clients),
            },
        )
    return Handover(
        reassigned=reassigned,
        cancelled=cancelled,
        windows_removed=len(caseload.availability),
        clients_moved=len(caseload.clients),
    )
