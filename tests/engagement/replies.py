"""One of each thing a client can tell us, for the selector, view and browser tests of "What the client told us"."""

from datetime import timedelta

from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from followups import delivery
from followups.models import MissReason
from policies.models import Acknowledgement
from practice.services import audit_record
from tests.factories import AppointmentFactory, make_policy
from waitlist.models import FreedSlot, WaitlistEntry, WaitlistOffer

KINDS = {
    "confirmed",
    "cant_make_it",
    "moved",
    "rebooked",
    "reason",
    "waitlist_accepted",
    "waitlist_left",
    "acknowledged",
    "sms_opted_out",
    "sms_start_received",
}


def every_kind_of_reply(client, *, version=None):
    """Rows (and, for STOP / START texts, audit events) for each kind, each at its own time in the last days."""
    now = timezone.now()
    practice = client.practice
    day = timedelta(days=1)
    confirmed = AppointmentFactory(client=client, start=now + 3 * day, confirmed_at=now - 1 * day)
    AppointmentFactory(
        client=client,
        start=now + 4 * day,
        status=Appointment.Status.CANCELLED_IN_TIME,
        client_response=Appointment.ClientResponse.CANT_MAKE_IT,
        client_responded_at=now - 2 * day,
    )
    AppointmentFactory(
        client=client,
        start=now + 5 * day,
        client_response=Appointment.ClientResponse.MOVED,
        client_responded_at=now - 3 * day,
    )
    missed = AppointmentFactory(client=client, start=now - 9 * day, status=Appointment.Status.NO_SHOW)
    event = NoShowEvent.objects.create(practice=practice, appointment=missed, kind="no_show")
    reason = MissReason.objects.create(
        practice=practice, appointment=missed, missed_session=event, reason="transport", text="The bus was late"
    )
    MissReason.objects.filter(pk=reason.pk).update(created_at=now - 4 * day)
    makeup = AppointmentFactory(client=client, start=now + 6 * day, rescheduled_from=missed, created_by=None)
    Appointment.objects.filter(pk=makeup.pk).update(created_at=now - 5 * day)
    entry = WaitlistEntry.objects.create(
        practice=practice, client=client, expires_on=(now + 30 * day).date(), joined_at=now - 20 * day
    )
    for i, outcome in enumerate((WaitlistOffer.Outcome.ACCEPTED, WaitlistOffer.Outcome.LEFT)):
        slot = FreedSlot.objects.create(
            practice=practice,
            clinician=client.clinician,
            start=now + (7 + i) * day,
            end=now + (7 + i) * day + timedelta(minutes=50),
            cause=FreedSlot.Cause.CANCELLED,
        )
        WaitlistOffer.objects.create(
            slot=slot,
            entry=entry,
            round=1,
            offered_at=now - 8 * day,
            held_until=now - 7 * day,
            outcome=outcome,
            answered_at=now - (6 + i) * day,
        )
    version = version or make_policy(practice)
    Acknowledgement.objects.create(
        practice=practice, client=client, version=version, method="link", acknowledged_at=now - 8 * day
    )
    client.consent_sms = True
    client.save(update_fields=["consent_sms"])
    delivery.client_sms_opt_out(clients=[client])  # STOP, through the service the text hook calls
    audit_record(practice=practice, actor=None, action="client.sms_start_received", obj=client)
    return {"confirmed": confirmed, "missed": missed, "makeup": makeup}
