"""The client's no-login rescheduling page: tokens, slots, races, and bad links."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from aftercare import services as aftercare
from appointments.models import Appointment
from followups import services
from followups.models import ClientLink, MissReason, OutboxMessage
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from tests.factories import AppointmentFactory, give_availability, make_policy

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 14:00 in New York.
MONDAY = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_time_and_fresh_cache():
    cache.clear()
    with time_machine.travel(MONDAY, tick=False):
        yield
    cache.clear()


@pytest.fixture
def missed(practice, therapist, client_of_therapist):
    give_availability(practice, therapist, weekdays=range(5), start_hour=9, end_hour=12)
    appointment = AppointmentFactory(client=client_of_therapist, start=MONDAY - timedelta(hours=1))
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event


@pytest.fixture
def token(missed):
    url = services.reschedule_link_create(event=missed, days=14)
    return url.rsplit("/r/", 1)[1].strip("/")


def url(token):
    return f"/r/{token}/"


def test_get_shows_two_weeks_of_open_times_and_changes_nothing(client, token, practice):
    response = client.get(url(token))
    assert response.status_code == 200
    body = response.content.decode()
    assert practice.sender_name in body and "Robin" in body and "Reed" not in body
    # Tuesday 9 June 09:00 New York is the first slot past the 12-hour lead.
    assert "Tuesday 9 June" in body and "09:00" in body
    assert body.count('name="slot"') == 3 * 9  # nine working days left in the next fourteen, three slots each
    assert Appointment.objects.count() == 1
    assert ClientLink.objects.get().used_at is None


def test_confirming_books_links_and_stops_follow_ups(
    client, token, missed, practice, therapist, front_desk, mailoutbox
):
    version = make_policy(practice)
    acknowledgement_record(client=missed.appointment.client, version=version, method="paper", actor=front_desk)
    from aftercare import tasks

    tasks.process_missed_session(missed.pk)
    assert FeeAssessment.objects.get().state == "proposed"
    slot = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)  # Wednesday 09:00 in New York
    with pytest.MonkeyPatch.context():
        response = client.post(url(token), {"slot": slot.isoformat(), "reason": "transport", "text": "Bus strike"})
    assert response.status_code == 200
    assert b"You're booked for Wednesday 10 June at 09:00" in response.content
    new = Appointment.objects.get(rescheduled_from=missed.appointment)
    assert (new.start, new.clinician, new.status) == (slot, therapist, "scheduled")
    assert ClientLink.objects.get().new_appointment == new
    assert set(OutboxMessage.objects.filter(missed_session=missed).values_list("status", flat=True)) == {"cancelled"}
    assert FeeAssessment.objects.get().state == "waived"
    reason = MissReason.objects.get()
    assert (reason.reason, reason.text) == ("transport", "Bus strike")


def test_the_clinician_sees_the_new_session_and_the_clients_words(client, token, therapist, missed):
    slot = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    client.post(url(token), {"slot": slot.isoformat(), "reason": "unwell"})
    client.force_login(therapist)
    page = client.get(missed.appointment.client.get_absolute_url()).content.decode()
    assert "In their words" in page and "I felt unwell" in page
    week = client.get("/week/?start=2026-06-08").content.decode()
    assert "Wed 10 Jun" in week or "Wednesday 10 June" in week


def test_opening_the_link_again_books_nothing(client, token, missed):
    slot = datetime(2026, 6, 10, 13, 0, tzinfo=UTC).isoformat()
    client.post(url(token), {"slot": slot})
    again = client.get(url(token))
    assert again.status_code == 404 and b"can't be used any more" in again.content
    client.post(url(token), {"slot": datetime(2026, 6, 11, 13, 0, tzinfo=UTC).isoformat()})
    assert Appointment.objects.filter(rescheduled_from=missed.appointment).count() == 1


def test_a_slot_taken_meanwhile_asks_for_another(client, token, missed, therapist, practice):
    slot = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    other = AppointmentFactory(client__practice=practice, client__clinician=therapist, start=slot)
    response = client.post(url(token), {"slot": slot.isoformat()})
    assert response.status_code == 200
    assert b"That time was just taken, please pick another." in response.content
    assert Appointment.objects.filter(clinician=therapist, start=slot).get() == other
    assert ClientLink.objects.get().used_at is None


@pytest.mark.parametrize(
    "slot", ["", "tomorrow", "2026-06-10T13:00:00", "2026-06-10T13:30:00+00:00", "2026-06-07T13:00:00+00:00"]
)
def test_a_time_not_offered_is_refused(client, token, missed, slot):
    response = client.post(url(token), {"slot": slot})
    assert response.status_code == 200
    assert Appointment.objects.count() == 1


def test_an_expired_link_shows_the_phone_and_no_data(client, token, practice):
    with time_machine.travel(MONDAY + timedelta(days=15)):
        response = client.get(url(token))
    assert response.status_code == 404
    body = response.content.decode()
    assert practice.phone in body and "Robin" not in body


@pytest.mark.parametrize("bad", ["forged-token-0123456789", "x", "a" * 200, "%00", "..%2f..%2fetc"])
def test_a_forged_or_malformed_link_shows_a_kind_page(client, missed, bad):
    response = client.get(f"/r/{bad}/")
    assert response.status_code == 404
    # Tokens that reach the view get the kind page; ones that break the path, the site's 404.
    assert b"can't be used any more" in response.content or b"Not found" in response.content
    assert b"Robin" not in response.content
    assert client.post(f"/r/{bad}/", {"slot": "2026-06-10T13:00:00+00:00"}).status_code == 404
    assert Appointment.objects.count() == 1


def test_an_undone_miss_makes_its_link_unusable(client, token, missed, therapist):
    aftercare.attendance_undo(appointment_id=missed.appointment_id, actor=therapist)
    assert client.get(url(token)).status_code == 404


def test_repeated_bad_links_from_one_address_are_slowed_down(client, token):
    for i in range(20):
        assert client.get(f"/r/bad-{i}/").status_code == 404
    response = client.get(url(token))  # even a good link, from that address, for a while
    assert response.status_code == 429
    assert b"try again a little later" in response.content
    other_address = client.get(url(token), REMOTE_ADDR="10.1.2.3")
    assert other_address.status_code == 200
    # Every client-link page shares the limit: the calendar file and the confirm page too.
    for page in (f"/r/{token}/calendar.ics", f"/c/{token}/", f"/policy/ack/{token}/"):
        assert client.get(page).status_code == 429, page


@pytest.mark.django_db(transaction=True)
def test_two_clients_racing_for_one_slot_never_double_book(practice, therapist, client_of_therapist):
    from tests.concurrency import run_concurrently
    from tests.factories import ClientFactory

    give_availability(practice, therapist, weekdays=[2], start_hour=9, end_hour=10)
    tokens = []
    for client in (client_of_therapist, ClientFactory(practice=practice, clinician=therapist)):
        appointment = AppointmentFactory(client=client, start=MONDAY - timedelta(hours=2))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        tokens.append(services.reschedule_link_create(event=event, days=14).rsplit("/r/", 1)[1].strip("/"))
    slot = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)

    def book(token):
        try:
            aftercare.client_reschedule(token=token, start=slot)
        except aftercare.SlotTaken:
            return "taken"
        return "booked"

    outcomes = run_concurrently(book, args_list=[(t,) for t in tokens])
    assert sorted(outcomes) == ["booked", "taken"]
    assert Appointment.objects.filter(clinician=therapist, start=slot).count() == 1


def test_sms_goes_through_the_file_backend_with_consent(practice, therapist, settings, tmp_path):
    from aftercare import tasks
    from tests.factories import ClientFactory

    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path)
    client = ClientFactory(
        practice=practice, clinician=therapist, preferred_channel="sms", phone="+1 555 0142", consent_sms=True
    )
    appointment = AppointmentFactory(client=client, start=MONDAY - timedelta(hours=1))
    aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    with time_machine.travel(MONDAY + timedelta(hours=2), tick=False):
        tasks.sweep_followups()
    [sent] = list(tmp_path.iterdir())
    body = sent.read_text()
    assert body.startswith("To: +1 555 0142") and "/r/" in body and client.first_name in body
    assert OutboxMessage.objects.get(missed_session__appointment=appointment, step="first").status == "sent"


def test_reopening_ones_own_used_link_does_not_count_as_guessing(client, token, missed):
    client.post(url(token), {"slot": datetime(2026, 6, 10, 13, 0, tzinfo=UTC).isoformat()})
    for _ in range(25):
        assert client.get(url(token)).status_code == 404
    assert client.get("/r/unknown-token/").status_code == 404  # still answered: not rate-limited


def test_an_expired_link_of_a_practice_without_a_phone_never_says_call_us_on_nothing(client, token, practice):
    practice.phone, practice.reply_to_email = "", "frontdesk@riverside.example"
    practice.save()
    with time_machine.travel(MONDAY + timedelta(days=15)):
        body = client.get(url(token)).content.decode()
    assert "Call us on" not in body and "Or write to us at frontdesk@riverside.example." in body


# ------------------------------------------------------------------ the GET's cost (issue 11)


def test_the_page_reads_in_one_query_however_busy_the_clinician(
    client, token, missed, practice, therapist, django_assert_num_queries
):
    # The link with all that decides whether it is usable, the windows, the booked sessions, in one
    # statement (aftercare.selectors.rebook_page_read): a busier clinician costs no more queries.
    with django_assert_num_queries(1):
        first = client.get(url(token))
    give_availability(practice, therapist, weekdays=range(5), start_hour=13, end_hour=17)
    for day in range(1, 8):
        AppointmentFactory(
            client__practice=practice, client__clinician=therapist, start=MONDAY + timedelta(days=day, hours=-5)
        )
    with django_assert_num_queries(1):
        busier = client.get(url(token))
    assert first.status_code == busier.status_code == 200
    assert busier.content.decode().count('name="slot"') > first.content.decode().count('name="slot"')


def test_the_anonymous_get_writes_no_session_and_no_audit_row(client, token):
    from django.contrib.sessions.models import Session

    from practice.models import AuditEvent

    audits = AuditEvent.objects.count()
    response = client.get(url(token))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0 and AuditEvent.objects.count() == audits
    # The form still posts: the CSRF cookie is the one thing the GET sets.
    assert "csrftoken" in response.cookies


def test_each_time_is_one_radio_button_with_its_own_label(client, token):
    body = client.get(url(token)).content.decode()
    # Tuesday 9 June, the first day: 09:00 New York is 13:00 UTC.
    assert (
        '<input type="radio" class="btn-check" name="slot" id="slot-1-1" value="2026-06-09T13:00:00+00:00" '
        'autocomplete="off" required>\n<label class="btn btn-outline-primary" for="slot-1-1">09:00</label>'
    ) in body
    assert '<legend class="h6">Tuesday 9 June</legend>' in body
    ids = [part.split('"', 1)[0] for part in body.split(' id="slot-')[1:]]
    assert len(ids) == len(set(ids)) == body.count('name="slot"')


def test_a_miss_already_made_up_by_staff_makes_its_link_unusable(client, token, missed, practice, therapist):
    from appointments.services import appointment_book

    start = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    appointment = missed.appointment
    appointment_book(
        practice=practice,
        client=appointment.client,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
        rescheduled_from=appointment,
        actor=therapist,
    )
    response = client.get(url(token))
    assert response.status_code == 404 and b"can't be used any more" in response.content


def test_an_archived_clients_link_is_unusable(client, token, missed, therapist):
    from appointments.services import client_update

    client_update(client=missed.appointment.client, actor=therapist, is_archived=True)
    response = client.get(url(token))
    assert response.status_code == 404 and b"Robin" not in response.content
