"""Every write to reflection notes and check-in tasks.

Check-in tasks are written by the after-miss pipeline
(aftercare.services.missed_session_process) inside its transaction, so a
crash before the commit leaves the miss for the sweep and no half-made task;
the unique key (client, step, first miss of the window) makes a redelivered
miss, a second worker or the sweep find the task already there.
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from appointments.models import Client, NoShowEvent
from policies import selectors as policy_selectors
from practice.models import Membership
from practice.services import audit_record

from .models import CheckInTask, ReflectionNote

log = logging.getLogger(__name__)

NOTE_MAX = 2000


def _clean_text(text: str, *, what: str, required: bool = True) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError(f"Write {what} first.")
    if len(text) > NOTE_MAX:
        raise ValidationError(f"Keep {what} under {NOTE_MAX} characters.")
    return text


# ---------------------------------------------------------------- reflection notes


def reflection_note_create(
    *, membership: Membership, client: Client, text: str, missed_session: NoShowEvent | None = None
) -> ReflectionNote:
    """A clinician (or admin) writes a private note on a client they may see. Audited, never with the text."""
    if not (membership.is_admin or membership.is_clinician):
        raise ValidationError("Only clinicians and practice admins write reflection notes.")
    if client.practice_id != membership.practice_id:
        raise ValidationError("That client is not in your practice.")
    if missed_session is not None and missed_session.appointment.client_id != client.pk:
        raise ValidationError("That missed session is not this client's.")
    text = _clean_text(text, what="the note")
    with transaction.atomic():
        note = ReflectionNote.objects.create(
            practice_id=membership.practice_id,
            client=client,
            missed_session=missed_session,
            author_id=membership.user_id,
            text=text,
        )
        audit_record(
            practice=membership.practice,
            actor=membership.user,
            action="reflection_note.created",
            obj=note,
            changes={"missed_session": missed_session.pk if missed_session else None},
        )
    return note


def reflection_note_update(*, membership: Membership, note: ReflectionNote, text: str) -> ReflectionNote:
    """Only the author changes their note (an admin reads it, but it stays the clinician's words)."""
    if note.author_id != membership.user_id:
        raise ValidationError("Only the clinician who wrote this note can change it.")
    text = _clean_text(text, what="the note")
    if text == note.text:
        return note
    with transaction.atomic():
        note.text = text
        note.save(update_fields=["text", "updated_at"])
        audit_record(
            practice=membership.practice,
            actor=membership.user,
            action="reflection_note.changed",
            obj=note,
            changes={"text": "changed"},
        )
    return note


# ---------------------------------------------------------------- check-in tasks (the ladder)


def _script_for(script: str, client: Client) -> str:
    # A plain replace, never str.format: the script is an admin's free text.
    return script.replace("{first_name}", client.first_name)


def _highest(reached: list) -> object:
    """The highest step a miss reached: the last of them in the ladder's own order (count, then window).

    The ladder climbs towards its most supportive suggestion, so that is the one the clinician gets.
    """
    return max(reached, key=lambda r: (r.step.count, r.step.window_days, r.step.pk))


def checkin_tasks_for_miss(*, event: NoShowEvent) -> list[CheckInTask]:
    """Write the check-in task a miss's ladder asks for, in the caller's transaction.

    1. Ask the ladder which steps this miss reaches (policies.selectors.ladder_reached,
       the one definition of repeated misses, no-shows and late cancels alike).
    2. Keep only the highest step reached: one miss gives at most one task,
       the most supportive suggestion (a miss that reaches "2 in 30" and
       "3 in 60" gets the second only).
    3. One task per client, step and first miss of the window: a task already
       there (a redelivery, or an earlier miss of the same run) is left as it
       is; one cancelled by an undo is opened again for this miss.
    4. Audited as the system (no actor). Never charges, books or discharges.

    Returns the tasks this call created or reopened (none or one).
    """
    appointment = event.appointment
    client = appointment.client
    reached_all = policy_selectors.ladder_reached(appointment=appointment)
    if not reached_all:
        return []
    reached = _highest(reached_all)
    step = reached.step
    made = []
    existing = CheckInTask.objects.filter(client=client, step=step, first_miss=reached.first_miss).first()
    if existing is not None:
        if existing.cancelled_at is not None and existing.done_at is None:
            existing.cancelled_at = None
            existing.missed_session = event
            existing.misses = reached.misses
            existing.save(update_fields=["cancelled_at", "missed_session", "misses"])
            audit_record(practice=appointment.practice, actor=None, action="checkin.reopened", obj=existing)
            made.append(existing)
    else:
        task = _task_create(event=event, reached=reached, number=_step_number(step))
        if task is not None:
            made.append(task)
    if made:
        log.info("check-in tasks written event_id=%s tasks=%s", event.pk, [t.pk for t in made])
    return made


def _step_number(step) -> int:
    """The step's place on its practice's ladder now, 1 for the gentlest (copied onto the task)."""
    return (
        policy_selectors.escalation_steps(practice_id=step.practice_id)
        .filter(
            Q(count__lt=step.count)
            | Q(count=step.count, window_days__lt=step.window_days)
            | Q(count=step.count, window_days=step.window_days, pk__lt=step.pk)
        )
        .count()
        + 1
    )


def _task_create(*, event: NoShowEvent, reached, number: int) -> CheckInTask | None:
    appointment = event.appointment
    client = appointment.client
    step = reached.step
    try:
        with transaction.atomic():  # a savepoint: losing the race to create it is not an error
            task = CheckInTask.objects.create(
                practice_id=appointment.practice_id,
                client=client,
                clinician_id=client.clinician_id,
                step=step,
                step_number=number,
                missed_session=event,
                first_miss=reached.first_miss,
                title=step.title,
                misses=reached.misses,
                window_days=step.window_days,
                script=_script_for(step.script, client),
            )
    except IntegrityError:
        return None
    audit_record(
        practice=appointment.practice,
        actor=None,
        action="checkin.created",
        obj=task,
        changes={"step": step.pk, "step_number": number, "misses": reached.misses, "window_days": step.window_days},
    )
    return task


def checkin_tasks_cancel_for_miss(*, event: NoShowEvent, actor) -> int:
    """The miss that made a task was undone or corrected away: its open tasks are cancelled (kept, audited)."""
    now = timezone.now()
    count = 0
    for task in CheckInTask.objects.filter(missed_session=event, done_at=None, cancelled_at=None):
        task.cancelled_at = now
        task.save(update_fields=["cancelled_at"])
        audit_record(practice=event.practice, actor=actor, action="checkin.cancelled", obj=task)
        count += 1
    return count


def checkin_task_complete(
    *,
    membership: Membership,
    task: CheckInTask,
    what_was_done: str,
    script: str | None = None,
    now: datetime | None = None,
) -> CheckInTask:
    """The clinician records what they did: the step is done. Twice (a double click) changes nothing more."""
    what_was_done = _clean_text(what_was_done, what="what you did")
    script_text = None if script is None else _clean_text(script, what="the script", required=False)
    with transaction.atomic():
        locked = CheckInTask.objects.select_for_update(of=("self",), no_key=True).get(pk=task.pk)
        if locked.cancelled_at is not None:
            raise ValidationError("This check-in was cancelled: the missed session it came from was undone.")
        if locked.done_at is not None:
            return locked
        locked.done_at = now or timezone.now()
        locked.done_by_id = membership.user_id
        locked.what_was_done = what_was_done
        fields = ["done_at", "done_by", "what_was_done"]
        if script_text is not None and script_text != locked.script:
            locked.script = script_text
            fields.append("script")
        locked.save(update_fields=fields)
        audit_record(
            practice=membership.practice,
            actor=membership.user,
            action="checkin.done",
            obj=locked,
            changes={"step": locked.step_id},
        )
    return locked
