"""Demo data: a practice with staff, clients, weekly availability, a cancellation policy and eight weeks of sessions.

Idempotent: a second run finds what the first made and adds nothing. Sessions
are planned per clinician and local day; a day that already has any session
for that clinician is left as it is.
"""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from appointments.models import Appointment, Availability, Client, NoShowEvent
from appointments.services import appointment_book, appointment_record_outcome, availability_add, client_create
from followups.models import FollowUpPlan, ReminderPlan
from policies import rules
from policies.models import Acknowledgement, FeeAssessment, PolicyVersion
from policies.services import acknowledgement_record, fee_assess, policy_version_create
from practice.models import Membership, Practice
from practice.two_factor import APP_DEVICE_NAME, secret_for_typing

User = get_user_model()
DEMO_PASSWORD = "demo"  # noqa: S105 - demo accounts only, printed for the user

FIRST_NAMES = [
    "Alex",
    "Blake",
    "Casey",
    "Dana",
    "Eli",
    "Farah",
    "Gus",
    "Hana",
    "Ian",
    "Jo",
    "Kai",
    "Lena",
    "Milo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tess",
    "Uma",
    "Vic",
    "Wren",
    "Xavi",
    "Yara",
    "Zane",
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
]
LAST_NAMES = [
    "Adler",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Murphy",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
    "Abbott",
    "Bauer",
    "Costa",
    "Dube",
]
# Local hours at which the demo books sessions on working days.
HOURS = [9, 10, 11, 13, 14, 15, 16]
# Weekly availability of both demo clinicians, Monday to Friday, 50-minute slots.
WINDOWS = [(time(9), time(12)), (time(13), time(17))]


class Command(BaseCommand):
    help = "Create demo practices, staff, clients and sessions (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--practices", type=int, default=1, help="How many demo practices (1 to 5).")

    def handle(self, *args, practices: int, **options):
        self._admins: list[str] = []
        if not 1 <= practices <= 5:
            raise CommandError("--practices takes a number from 1 to 5.")
        for number in range(1, practices + 1):
            with transaction.atomic():
                practice, staff = self._practice(number)
                clients = self._clients(practice, staff, number)
                self._availability(practice, staff)
                self._policy(practice, staff, clients)
                self._followups(practice)
                booked = self._sessions(practice, staff, clients, number)
                booked += self._reminded_sessions(practice, staff, clients)
                self._insights_history(practice, number)
                # Misses on past days are history, not fresh work: the
                # after-miss pipeline is for misses marked from now on.
                NoShowEvent.objects.filter(
                    practice=practice, processed_at=None, recorded_at__lt=timezone.now() - timedelta(hours=12)
                ).update(processed_at=timezone.now())
            self.stdout.write(f"{practice.name}: {len(clients)} clients, {booked} new sessions.")
        self.stdout.write(self.style.WARNING("Demo accounts, password 'demo' (demo only, never in production):"))
        for number in range(1, practices + 1):
            suffix = "" if number == 1 else f"-{number}"
            names = ", ".join(f"{n}{suffix}" for n in ("admin", "therapist", "therapist2", "frontdesk"))
            self.stdout.write(f"  Demo Practice{'' if number == 1 else f' {number}'}: {names}")
        self.stdout.write(
            self.style.WARNING("Practice admins sign in with two factors. Add this key to an authenticator app,")
        )
        self.stdout.write(
            self.style.WARNING("or run `.venv/bin/python manage.py demo_code admin` for the current code:")
        )
        for device in TOTPDevice.objects.filter(user__username__in=self._admins, confirmed=True).select_related("user"):
            self.stdout.write(f"  {device.user.username}: {secret_for_typing(device)}")

    def _practice(self, number: int):
        name = "Demo Practice" if number == 1 else f"Demo Practice {number}"
        practice, _ = Practice.objects.get_or_create(
            name=name,
            defaults={
                "time_zone": "America/New_York",
                "phone": f"+1 212 555 010{number}",
                "sender_name": "Maple Street Office" if number == 1 else f"Office {number}",
            },
        )
        suffix = "" if number == 1 else f"-{number}"
        staff = {}
        people = [
            ("admin", "Avery", "Admin", Membership.Role.ADMIN),
            ("therapist", "Theo", "Therapist", Membership.Role.CLINICIAN),
            ("therapist2", "Tamsin", "Second", Membership.Role.CLINICIAN),
            ("frontdesk", "Frankie", "Desk", Membership.Role.FRONT_DESK),
        ]
        for key, first, last, role in people:
            username = f"{key}{suffix}"
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@demo.invalid",
                    "is_staff": role == Membership.Role.ADMIN,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(user=user, defaults={"practice": practice, "role": role})
            if role == Membership.Role.ADMIN:
                # Admins always use two factors: enrolled here, key printed above.
                TOTPDevice.objects.get_or_create(user=user, confirmed=True, defaults={"name": APP_DEVICE_NAME})
                self._admins.append(username)
            staff[key] = user
        return practice, staff

    def _availability(self, practice, staff) -> None:
        """Mon-Fri 09:00-12:00 and 13:00-17:00, at the practice's session length, buffer and grid.

        A clinician with any window already is left as they are."""
        for clinician in (staff["therapist"], staff["therapist2"]):
            if Availability.objects.filter(clinician=clinician).exists():
                continue
            for weekday in range(5):
                for start_time, end_time in WINDOWS:
                    availability_add(
                        practice=practice,
                        clinician=clinician,
                        weekday=weekday,
                        start_time=start_time,
                        end_time=end_time,
                        actor=None,
                    )

    def _followups(self, practice) -> None:
        """A short first-message delay and no quiet hours, so the whole journey can
        be tried at once at any hour (real practices start with 60 minutes and
        20:00-08:00). Set once; later edits stand."""
        if not FollowUpPlan.objects.filter(practice=practice).exists():
            FollowUpPlan.objects.create(
                practice=practice,
                first_delay_minutes=2,
                second_after_days=3,
                quiet_start=time(0, 0),
                quiet_end=time(0, 0),
            )

    def _reminders(self, practice) -> None:
        """Demo plan: one email 24 hours before (set once; later edits stand)."""
        ReminderPlan.objects.get_or_create(practice=practice, defaults={"first_hours": 24, "first_channel": "email"})

    def _reminded_sessions(self, practice, staff, clients) -> int:
        """Two sessions a little over a day from now, so `make run` shows their reminders going out
        within the hour (the minute sweep). Tomorrow's other sessions get theirs as their time comes;
        those whose reminder time passed before the demo was seeded show as skipped, with the reason.
        A run that finds a session in that hour already adds nothing."""
        self._reminders(practice)
        now = timezone.now().replace(second=0, microsecond=0)
        soon = now + timedelta(hours=24)
        if Appointment.objects.filter(practice=practice, start__gt=soon, start__lte=soon + timedelta(hours=1)).exists():
            return 0
        ready = [c for c in clients if not c.is_archived and c.consent_email and c.email][:2]
        if ready:
            self._grace_used(practice, staff, ready[0])
        booked = 0
        for minutes, clinician, client in zip((10, 40), (staff["therapist"], staff["therapist2"]), ready, strict=False):
            start = soon + timedelta(minutes=minutes)
            try:
                appointment_book(
                    practice=practice,
                    client=client,
                    clinician=clinician,
                    start=start,
                    end=start + timedelta(minutes=50),
                    session_type="individual",
                    modality="telehealth",
                    actor=None,
                )
            except ValidationError:
                continue  # the clinician is busy then: the demo does without this one
            booked += 1
        return booked

    def _grace_used(self, practice, staff, client) -> None:
        """The first reminded client cancelled late last week and grace let them off, so this time
        their reminder's "I can't make it" names the $40 fee and offers times within the make-up
        window instead: picking one is a move with no fee (`make run`). Once only."""
        if FeeAssessment.objects.filter(client=client, rule=rules.RULE_GRACE).exists():
            return
        day = (timezone.now() - timedelta(days=6)).astimezone(practice.time_zone).date()
        start = timezone.make_aware(datetime.combine(day, time(7)), practice.time_zone)
        try:
            [appointment] = appointment_book(
                practice=practice,
                client=client,
                clinician=client.clinician,
                start=start,
                end=start + timedelta(minutes=50),
                session_type="individual",
                modality="telehealth",
                actor=None,
            )
        except ValidationError:
            return  # the clinician was busy then: the demo does without it
        result = appointment_record_outcome(
            appointment_id=appointment.pk,
            outcome="late_cancel",
            actor=staff["frontdesk"],
            initiated_by="client",
            now=start - timedelta(hours=3),
        )
        fee_assess(event=result.event)
        result.event.processed_at = timezone.now()
        result.event.save(update_fields=["processed_at"])

    def _policy(self, practice, staff, clients) -> None:
        """Version 1, in force for a year. Today's clients (the first eight) and most
        others acknowledged it; a few have not, so "not acknowledged" shows too."""
        version = PolicyVersion.objects.filter(practice=practice).order_by("number").first()
        if version is None:
            version = policy_version_create(
                practice=practice,
                actor=staff["admin"],
                effective_at=timezone.now() - timedelta(days=365),
                currency="USD",
                notice_hours=24,
                late_cancel_fee=Decimal("40.00"),
                no_show_fee=Decimal("60.00"),
                grace_count=1,
                grace_days=90,
                exempt_intake=True,
                makeup_days=7,
                hold_hours=48,
                # The terms themselves are written from the fields above; this is the note after them.
                summary=(
                    "We hold your session time for you alone. If something comes up, call or email us "
                    "as soon as you can: we would much rather hear from you, and we can often find "
                    "another time that week."
                ),
                overrides={"intake": (Decimal("0.00"), Decimal("0.00"))},
            )
        if Acknowledgement.objects.filter(version=version).exists():
            return
        for i, client in enumerate(clients):
            if i < 8 or i % 4:
                acknowledgement_record(
                    client=client,
                    version=version,
                    method="in_person" if i % 2 else "paper",
                    actor=staff["frontdesk"],
                    at=timezone.now() - timedelta(days=300),
                )

    def _clients(self, practice, staff, number: int) -> list[Client]:
        clinicians = [staff["therapist"], staff["therapist2"]]
        clients = []
        for i in range(30):
            first, last = FIRST_NAMES[i], LAST_NAMES[(i + number - 1) % 30]
            existing = Client.objects.filter(practice=practice, first_name=first, last_name=last).first()
            if existing:
                clients.append(existing)
                continue
            # The first eight clients are the ones with sessions already under
            # way today: reachable by email, consenting, no safety flag, so the
            # whole journey can be tried at once. The others show other cases.
            ready = i < 8
            email = f"{first.lower()}.{last.lower()}@example.com"
            fields = {
                "first_name": first,
                "last_name": last,
                "clinician": clinicians[i % 2],
                "email": email if ready or i % 3 else "",
                "phone": f"+1 212 555 01{i:02d}" if not ready and i % 2 else "",
                "preferred_channel": Client.Channel.EMAIL,
                "consent_email": ready or i % 3 == 1,
                "consent_sms": False,
                "needs_safety_check": not ready and i % 7 == 3,
                "is_archived": i == 29,
            }
            if not fields["email"]:
                fields["preferred_channel"] = Client.Channel.PHONE
                fields["phone"] = f"+1 212 555 01{i:02d}"
            clients.append(client_create(practice=practice, actor=None, **fields))
        return clients

    def _sessions(self, practice, staff, clients, number: int) -> int:
        tz = practice.time_zone
        now = timezone.now()
        today = now.astimezone(tz).date()
        rng = random.Random(number)
        active = [c for c in clients if not c.is_archived]
        ready, others = active[:8], active[8:]
        booked = 0
        for index, clinician in enumerate([staff["therapist"], staff["therapist2"]]):
            own = [c for c in others if c.clinician_id == clinician.pk]
            # Twelve weeks back, so every chart on Insights has weeks to show.
            for offset in range(-84, 29):
                day = today + timedelta(days=offset)
                if day.weekday() >= 5:
                    continue
                start_of_day = timezone.make_aware(datetime.combine(day, time.min), tz)
                if Appointment.objects.filter(
                    clinician=clinician, start__gte=start_of_day, start__lt=start_of_day + timedelta(days=1)
                ).exists():
                    continue
                if offset == 0:
                    starts = self._today_starts(now, index)
                    pool = ready[index * 4 : index * 4 + 4]
                else:
                    starts = [
                        timezone.make_aware(datetime.combine(day, time(hour)), tz) for hour in rng.sample(HOURS, 4)
                    ]
                    pool = own
                for n, start in enumerate(sorted(starts)):
                    client = pool[n % len(pool)] if offset == 0 else rng.choice(pool)
                    [appointment] = appointment_book(
                        practice=practice,
                        client=client,
                        clinician=clinician,
                        start=start,
                        end=start + timedelta(minutes=50),
                        session_type="intake" if rng.random() < 0.1 else "individual",
                        modality="telehealth" if rng.random() < 0.3 else "in_person",
                        actor=None,
                    )
                    booked += 1
                    # Past days get outcomes, so histories look lived-in; a
                    # few are left for the "Needs outcome" list.
                    if offset < 0 and rng.random() > 0.1:
                        outcome = rng.choices(
                            ["attended", "no_show", "late_cancel", "cancelled"], weights=[82, 8, 5, 5]
                        )[0]
                        appointment_record_outcome(
                            appointment_id=appointment.pk,
                            outcome=outcome,
                            actor=clinician,
                            initiated_by="client",
                            now=appointment.end,
                        )
        return booked

    def _insights_history(self, practice, number: int) -> None:
        """What the past would hold, so every chart on Insights means something (idempotent).

        1. Sessions were booked ahead (created a few hours to a month before they start),
           and some clients booked again within days of a miss.
        2. Half the clients who missed said what got in the way.
        3. The follow-ups of past misses went out (wording version 1 or 2); past sessions
           were reminded, and most of those who came had confirmed.
        4. Each past miss has its fee decided by the real rules (`fee_assess`).
        Only sessions that started more than a day ago are touched; a second run finds
        the follow-ups sent and the reminders there, and changes nothing.
        """
        from followups.models import MissReason, OutboxMessage
        from followups.reminders import reminder_key

        now = timezone.now()
        past = list(
            Appointment.objects.filter(practice=practice, start__lt=now - timedelta(days=1)).order_by("start", "id")
        )
        if not past or OutboxMessage.objects.filter(practice=practice, purpose="reminder", status="sent").exists():
            return
        rng = random.Random(1000 + number)
        for appointment in past:
            appointment.created_at = appointment.start - timedelta(hours=rng.choice([3, 20, 50, 100, 170, 340, 700]))
        misses = list(
            NoShowEvent.objects.filter(appointment__in=past, undone_at=None).select_related("appointment", "practice")
        )
        by_client: dict[int, list[Appointment]] = {}
        for appointment in past:
            by_client.setdefault(appointment.client_id, []).append(appointment)
        for miss in misses:
            later = [a for a in by_client[miss.appointment.client_id] if a.start > miss.appointment.start]
            if later and rng.random() < 0.6:
                rebooked = miss.recorded_at + timedelta(hours=rng.choice([2, 26, 75, 150, 400]))
                if rebooked < later[0].start:
                    later[0].created_at = rebooked
        Appointment.objects.bulk_update(past, ["created_at"], batch_size=500)

        reasons = [
            MissReason(
                practice=practice,
                appointment=miss.appointment,
                missed_session=miss,
                reason=rng.choice(MissReason.Reason.values),
            )
            for miss in misses
            if rng.random() < 0.5 and not MissReason.objects.filter(missed_session=miss).exists()
        ]
        MissReason.objects.bulk_create(reasons)
        followups = []
        for miss in misses:
            first_kind = "first_late_cancel" if miss.kind == "late_cancel" else "first"
            for step, kind, days in (("first", first_kind, 0), ("second", "second", 3)):
                if step == "second" and rng.random() < 0.5:
                    continue
                sent_at = miss.recorded_at + timedelta(days=days, hours=1)
                followups.append(
                    OutboxMessage(
                        practice=practice,
                        purpose=OutboxMessage.Purpose.FOLLOWUP,
                        idempotency_key=f"followup:{miss.pk}:{step}",
                        missed_session=miss,
                        client_id=miss.appointment.client_id,
                        step=step,
                        kind=kind,
                        template_version=rng.choice([1, 2]),
                        channel="email",
                        status=OutboxMessage.Status.SENT,
                        due_at=sent_at,
                        sent_at=sent_at,
                    )
                )
        OutboxMessage.objects.bulk_create(followups, ignore_conflicts=True)
        reminded, confirmed = [], []
        for appointment in past:
            if appointment.status not in ("attended", "no_show", "late_cancel") or rng.random() > 0.8:
                continue
            reminded.append(
                OutboxMessage(
                    practice=practice,
                    purpose=OutboxMessage.Purpose.REMINDER,
                    idempotency_key=reminder_key(appointment_id=appointment.pk, start=appointment.start, number=1),
                    appointment=appointment,
                    appointment_start=appointment.start,
                    reminder_number=1,
                    client_id=appointment.client_id,
                    kind="reminder",
                    template_version=1,
                    channel="email",
                    status=OutboxMessage.Status.SENT,
                    due_at=appointment.start - timedelta(hours=24),
                    sent_at=appointment.start - timedelta(hours=24),
                )
            )
            if rng.random() < (0.7 if appointment.status == "attended" else 0.25):
                appointment.confirmed_at = appointment.start - timedelta(hours=rng.choice([2, 10, 20]))
                confirmed.append(appointment)
        OutboxMessage.objects.bulk_create(reminded, ignore_conflicts=True)
        Appointment.objects.bulk_update(confirmed, ["confirmed_at"], batch_size=500)
        for miss in sorted(misses, key=lambda m: m.recorded_at):
            fee_assess(event=miss, now=miss.recorded_at)

    @staticmethod
    def _today_starts(now: datetime, index: int) -> list[datetime]:
        """Four sessions today: three already under way or over, one later."""
        base = now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=10 * index)
        return [
            base - timedelta(hours=2),
            base - timedelta(hours=1),
            base,
            base + timedelta(hours=2),
        ]
