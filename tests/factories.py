from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from appointments.models import Appointment, Client
from practice.models import Membership, Practice


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practice

    name = factory.Sequence(lambda n: f"Practice {n}")
    time_zone = "America/New_York"
    phone = "+1 555 0100"
    sender_name = factory.Sequence(lambda n: f"Office {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    practice = factory.SubFactory(PracticeFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.CLINICIAN


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    practice = factory.SubFactory(PracticeFactory)
    clinician = factory.LazyAttribute(
        lambda c: MembershipFactory(practice=c.practice, role=Membership.Role.CLINICIAN).user
    )
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda c: f"{c.first_name.lower()}@example.com")
    consent_email = True


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    client = factory.SubFactory(ClientFactory)
    practice = factory.LazyAttribute(lambda a: a.client.practice)
    clinician = factory.LazyAttribute(lambda a: a.client.clinician)
    start = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=30))
    end = factory.LazyAttribute(lambda a: a.start + timedelta(minutes=50))


def make_policy(practice, **overrides):
    """A policy version in force for a year, through the service that saves versions."""
    from decimal import Decimal

    from policies.services import policy_version_create

    fields = {
        "effective_at": timezone.now() - timedelta(days=365),
        "currency": "USD",
        "notice_hours": 24,
        "late_cancel_fee": Decimal("40.00"),
        "no_show_fee": Decimal("60.00"),
        "grace_count": 0,
        "grace_days": 90,
        "exempt_intake": True,
        "makeup_days": 7,
        "hold_hours": 48,
    }
    fields.update(overrides)
    return policy_version_create(practice=practice, actor=None, **fields)


def give_availability(practice, clinician, *, weekdays=range(7), start_hour: int, end_hour: int, slot_minutes=60):
    """Weekly windows for a clinician, through the service the Availability page uses.

    `slot_minutes` back to back on an hour grid (no buffer), so 60 gives 09:00, 10:00, 11:00.
    """
    from datetime import time

    from appointments.services import availability_add

    for weekday in weekdays:
        availability_add(
            practice=practice,
            clinician=clinician,
            weekday=weekday,
            start_time=time(start_hour),
            end_time=time(end_hour),
            session_minutes=slot_minutes,
            buffer_minutes=0,
            grid_minutes=slot_minutes if slot_minutes in (15, 30, 60) else 15,
            actor=None,
        )


def ack_token(client, version) -> str:
    """A fresh acknowledgement link's token for `client` and `version`, as the outbox makes one."""
    from followups.models import ClientLink
    from followups.services import client_link_create

    return client_link_create(purpose=ClientLink.Purpose.ACKNOWLEDGE, client=client, days=30, policy_version=version)


def make_ladder(practice, *steps: tuple[int, int]):
    """Ladder steps ("count misses in window_days days"); none given: 3 in 90 days, as migrated."""
    from policies.models import EscalationStep

    return [
        EscalationStep.objects.create(
            practice=practice,
            count=count,
            window_days=days,
            title=f"Check in ({count} in {days} days)",
            script="Hi {first_name}, I wanted to check in. Would a different time or meeting by video help?",
        )
        for count, days in (steps or ((3, 90),))
    ]
