"""Practice admins set the practice up on the Settings page; every change is audited."""

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from appointments.models import Appointment, Availability
from appointments.selectors import open_slots_for
from practice import selectors, services
from practice.models import AuditEvent, Practice
from tests.factories import AppointmentFactory, give_availability

pytestmark = pytest.mark.django_db

EASTERN = zoneinfo.ZoneInfo("America/New_York")
PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")


def _form(practice: Practice, **changes) -> dict:
    data = {
        "name": practice.name,
        "sender_name": practice.sender_name,
        "reply_to_email": practice.reply_to_email,
        "phone": "(212) 555-0100",
        "address": practice.address,
        "time_zone": str(practice.time_zone),
        "country": practice.country,
        "video_instructions": practice.video_instructions,
        "undo_window_minutes": practice.undo_window_minutes,
        "correction_window_days": practice.correction_window_days,
        "session_minutes": practice.session_minutes,
        "buffer_minutes": practice.buffer_minutes,
        "slot_grid_minutes": practice.slot_grid_minutes,
        "idle_timeout_minutes": practice.idle_timeout_minutes,
    }
    if practice.require_two_factor:
        data["require_two_factor"] = "on"
    data.update(changes)
    return data


def _booked_ahead(client_of_therapist, *, days: int, hour: int) -> Appointment:
    local = datetime.combine(timezone.now().astimezone(EASTERN).date() + timedelta(days=days), time(hour), EASTERN)
    return AppointmentFactory(client=client_of_therapist, start=local, end=local + timedelta(minutes=50))


# ------------------------------------------------------------------ service


def test_update_audits_names_and_old_and_new_values(practice, practice_admin):
    services.practice_update(
        practice=practice, actor=practice_admin, reply_to_email="desk@example.org", undo_window_minutes=15
    )

    practice.refresh_from_db()
    assert (practice.reply_to_email, practice.undo_window_minutes) == ("desk@example.org", 15)
    event = AuditEvent.objects.get(action="practice.updated")
    assert event.actor == practice_admin and event.object_id == practice.pk
    assert event.changes == {
        "fields": ["reply_to_email", "undo_window_minutes"],
        "values": {"reply_to_email": ["", "desk@example.org"], "undo_window_minutes": [10, 15]},
    }


def test_saving_nothing_new_records_nothing(practice, practice_admin):
    services.practice_update(practice=practice, actor=practice_admin, name=practice.name)
    assert not AuditEvent.objects.filter(action="practice.updated").exists()


def test_a_line_break_in_the_sender_name_is_refused(practice, practice_admin):
    with pytest.raises(ValidationError) as caught:
        services.practice_update(practice=practice, actor=practice_admin, sender_name="Office\r\nBcc: x@example.org")
    assert "sender_name" in caught.value.error_dict
    practice.refresh_from_db()
    assert practice.sender_name == "Riverside Office"


def test_an_unknown_time_zone_is_refused(practice, practice_admin):
    with pytest.raises(ValidationError) as caught:
        services.practice_update(practice=practice, actor=practice_admin, time_zone="Mars/Olympus_Mons")
    assert "time_zone" in caught.value.error_dict


def test_the_phone_is_stored_in_e164_read_with_the_practice_country(practice, practice_admin):
    services.practice_update(practice=practice, actor=practice_admin, phone="020 7946 0958", country="GB")
    practice.refresh_from_db()
    assert practice.phone == "+442079460958"
    assert practice.phone_e164 == "+442079460958"
    assert practice.phone_display == "020 7946 0958"


def test_a_phone_that_does_not_parse_is_refused(practice, practice_admin):
    with pytest.raises(ValidationError) as caught:
        services.practice_update(practice=practice, actor=practice_admin, phone="call reception")
    assert "phone" in caught.value.error_dict


def test_an_old_phone_that_does_not_parse_has_no_e164(practice):
    practice.phone = "+1 555 0100"
    assert practice.phone_e164 == ""
    assert practice.phone_display == "+1 555 0100"


def test_unknown_fields_are_a_programming_error(practice, practice_admin):
    with pytest.raises(TypeError):
        services.practice_update(practice=practice, actor=practice_admin, created_at=timezone.now())


def test_a_new_zone_keeps_sessions_at_their_instant_and_availability_at_its_wall_clock(
    practice, practice_admin, therapist, client_of_therapist
):
    booked = _booked_ahead(client_of_therapist, days=3, hour=10)
    instant = booked.start
    give_availability(practice, therapist, start_hour=9, end_hour=12)
    windows = list(Availability.objects.values_list("weekday", "start_time", "end_time"))

    services.practice_update(practice=practice, actor=practice_admin, time_zone="America/Los_Angeles")

    practice.refresh_from_db()
    booked.refresh_from_db()
    assert booked.start == instant
    assert booked.start.astimezone(PACIFIC).hour == 7
    assert list(Availability.objects.values_list("weekday", "start_time", "end_time")) == windows
    # Open slots now start at 09:00 on the Pacific wall clock.
    slots = open_slots_for(clinician_id=therapist.pk, practice=practice)
    assert slots and min(start.astimezone(PACIFIC).time() for start, _ in slots) == time(9)


def test_the_preview_counts_future_booked_sessions_whose_local_time_changes(practice, client_of_therapist, therapist):
    for days in (1, 2, 3):
        _booked_ahead(client_of_therapist, days=days, hour=10)
    cancelled = _booked_ahead(client_of_therapist, days=4, hour=10)
    cancelled.status = Appointment.Status.CANCELLED_IN_TIME
    cancelled.save()
    AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=2))

    change = selectors.zone_change_preview(practice=practice, new_zone="America/Los_Angeles")

    assert change.count == 3
    before, after = change.example
    assert (before.hour, after.hour) == (10, 7)
    assert selectors.zone_change_preview(practice=practice, new_zone="America/Detroit").count == 0


# -------------------------------------------------------------------- views


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_only_practice_admins_open_settings(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/settings/").status_code == 403


def test_settings_change_only_the_admins_own_practice(client, practice, practice_admin, other_practice):
    client.force_login(practice_admin)
    response = client.post("/settings/", _form(practice, reply_to_email="desk@example.org"))
    assert response.status_code == 302
    other_practice.refresh_from_db()
    practice.refresh_from_db()
    assert other_practice.reply_to_email == "" and practice.reply_to_email == "desk@example.org"


def test_another_practices_admin_sees_their_own_settings_only(client, practice, other_practice):
    from tests.conftest import _member

    admin = _member(other_practice, "otheradmin", "admin")
    client.force_login(admin)
    body = client.get("/settings/").content.decode()
    assert "Hillside Practice" in body and "Riverside Practice" not in body


def test_admin_sees_the_link_and_others_do_not(client, practice_admin, therapist):
    client.force_login(practice_admin)
    assert 'href="/settings/"' in client.get("/").content.decode()
    client.force_login(therapist)
    assert 'href="/settings/"' not in client.get("/").content.decode()


def test_bad_input_gets_clear_messages_and_no_500(client, practice, practice_admin):
    client.force_login(practice_admin)
    response = client.post(
        "/settings/",
        _form(
            practice,
            sender_name="Office\nBcc: someone",
            time_zone="Mars/Olympus_Mons",
            phone="call reception",
            undo_window_minutes="0",
            country="XX",
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"sender_name", "time_zone", "phone", "undo_window_minutes", "country"}
    assert "one line" in errors["sender_name"][0]
    practice.refresh_from_db()
    assert practice.sender_name == "Riverside Office"
    assert not AuditEvent.objects.filter(action="practice.updated").exists()


def test_a_new_zone_asks_first_with_the_count_then_saves_on_confirm(
    client, practice, practice_admin, client_of_therapist
):
    for days in (1, 2):
        _booked_ahead(client_of_therapist, days=days, hour=10)
    client.force_login(practice_admin)

    asked = client.post("/settings/", _form(practice, time_zone="America/Los_Angeles"))

    assert asked.status_code == 200
    body = asked.content.decode()
    assert "2 booked sessions will show at a different local time" in body
    assert "10:00 → " in body and " 07:00" in body
    practice.refresh_from_db()
    assert str(practice.time_zone) == "America/New_York"

    saved = client.post(
        "/settings/", _form(practice, time_zone="America/Los_Angeles", confirm_zone="America/Los_Angeles")
    )

    assert saved.status_code == 302
    practice.refresh_from_db()
    assert str(practice.time_zone) == "America/Los_Angeles"
    event = AuditEvent.objects.get(action="practice.updated")
    assert event.changes["values"]["time_zone"] == ["America/New_York", "America/Los_Angeles"]


def test_a_new_zone_with_nothing_booked_saves_at_once(client, practice, practice_admin):
    client.force_login(practice_admin)
    response = client.post(
        "/settings/", _form(practice, time_zone="Europe/London", country="GB", phone="020 7946 0958")
    )
    assert response.status_code == 302
    practice.refresh_from_db()
    assert str(practice.time_zone) == "Europe/London"


def test_a_confirmation_for_another_zone_asks_again(client, practice, practice_admin, client_of_therapist):
    _booked_ahead(client_of_therapist, days=1, hour=10)
    client.force_login(practice_admin)
    response = client.post(
        "/settings/", _form(practice, time_zone="America/Chicago", confirm_zone="America/Los_Angeles")
    )
    assert response.status_code == 200 and "1 booked session will show" in response.content.decode()
    practice.refresh_from_db()
    assert str(practice.time_zone) == "America/New_York"


def test_django_admin_shows_the_settings_read_only(client, practice, practice_admin):
    client.force_login(practice_admin)
    url = f"/admin/practice/practice/{practice.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, _form(practice, sender_name="Changed in admin"))
    practice.refresh_from_db()
    assert practice.sender_name == "Riverside Office"


def test_the_form_shows_the_stored_phone_as_people_write_it(client, practice, practice_admin):
    practice.phone = "+12125550100"
    practice.save(update_fields=["phone"])
    client.force_login(practice_admin)
    assert 'value="(212) 555-0100"' in client.get("/settings/").content.decode()


def test_an_admin_asks_every_member_of_staff_for_two_factors_and_a_shorter_idle_time(
    client, practice, practice_admin, therapist
):
    client.force_login(practice_admin)
    response = client.post("/settings/", _form(practice, require_two_factor="on", idle_timeout_minutes=15))
    assert response.status_code == 302
    practice.refresh_from_db()
    assert practice.require_two_factor is True and practice.idle_timeout_minutes == 15
    event = AuditEvent.objects.filter(action="practice.updated").latest("at")
    assert {"require_two_factor", "idle_timeout_minutes"} <= set(event.changes["fields"])
    bad = client.post("/settings/", _form(practice, idle_timeout_minutes=1))
    assert bad.status_code == 200 and "idle_timeout_minutes" in bad.context["form"].errors
