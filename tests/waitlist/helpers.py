"""Shared set-up for the waitlist tests: quiet hours off, waiting clients, a freed slot, the offer links sent."""

import re
from datetime import datetime, time, timedelta

from django.core import mail
from django.utils import timezone

from aftercare.services import attendance_record
from followups import services as outbox
from followups.models import FollowUpPlan
from tests.factories import AppointmentFactory, ClientFactory
from waitlist import services
from waitlist.models import FreedSlot

OFFER_LINK = re.compile(r"https?://\S+/w/([^/\s]+)/")


def quiet_hours_off(practice) -> None:
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})


def tomorrow_at(practice, hour: int, days: int = 1) -> datetime:
    local = timezone.localdate(timezone.now(), practice.time_zone) + timedelta(days=days)
    return timezone.make_aware(datetime.combine(local, time(hour)), practice.time_zone)


def waiting_clients(practice, clinician, count: int, *, actor=None, **entry) -> list:
    """`count` clients on the waitlist, joined in this order, waiting for any time of any day by default."""
    entries = []
    for n in range(count):
        client = ClientFactory(practice=practice, clinician=clinician, first_name=f"Wait{n}", email=f"w{n}@example.com")
        fields = {"earliest": time(0), "latest": time(23, 59), "expires_on": timezone.localdate() + timedelta(days=30)}
        fields.update(entry)
        entries.append(services.entry_add(practice=practice, client=client, actor=actor, **fields))
    return entries


def cancelled_slot(practice, clinician, *, start=None, minutes: int = 50) -> FreedSlot:
    """A session of someone not waiting, cancelled by the clinician: the time it frees."""
    start = start or tomorrow_at(practice, 10)
    holder = ClientFactory(practice=practice, clinician=clinician, first_name="Holder")
    session = AppointmentFactory(client=holder, start=start, end=start + timedelta(minutes=minutes))
    attendance_record(appointment_id=session.pk, outcome="cancelled", initiated_by="clinician", actor=clinician)
    return FreedSlot.objects.get(freed_by=session)


def send_offers() -> dict[str, str]:
    """Send every due outbox row, as the minute sweep does; the offer link's token by recipient address."""
    before = len(mail.outbox)
    outbox.outbox_send_due(limit=100)
    return {m.to[0]: OFFER_LINK.search(m.body).group(1) for m in mail.outbox[before:] if OFFER_LINK.search(m.body)}
