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

from aftercare.services import attendance_record
from appointments.models import Appointment, Availability, Client, NoShowEvent
from appointments.services import appointment_book, appointment_record_outcome, availability_add, client_create
from engagement import services as engagement
from engagement.models import ReflectionNote
from followups import services as followups
from followups.models import ClientLink, FollowUpPlan, ReminderPlan
from policies import rules
from policies.models import Acknowledgement, FeeAssessment, PolicyVersion
from policies.services import acknowledgement_record, fee_assess, policy_version_create
from practice.models import Membership, Practice
from practice.services import practice_create
from practice.two_factor import APP_DEVICE_NAME, secret_for_typing
from waitlist import services as waitlist
from waitlist.models import FreedSlot, WaitlistEntry

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
            # Born through the one service (default plans and ladder), in its own transaction.
            practice, fresh = self._practice(number)
            with transaction.atomic():
                staff = self._staff(practice, number)
                clients = self._clients(practice, staff, number)
                self._availability(practice, staff)
                self._policy(practice, staff, clients)
                if fresh:
                    self._followups(practice)
                    self._reminders(practice)
                booked = self._sessions(practice, staff, clients, number)
                booked += self._reminded_sessions(practice, staff, clients)
                booked += self._repeated_misses(practice, staff, clients)
                # Misses on past days are history, not fresh work: the
                # after-miss pipeline is for misses marked from now on.
                NoShowEvent.objects.filter(
                    practice=practice, processed_at=None, recorded_at__lt=timezone.now() - timedelta(hours=12)
                ).update(processed_at=timezone.now())
            # Outside the block above: the waitlist's steps are durable transactions of their own.
            waiting = self._waitlist(practice, staff, clients)
            self.stdout.write(f"{practice.name}: {len(clients)} clients, {booked} new sessions, {waiting} waiting.")
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

    def _practice(self, number: int) -> tuple[Practice, bool]:
        """The demo practice, made by practice_create the first time (True) and found after."""
        name = "Demo Practice" if number == 1 else f"Demo Practice {number}"
        practice = Practice.objects.filter(name=name).first()
        if practice is not None:
            return practice, False
        try:
            made = practice_create(
                name=name,
                time_zone="America/New_York",
                country="US",
                phone=f"+1 212 555 010{number}",
                sender_name="Maple Street Office" if number == 1 else f"Office {number}",
            )
        except ValidationError as exc:
            raise CommandError(f"Could not create {name}: {exc.messages}") from exc
        return made.practice, True

    def _staff(self, practice, number: int) -> dict:
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
        return staff

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
        20:00-08:00). Set when the demo practice is born; later edits stand."""
        FollowUpPlan.objects.filter(practice=practice).update(
            first_delay_minutes=2, second_after_days=3, quiet_start=time(0, 0), quiet_end=time(0, 0)
        )

    def _repeated_misses(self, practice, staff, clients) -> int:
        """One client of `therapist` missed the last two Saturdays: the client page's strip shows it, and
        Today shows the check-in the ladder gave, with a reflection note the therapist wrote."""
        therapist = staff["therapist"]
        client = next(
            c for c in clients[8:] if c.clinician_id == therapist.pk and not c.needs_safety_check and not c.is_archived
        )
        tz = practice.time_zone
        today = timezone.now().astimezone(tz).date()
        last_saturday = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
        booked = 0
        event = None
        for weeks in (1, 0):
            start = timezone.make_aware(datetime.combine(last_saturday - timedelta(weeks=weeks), time(10)), tz)
            appointment = Appointment.objects.filter(clinician=therapist, start=start).first()
            if appointment is None:
                [appointment] = appointment_book(
                    practice=practice,
                    client=client,
                    clinician=therapist,
                    start=start,
                    end=start + timedelta(minutes=50),
                    actor=None,
                )
                booked += 1
                event = appointment_record_outcome(
                    appointment_id=appointment.pk, outcome="no_show", actor=therapist, now=appointment.end
                ).event
        if event is not None:
            event.processed_at = timezone.now()
            event.save(update_fields=["processed_at"])
            engagement.checkin_tasks_for_miss(event=event)
        if not ReflectionNote.objects.filter(client=client, author=therapist).exists():
            engagement.reflection_note_create(
                membership=therapist.membership,
                client=client,
                text="Saturday mornings seem hard. Offer a weekday evening or a video session.",
            )
        return booked

    def _reminders(self, practice) -> None:
        """Demo plan: one email 24 hours before (set when the demo practice is born; later edits stand)."""
        ReminderPlan.objects.filter(practice=practice).update(first_hours=24, first_channel="email")

    def _reminded_sessions(self, practice, staff, clients) -> int:
        """Three sessions about a day from now, so `make run` shows reminders going out: the first
        one's reminder time (24 hours before) passed a few minutes ago, so the first minute sweep
        sends it and the Messages page lists it; the other two follow within the hour. Tomorrow's
        other sessions get theirs as their time comes; those whose reminder time passed more than an
        hour before the demo was seeded show as skipped, with the reason. The first one's client used
        their grace last week (`_grace_used`), so its "I can't make it" names the fee and offers a
        fee-free move. A run that finds a session in those hours already adds nothing."""
        self._reminders(practice)
        now = timezone.now().replace(second=0, microsecond=0)
        soon = now + timedelta(hours=24)
        window = (soon - timedelta(minutes=30), soon + timedelta(hours=1))
        if Appointment.objects.filter(practice=practice, start__gt=window[0], start__lte=window[1]).exists():
            return 0
        ready = [c for c in clients if not c.is_archived and c.consent_email and c.email][:3]
        clinicians = (staff["therapist"], staff["therapist2"], staff["therapist"])
        if ready:
            self._grace_used(practice, staff, ready[0])
        booked = 0
        for minutes, clinician, client in zip((-5, 10, 55), clinicians, ready, strict=False):
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
            for offset in range(-28, 29):
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

    def _waitlist(self, practice, staff, clients) -> int:
        """Three clients wait for an earlier time with the first therapist. A session in two days is
        cancelled: its time is offered to the first two, and the first takes it (as from the link in
        their email), so the Waitlist page shows a freed time taken. A second cancelled session, later,
        is offered too; the worker sends those offers when `make run` starts. Once per practice."""
        if WaitlistEntry.objects.filter(practice=practice).exists():
            return 0
        therapist = staff["therapist"]
        now = timezone.now()
        waiting = [
            c for c in clients if c.clinician_id == therapist.pk and c.consent_email and c.email and not c.is_archived
        ][-3:]
        for client in waiting:
            waitlist.entry_add(
                practice=practice,
                client=client,
                actor=staff["frontdesk"],
                clinicians=[therapist],
                earliest=time(8),
                latest=time(18),
                expires_on=timezone.localdate(now, practice.time_zone) + timedelta(days=60),
            )
        later = (
            Appointment.objects.filter(clinician=therapist, status=Appointment.Status.SCHEDULED, start__gt=now)
            .exclude(client__in=waiting)
            .order_by("start")
        )
        taken = later.filter(start__gte=now + timedelta(days=2)).first()
        offered = later.filter(start__gte=now + timedelta(days=5)).first()
        for session in (taken, offered):
            if session is not None:
                attendance_record(
                    appointment_id=session.pk, outcome="cancelled", initiated_by="client", actor=staff["frontdesk"]
                )
        if taken is not None:
            slot = FreedSlot.objects.get(freed_by=taken)
            waitlist.slot_advance(slot_id=slot.pk)
            offer = slot.offers.select_related("entry__client").order_by("id").first()
            if offer is not None:
                # What the client's link does: a link for the offer, then "Take this time".
                token = followups.client_link_create(
                    purpose=ClientLink.Purpose.WAITLIST_OFFER,
                    client=offer.entry.client,
                    days=0,
                    expires_at=offer.held_until,
                )
                offer.links.add(ClientLink.objects.get(token_hash=followups.token_hash(token)))
                waitlist.offer_accept(token=token)
        return WaitlistEntry.objects.filter(practice=practice, left_at__isnull=True).count()

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
