"""The fair offer: join order, a few at a time, holds, quiet hours, lead time, taken, left."""

from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from aftercare.services import attendance_record, session_move
from appointments.models import Appointment
from followups.models import FollowUpPlan, OutboxMessage
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory
from waitlist import services
from waitlist.models import FreedSlot, WaitlistEntry, WaitlistOffer, WaitlistPlan

from .helpers import cancelled_slot, quiet_hours_off, send_offers, tomorrow_at, waiting_clients

pytestmark = pytest.mark.django_db
Outcome = WaitlistOffer.Outcome


@pytest.fixture(autouse=True)
def _no_quiet_hours(practice):
    quiet_hours_off(practice)


def _offered(slot) -> list[str]:
    return [o.entry.client.first_name for o in slot.offers.select_related("entry__client").order_by("round", "id")]


def test_a_cancel_frees_its_time_once(practice, therapist):
    slot = cancelled_slot(practice, therapist)
    assert slot.status == FreedSlot.Status.OPEN and slot.cause == FreedSlot.Cause.CANCELLED
    # The same outcome again (a double click) frees nothing more.
    attendance_record(appointment_id=slot.freed_by_id, outcome="cancelled", initiated_by="clinician", actor=therapist)
    assert FreedSlot.objects.count() == 1
    assert AuditEvent.objects.filter(action="waitlist.slot_freed", object_id=slot.pk).count() == 1


def test_a_no_show_frees_nothing(practice, therapist, client_of_therapist):
    session = AppointmentFactory(client=client_of_therapist)
    attendance_record(appointment_id=session.pk, outcome="no_show", actor=therapist)
    assert not FreedSlot.objects.exists()


def test_moving_a_session_frees_the_time_it_left(practice, therapist, client_of_therapist):
    start = tomorrow_at(practice, 10)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    session_move(
        appointment=session,
        start=start + timedelta(hours=3),
        end=start + timedelta(hours=3, minutes=50),
        actor=therapist,
    )
    slot = FreedSlot.objects.get()
    assert (slot.start, slot.cause) == (start, FreedSlot.Cause.MOVED)


def test_offers_go_two_at_a_time_in_order_of_joining(practice, therapist):
    waiting_clients(practice, therapist, 5)
    slot = cancelled_slot(practice, therapist)
    assert services.slot_advance(slot_id=slot.pk) == 2
    assert _offered(slot) == ["Wait0", "Wait1"]
    # Held: running the sweep again asks nobody else.
    assert services.offers_advance() == (0, 0)
    assert services.slot_advance(slot_id=slot.pk) == 0
    keys = set(OutboxMessage.objects.filter(purpose="waitlist_offer").values_list("idempotency_key", flat=True))
    assert keys == {f"offer:{slot.pk}:{o.entry.client_id}" for o in slot.offers.all()}
    tokens = send_offers()
    assert set(tokens) == {"w0@example.com", "w1@example.com"}
    body = mail.outbox[0].body
    assert "A time has just come free" in body and "$" not in body and "fee" not in body.lower()


def test_when_the_hold_runs_out_the_next_two_are_asked(practice, therapist):
    WaitlistPlan.objects.create(practice=practice, hold_minutes=30)
    waiting_clients(practice, therapist, 5)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=29)):
        assert services.offers_advance() == (0, 0)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert services.offers_advance() == (1, 2)
    assert _offered(slot) == ["Wait0", "Wait1", "Wait2", "Wait3"]
    outcomes = list(slot.offers.order_by("id").values_list("round", "outcome"))
    assert outcomes == [(1, Outcome.EXPIRED), (1, Outcome.EXPIRED), (2, Outcome.PENDING), (2, Outcome.PENDING)]


def test_an_offer_that_cannot_be_sent_does_not_hold_up_the_next(practice, therapist):
    first, second, third = waiting_clients(practice, therapist, 3)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    services.entry_leave(entry=first, actor=therapist)
    services.entry_leave(entry=second, actor=therapist)
    assert services.slot_advance(slot_id=slot.pk) == 1
    assert _offered(slot)[-1] == third.client.first_name


def test_no_offer_in_quiet_hours(practice, therapist):
    local = timezone.localtime(timezone.now(), practice.time_zone)
    FollowUpPlan.objects.filter(practice=practice).update(
        quiet_start=(local - timedelta(hours=1)).time(), quiet_end=(local + timedelta(hours=1)).time()
    )
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist, start=timezone.now() + timedelta(hours=30))
    assert services.slot_advance(slot_id=slot.pk) == 0
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.OPEN
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert services.slot_advance(slot_id=slot.pk) == 2


def test_no_offer_inside_the_minimum_lead_time(practice, therapist):
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist, start=timezone.now() + timedelta(minutes=90))
    assert services.slot_advance(slot_id=slot.pk) == 0
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.EXPIRED
    # With a shorter lead time set by the practice, such a time is offered.
    WaitlistPlan.objects.create(practice=practice, min_lead_hours=1)
    other = cancelled_slot(practice, therapist, start=timezone.now() + timedelta(minutes=90), minutes=20)
    assert services.slot_advance(slot_id=other.pk) == 2


def test_offers_stop_when_the_time_has_passed(practice, therapist):
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist, start=timezone.now() + timedelta(hours=3))
    services.slot_advance(slot_id=slot.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=4)):
        services.offers_advance()
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.EXPIRED
    assert set(slot.offers.values_list("outcome", flat=True)) == {Outcome.WITHDRAWN}
    assert set(OutboxMessage.objects.values_list("cancel_code", flat=True)) == {"slot_gone"}


def test_only_matching_entries_are_asked(practice, therapist, therapist2):
    start = tomorrow_at(practice, 10)
    weekday = start.astimezone(practice.time_zone).weekday()
    waiting_clients(practice, therapist, 1, clinicians=[therapist2])  # another clinician
    waiting_clients(practice, therapist, 1, weekdays=[(weekday + 1) % 7])  # another day
    waiting_clients(practice, therapist, 1, earliest=time(11), latest=time(18))  # later in the day
    [fits] = waiting_clients(practice, therapist, 1, clinicians=[therapist], weekdays=[weekday])
    slot = cancelled_slot(practice, therapist, start=start)
    assert services.slot_advance(slot_id=slot.pk) == 1
    assert slot.offers.get().entry == fits


def test_the_first_to_accept_books_and_the_other_sees_it_taken(practice, therapist):
    first, second = waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    tokens = send_offers()
    # Opening the link changes nothing.
    page = services.offer_page(token=tokens["w1@example.com"])
    assert page.state == "open" and not Appointment.objects.filter(client=second.client).exists()
    won = services.offer_accept(token=tokens["w1@example.com"])
    assert won.state == "booked"
    assert (won.appointment.start, won.appointment.clinician) == (slot.start, therapist)
    lost = services.offer_accept(token=tokens["w0@example.com"])
    assert lost.state == "taken" and lost.appointment is None
    # A double click on the winner's link shows the booking again, and books nothing more.
    assert services.offer_accept(token=tokens["w1@example.com"]).state == "booked"
    assert Appointment.objects.filter(start=slot.start, status="scheduled").count() == 1
    slot.refresh_from_db()
    second.refresh_from_db()
    first.refresh_from_db()
    assert slot.status == FreedSlot.Status.TAKEN and slot.booked == won.appointment
    assert second.left_how == WaitlistEntry.Left.BOOKED and first.left_at is None
    assert dict(slot.offers.values_list("entry_id", "outcome")) == {
        first.pk: Outcome.TAKEN,
        second.pk: Outcome.ACCEPTED,
    }


def test_time_booked_by_staff_meanwhile_is_taken_not_double_booked(practice, therapist):
    waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    [token] = send_offers().values()
    other = ClientFactory(practice=practice, clinician=therapist)
    AppointmentFactory(client=other, start=slot.start, end=slot.end)
    assert services.offer_accept(token=token).state == "taken"
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.BOOKED_ELSEWHERE
    assert Appointment.objects.filter(start=slot.start, status="scheduled").count() == 1


def test_leaving_from_an_offer_ends_every_pending_offer(practice, therapist):
    [entry] = waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist)
    other = cancelled_slot(practice, therapist, start=tomorrow_at(practice, 14))
    services.slot_advance(slot_id=slot.pk)
    services.slot_advance(slot_id=other.pk)
    token = next(iter(send_offers().values()))
    assert services.offer_leave(token=token).state == "left"
    entry.refresh_from_db()
    assert entry.left_how == WaitlistEntry.Left.CLIENT and entry.left_by is None
    assert set(entry.offers.values_list("outcome", flat=True)) == {Outcome.LEFT}
    assert services.offer_accept(token=token).state == "left"
    assert not Appointment.objects.filter(client=entry.client).exists()


def test_an_offer_is_not_sent_once_the_time_is_taken(practice, therapist):
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    FreedSlot.objects.filter(pk=slot.pk).update(status=FreedSlot.Status.BOOKED_ELSEWHERE)
    assert send_offers() == {}
    assert set(OutboxMessage.objects.values_list("cancel_code", flat=True)) == {"slot_gone"}


def test_a_client_is_on_the_waitlist_once(practice, therapist):
    [entry] = waiting_clients(practice, therapist, 1)
    with pytest.raises(Exception, match="already on the waitlist"):
        services.entry_add(
            practice=practice,
            client=entry.client,
            actor=therapist,
            earliest=time(9),
            latest=time(17),
            expires_on=timezone.localdate() + timedelta(days=3),
        )


def test_a_late_cancel_frees_its_time_and_past_time_frees_nothing(practice, therapist, client_of_therapist):
    start = tomorrow_at(practice, 11)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    attendance_record(appointment_id=session.pk, outcome="late_cancel", initiated_by="client", actor=therapist)
    assert FreedSlot.objects.get().cause == FreedSlot.Cause.LATE_CANCEL
    past = AppointmentFactory(client=client_of_therapist)  # started half an hour ago
    assert services.slot_freed(appointment=past, start=past.start, end=past.end, cause="cancelled") is None
    assert FreedSlot.objects.count() == 1


def test_the_sweep_task_run_twice_asks_each_client_once(practice, therapist):
    from waitlist import tasks

    waiting_clients(practice, therapist, 3)
    slot = cancelled_slot(practice, therapist)
    assert tasks.sweep_waitlist() == 2
    assert tasks.sweep_waitlist() == 0
    assert tasks.advance_slot(slot.pk) == 0
    assert OutboxMessage.objects.filter(purpose="waitlist_offer").count() == 2


def test_staff_removing_a_client_stops_their_unsent_offer(practice, therapist):
    [entry] = waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    services.entry_leave(entry=entry, actor=therapist)
    assert send_offers() == {}
    message = OutboxMessage.objects.get()
    assert (message.status, message.cancel_code) == ("cancelled", "left_waitlist")
    assert AuditEvent.objects.filter(action="waitlist.entry_left", object_id=entry.pk).exists()


def test_a_client_added_again_is_not_asked_twice_for_one_time(practice, therapist):
    [entry] = waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    services.entry_leave(entry=entry, actor=therapist)
    services.entry_add(
        practice=practice,
        client=entry.client,
        actor=therapist,
        earliest=time(0),
        latest=time(23, 59),
        expires_on=timezone.localdate() + timedelta(days=3),
    )
    assert services.offers_advance() == (1, 0)
    assert slot.offers.count() == 1


def test_a_client_saying_they_cant_make_it_frees_the_time(practice, therapist, client_of_therapist):
    from aftercare import responses
    from followups import reminders
    from followups.models import ClientLink

    start = tomorrow_at(practice, 10, days=3)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    token = reminders.session_link_create(purpose=ClientLink.Purpose.CANT_MAKE_IT, appointment=session)
    responses.client_cant_make_it(token=token, late_seen=False)
    slot = FreedSlot.objects.get()
    assert (slot.start, slot.end, slot.cause) == (start, session.end, FreedSlot.Cause.CANCELLED)


def test_an_offer_by_text_is_short_and_reads_as_a_text(practice, therapist, settings, tmp_path):
    """A client who prefers texts gets a text written for a phone: the time, the link, how long it is
    held; not the email's paragraphs ("reply to this email"), never money."""
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path)
    practice.phone = "+1 212 555 0100"
    practice.save(update_fields=["phone"])
    [entry] = waiting_clients(practice, therapist, 1)
    client = entry.client
    client.phone, client.consent_sms, client.preferred_channel = "+1 212 555 0199", True, "sms"
    client.save(update_fields=["phone", "consent_sms", "preferred_channel"])
    slot = cancelled_slot(practice, therapist)
    assert services.slot_advance(slot_id=slot.pk) == 1
    send_offers()
    row = OutboxMessage.objects.get(purpose="waitlist_offer")
    assert (row.channel, row.status) == ("sms", OutboxMessage.Status.SENT)
    [text] = [p.read_text() for p in tmp_path.iterdir()]
    body = text.split("\n\n", 1)[1].strip()
    assert text.startswith("To: +1 212 555 0199")
    assert "/w/" in body and "come free" in body and "call us on (212) 555-0100" in body
    assert "email" not in body.lower() and "$" not in body and "fee" not in body.lower()
    assert len(body) <= 320, len(body)  # two text segments at most
