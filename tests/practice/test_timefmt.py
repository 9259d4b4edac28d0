"""Every time shown outside a staff page is in the practice's zone, and client pages name it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from aftercare import services as aftercare
from policies import services as policies
from practice import timefmt
from tests.factories import AppointmentFactory, ack_token, make_policy

pytestmark = pytest.mark.django_db

# 17:30 UTC is 09:30 in Los Angeles (PST, UTC-8) on 2 December 2025.
START = datetime(2025, 12, 2, 17, 30, tzinfo=UTC)


@pytest.fixture
def pacific(practice):
    practice.time_zone = "America/Los_Angeles"
    practice.save(update_fields=["time_zone"])
    return practice


def test_the_rebooked_email_shows_the_practice_local_time(pacific, therapist, client_of_therapist):
    therapist.email = "therapist@example.org"
    therapist.save()
    appointment = AppointmentFactory(client=client_of_therapist, start=START, end=START + timedelta(minutes=50))

    assert aftercare.clinician_notify_rebooked(appointment_id=appointment.pk) is True

    [email] = mail.outbox
    assert "Tuesday 2 December at 09:30" in email.body
    assert "17:30" not in email.body
    html = email.alternatives[0][0]
    assert "09:30" in html and "17:30" not in html


def test_the_safety_alert_shows_the_practice_local_time(pacific, therapist, client_of_therapist):
    therapist.email = "therapist@example.org"
    therapist.save()
    client_of_therapist.needs_safety_check = True
    client_of_therapist.save()
    appointment = AppointmentFactory(client=client_of_therapist, start=START, end=START + timedelta(minutes=50))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    check, _ = policies.safety_check_open(event=event)
    mail.outbox.clear()

    assert policies.safety_alert_send(check_id=check.pk) is True

    [email] = mail.outbox
    assert "Tue 2 Dec, 09:30" in email.body and "17:30" not in email.body


def test_the_acknowledgement_page_shows_local_times_and_names_the_zone(client, pacific, client_of_therapist):
    version = make_policy(pacific, effective_at=START)
    token = ack_token(client_of_therapist, version)

    body = client.get(f"/policy/ack/{token}/").content.decode()

    assert "2 Dec 2025 09:30" in body and "17:30" not in body
    assert "Times are Pacific Time" in body


def test_an_unmapped_zone_is_named_by_its_iana_name(practice):
    practice.time_zone = "Europe/Berlin"
    assert timefmt.zone_label(practice) == "Europe/Berlin"
    practice.time_zone = "America/New_York"
    assert timefmt.zone_label(practice) == "Eastern Time"


def test_local_converts_to_the_practice_wall_clock(pacific):
    assert timefmt.local(START, pacific).strftime("%H:%M") == "09:30"


def test_client_pages_show_the_practice_phone_as_people_write_it(client, practice, client_of_therapist):
    practice.phone = "+12125550100"
    practice.save(update_fields=["phone"])
    version = make_policy(practice)
    token = ack_token(client_of_therapist, version)

    body = client.get(f"/policy/ack/{token}/").content.decode()

    assert "Call us on (212) 555-0100" in body
