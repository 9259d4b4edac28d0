"""Thin Celery tasks: they take ids and call services.

Every task that is safe to run twice says so with `reject_on_worker_lost`
(IDEMPOTENT): a worker killed mid-task hands it back to the broker. Retries with
a countdown are only for a mail server that is briefly away, capped far below
the broker's visibility timeout; delays of minutes or days are `due_at`
columns read by the sweeps, never a countdown or ETA.
"""

from celery import shared_task

from policies import services as policies

from . import responses, services

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}
# 30 s, 60 s, 120 s, 240 s, 480 s: well inside the one-hour visibility timeout.
SMTP_RETRY = {"autoretry_for": (OSError,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 5}


@shared_task(**IDEMPOTENT)
def process_missed_session(event_id: int) -> bool:
    """The on-commit wake-up: this missed session, and others still waiting, in one transaction."""
    return services.missed_sessions_process(event_id=event_id)


@shared_task(**IDEMPOTENT, **SMTP_RETRY)
def send_safety_alert(check_id: int) -> bool:
    return policies.safety_alert_send(check_id=check_id)


@shared_task(**IDEMPOTENT)
def sweep_missed_sessions() -> int:
    """Every minute: process events whose enqueue was lost, and resend lost safety alerts.

    Works through one bounded batch in place and, if the batch was full,
    queues itself again for the rest.
    """
    ids = services.missed_sessions_unprocessed()
    done = sum(services.missed_session_process(event_id=event_id) for event_id in ids)
    for check_id in services.safety_alerts_unsent():
        policies.safety_alert_send(check_id=check_id)
    if len(ids) == services.SWEEP_BATCH:
        sweep_missed_sessions.delay()
    return done


@shared_task(**IDEMPOTENT)
def send_followup(message_id: int) -> str:
    return services.followup_send_now(message_id=message_id)


# Not idempotent (each run sends a mail) and not client-facing: acknowledged
# before it runs, so a worker lost mid-send never mails the clinician twice.
@shared_task(acks_late=False, **SMTP_RETRY)
def notify_clinician_rebooked(appointment_id: int) -> bool:
    return services.clinician_notify_rebooked(appointment_id=appointment_id)


# Like the rebooked notice: acknowledged before it runs, never mailed twice.
@shared_task(acks_late=False, **SMTP_RETRY)
def notify_clinician_response(appointment_id: int, old_start: str = "") -> bool:
    return responses.clinician_notify_response(appointment_id=appointment_id, old_start=old_start)


@shared_task(**IDEMPOTENT)
def sweep_followups() -> int:
    """Every minute: release rows whose lease ran out (a dead worker), then send what is due, one row at a time."""
    sent = services.followups_send_due()
    if sent == services.FOLLOWUP_BATCH:
        sweep_followups.delay()
    return sent


@shared_task(**IDEMPOTENT)
def sweep_fee_holds() -> int:
    """Every five minutes: proposed fees whose review hold has ended become due."""
    return policies.fees_mark_due()
