"""A generated history for one practice: sessions with every outcome, misses, reasons, messages, fees.

Rows are written directly (bulk) because the figures only read; what matters is
that every column the figures group by takes many values, including starts either
side of a daylight-saving change in the practice's zone.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from appointments.models import Appointment, NoShowEvent
from followups.models import MissReason, OutboxMessage
from policies.models import FeeAssessment, FeeChange
from practice.models import Membership
from tests.factories import ClientFactory, MembershipFactory

STATUSES = [
    Appointment.Status.ATTENDED,
    Appointment.Status.ATTENDED,
    Appointment.Status.ATTENDED,
    Appointment.Status.NO_SHOW,
    Appointment.Status.LATE_CANCEL,
    Appointment.Status.CANCELLED_IN_TIME,
    Appointment.Status.RESCHEDULED,
]


def make_history(practice, *, seed: int, sessions: int, around: datetime, days: int = 120, clinicians=None):
    """`sessions` sessions of a few clients, starting within `days` before `around` (UTC)."""
    rng = random.Random(seed)
    clinicians = clinicians or [
        MembershipFactory(practice=practice, role=Membership.Role.CLINICIAN).user for _ in range(3)
    ]
    clients = [ClientFactory(practice=practice, clinician=rng.choice(clinicians)) for _ in range(8)]
    rows = []
    for _ in range(sessions):
        client = rng.choice(clients)
        # Whole quarter hours, so some land exactly on the hours a DST change skips or repeats.
        start = around - timedelta(minutes=15 * rng.randrange(days * 96))
        rows.append(
            Appointment(
                practice=practice,
                client=client,
                clinician=client.clinician,
                start=start,
                end=start + timedelta(minutes=50),
                status=rng.choice(STATUSES),
                session_type=rng.choice(Appointment.SessionType.values),
                modality=rng.choice(Appointment.Modality.values),
                client_response=rng.choice(["", "", "", Appointment.ClientResponse.CANT_MAKE_IT]),
                confirmed_at=start - timedelta(days=1) if rng.random() < 0.4 else None,
            )
        )
    appointments = Appointment.objects.bulk_create(rows)
    for a in appointments:
        # created_at is auto_now_add: set it afterwards (lead times from minutes to months, some after the start).
        a.created_at = a.start - timedelta(hours=rng.choice([-2, 3, 30, 24 * 10, 24 * 40]))
    Appointment.objects.bulk_update(appointments, ["created_at"])

    misses = []
    for a in appointments:
        if a.status in Appointment.MISSED_STATUSES:
            misses.append(
                NoShowEvent(
                    practice=practice,
                    appointment=a,
                    kind=a.status,
                    recorded_at=a.start + timedelta(minutes=20),
                    # Some undone (and not counted), kept for the record.
                    undone_at=None,
                )
            )
    misses = NoShowEvent.objects.bulk_create(misses)
    reasons, messages, fees = [], [], []
    for _i, miss in enumerate(misses):
        a = miss.appointment
        if rng.random() < 0.5:
            reasons.append(
                MissReason(
                    practice=practice,
                    appointment=a,
                    missed_session=miss,
                    reason=rng.choice(MissReason.Reason.values + [""]),
                    text=rng.choice(["", "the bus"]),
                )
            )
        for step in ("first", "second"):
            if rng.random() < 0.7:
                messages.append(
                    OutboxMessage(
                        practice=practice,
                        purpose=OutboxMessage.Purpose.FOLLOWUP,
                        idempotency_key=f"followup:{miss.pk}:{step}",
                        missed_session=miss,
                        client=a.client,
                        step=step,
                        kind=step,
                        template_version=rng.choice([1, 2, None]),
                        channel="email",
                        status=rng.choice([OutboxMessage.Status.SENT] * 3 + [OutboxMessage.Status.CANCELLED]),
                        due_at=miss.recorded_at,
                    )
                )
        state = rng.choice(FeeAssessment.State.values)
        fees.append(
            FeeAssessment(
                practice=practice,
                missed_session=miss,
                client=a.client,
                state=state,
                amount=Decimal("60.00") if state in ("proposed", "due", "paid") else Decimal("0"),
                rule=rng.choice(["charged", "grace", "not_acknowledged", "intake_exemption", "makeup"]),
                rule_detail="",
            )
        )
    # A miss not in the practice's live records: undone, it counts nowhere.
    if misses:
        NoShowEvent.objects.filter(pk=misses[-1].pk).update(undone_at=around)
    MissReason.objects.bulk_create(reasons)
    for a in appointments:
        if a.status == Appointment.Status.CANCELLED_IN_TIME and a.client_response and rng.random() < 0.5:
            MissReason.objects.create(practice=practice, appointment=a, reason="forgot")
        if rng.random() < 0.6:
            messages.append(
                OutboxMessage(
                    practice=practice,
                    purpose=OutboxMessage.Purpose.REMINDER,
                    idempotency_key=f"reminder:{a.pk}:{a.start.isoformat()}:1",
                    appointment=a,
                    appointment_start=a.start,
                    reminder_number=1,
                    client=a.client,
                    kind="reminder",
                    channel="email",
                    status=rng.choice([OutboxMessage.Status.SENT] * 4 + [OutboxMessage.Status.FAILED]),
                    due_at=a.start - timedelta(days=2),
                )
            )
    OutboxMessage.objects.bulk_create(messages)
    fees = FeeAssessment.objects.bulk_create(fees)
    changes = [
        FeeChange(fee=f, from_state="proposed", to_state="waived", reason_code=rng.choice(["hardship", "illness", ""]))
        for f in fees
        if f.state == "waived"
    ]
    FeeChange.objects.bulk_create(changes)
    return clinicians


DST_SPRING = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 02:00 EST -> 03:00 EDT in New York
