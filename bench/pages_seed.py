"""A practice with realistic data for the page benchmark (bench/pages.py). Bench databases only.

Run inside Django (`python -m bench.pages_seed` with DJANGO_SETTINGS_MODULE set).
It refuses any database whose name does not start with `bench_`. Rows are
written in bulk: the benchmark measures the pages that read them, not the
services that write them (those have their own tests). Prints one JSON line:
the usernames, the password, the admin's TOTP key and the ids the pages need.

The shape, per the issue: Today 20 sessions, Week ~140 rows, one client with
60 sessions, 500 clients, missed sessions with fees and messages, ~30 sessions
that need an outcome.
"""

import json
import os
import random
import zoneinfo
from datetime import datetime, time, timedelta
from decimal import Decimal

import django

CLINICIANS = 10
CLIENTS = 500
PER_DAY = 20  # sessions per weekday: 2 per clinician
PAST_DAYS = 42
AHEAD_DAYS = 14
PASSWORD = "bench-only-password"  # noqa: S105 - a throwaway bench database


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.production")
    django.setup()
    print(json.dumps(seed()))


def seed() -> dict:
    """Write the practice (inside Django, bench databases only); the ids and keys the benches need."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from appointments.models import Appointment, Client, NoShowEvent
    from followups.models import OutboxMessage
    from policies.models import FeeAssessment
    from policies.services import policy_version_create
    from practice.models import Membership, Practice

    name = connection.settings_dict["NAME"]
    if not str(name).startswith("bench_"):
        raise SystemExit(f"pages_seed writes only to a database named bench_*, not {name!r}")

    rng = random.Random(11)  # noqa: S311 - repeatable bench data, not security
    User = get_user_model()
    with transaction.atomic():
        practice = Practice.objects.create(name="Bench Practice", time_zone="America/New_York", phone="+1 555 0100")
        tz = zoneinfo.ZoneInfo(str(practice.time_zone))
        admin = User.objects.create_user(
            "bench-admin", "bench-admin@example.org", PASSWORD, first_name="Avery", last_name="Admin", is_staff=True
        )
        Membership.objects.create(practice=practice, user=admin, role=Membership.Role.ADMIN)
        device = TOTPDevice.objects.create(user=admin, name="Authenticator app", confirmed=True)
        clinicians = []
        for i in range(CLINICIANS):
            user = User.objects.create_user(
                f"bench-clin{i}", f"bench-clin{i}@example.org", PASSWORD, first_name=f"Clin{i}", last_name=f"Doe{i:02d}"
            )
            Membership.objects.create(practice=practice, user=user, role=Membership.Role.CLINICIAN, is_clinician=True)
            clinicians.append(user)
        policy_version_create(
            practice=practice,
            actor=None,
            effective_at=timezone.now() - timedelta(days=365),
            currency="USD",
            notice_hours=24,
            late_cancel_fee=Decimal("40.00"),
            no_show_fee=Decimal("60.00"),
            grace_count=0,
            grace_days=90,
            exempt_intake=True,
            makeup_days=7,
            hold_hours=48,
        )
        clients = Client.objects.bulk_create(
            Client(
                practice=practice,
                clinician=clinicians[i % CLINICIANS],
                first_name=f"Client{i}",
                last_name=f"Sample{i:03d}",
                email=f"client{i}@example.com",
                consent_email=True,
            )
            for i in range(CLIENTS)
        )
        today = timezone.now().astimezone(tz).date()
        now = timezone.now()
        rows = []
        for offset in range(-PAST_DAYS, AHEAD_DAYS):
            day = today + timedelta(days=offset)
            for k in range(PER_DAY):
                clinician_index = k % CLINICIANS
                hour = 9 + (k // CLINICIANS) * 2
                start = datetime.combine(day, time(hour), tzinfo=tz)
                # A client of this clinician (client i belongs to clinician i % CLINICIANS).
                per_clinician = CLIENTS // CLINICIANS
                client = clients[clinician_index + CLINICIANS * ((offset * 3 + k // CLINICIANS) % per_clinician)]
                status = Appointment.Status.SCHEDULED
                if start < now and offset < 0:
                    roll = rng.random()
                    status = (
                        Appointment.Status.NO_SHOW
                        if roll < 0.08
                        else Appointment.Status.LATE_CANCEL
                        if roll < 0.12
                        else Appointment.Status.SCHEDULED
                        if roll < 0.16
                        else Appointment.Status.ATTENDED
                    )
                rows.append(
                    Appointment(
                        practice=practice,
                        client=client,
                        clinician=clinicians[clinician_index],
                        start=start,
                        end=start + timedelta(minutes=50),
                        status=status,
                    )
                )
        # One client with 60 sessions: weekly, at 07:00, going back 60 weeks.
        regular = clients[0]
        for week in range(1, 61):
            start = datetime.combine(today - timedelta(weeks=week), time(7), tzinfo=tz)
            rows.append(
                Appointment(
                    practice=practice,
                    client=regular,
                    clinician=regular.clinician,
                    start=start,
                    end=start + timedelta(minutes=50),
                    status=Appointment.Status.ATTENDED,
                )
            )
        appointments = Appointment.objects.bulk_create(rows)
        missed = [a for a in appointments if a.status in (Appointment.Status.NO_SHOW, Appointment.Status.LATE_CANCEL)]
        events = NoShowEvent.objects.bulk_create(
            NoShowEvent(
                practice=practice,
                appointment=a,
                kind=(
                    NoShowEvent.Kind.NO_SHOW if a.status == Appointment.Status.NO_SHOW else NoShowEvent.Kind.LATE_CANCEL
                ),
                recorded_by=admin,
                recorded_at=a.end,
                processed_at=a.end,
            )
            for a in missed
        )
        by_id = {a.pk: a for a in missed}
        FeeAssessment.objects.bulk_create(
            FeeAssessment(
                practice=practice,
                missed_session=e,
                client_id=by_id[e.appointment_id].client_id,
                state=rng.choice([FeeAssessment.State.PROPOSED, FeeAssessment.State.DUE, FeeAssessment.State.PAID]),
                amount=Decimal("60.00") if e.kind == NoShowEvent.Kind.NO_SHOW else Decimal("40.00"),
                rule="no_show" if e.kind == NoShowEvent.Kind.NO_SHOW else "late_cancel",
                rule_detail="Bench fee",
                due_at=e.recorded_at + timedelta(days=7),
                session_start=by_id[e.appointment_id].start,
                clinician_id=by_id[e.appointment_id].clinician_id,
            )
            for e in events
        )
        OutboxMessage.objects.bulk_create(
            OutboxMessage(
                practice=practice,
                idempotency_key=f"followup:{e.pk}:first",
                missed_session=e,
                client_id=by_id[e.appointment_id].client_id,
                step=OutboxMessage.Step.FIRST,
                kind="first" if e.kind == NoShowEvent.Kind.NO_SHOW else "first_late_cancel",
                channel=OutboxMessage.Channel.EMAIL,
                status=OutboxMessage.Status.SENT,
                due_at=e.recorded_at + timedelta(hours=1),
                sent_at=e.recorded_at + timedelta(hours=1),
                attempts=1,
            )
            for e in events
        )
    # Statistics, as a database in use has them (autovacuum): bulk-loaded tables have none until
    # autovacuum gets to them, and the first minutes' plans then depend on when it does.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "admin": admin.username,
        "password": PASSWORD,
        "totp_key": device.key,
        "client_id": regular.pk,
        "missed": len(events),
        "today": sum(1 for a in appointments if a.start.astimezone(tz).date() == today),
    }


if __name__ == "__main__":
    main()
