import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.services import client_update
from followups import services as followups
from followups.models import ClientLink, OutboxMessage
from followups.tasks import send_message
from policies import services
from policies.models import Acknowledgement, FeeAssessment, PolicyVersion, SafetyCheck
from tests.factories import AppointmentFactory, ClientFactory, make_policy

pytestmark = pytest.mark.django_db


def policy_post(**changes):
    local_now = timezone.localtime(timezone.now(), timezone.get_fixed_timezone(-300))
    data = {
        "effective_at": (local_now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "notice_hours": "24",
        "currency": "usd",
        "late_cancel_fee": "40",
        "no_show_fee": "60.50",
        "grace_count": "1",
        "grace_days": "90",
        "exempt_intake": "on",
        "makeup_days": "7",
        "hold_hours": "48",
        "summary": "Please give 24 hours' notice.",
        "override_intake_no_show": "0",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def fee_for(client, actor, practice, *, acknowledged=True):
    version = PolicyVersion.objects.filter(practice=practice).first() or make_policy(practice)
    if acknowledged:
        services.acknowledgement_record(client=client, version=version, method="paper", actor=actor)
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event
    tasks.process_missed_session(event.pk)
    return FeeAssessment.objects.get(missed_session=event)


def test_an_admin_saves_a_new_version_and_the_old_one_stays(client, practice_admin, practice):
    old = make_policy(practice)
    client.force_login(practice_admin)
    response = client.post(reverse("policies:policy"), policy_post())
    assert response.status_code == 302
    new = PolicyVersion.objects.get(number=2)
    assert (new.no_show_fee, new.currency, new.created_by) == (Decimal("60.50"), "USD", practice_admin)
    assert new.overrides.get(session_type="intake").no_show_fee == Decimal("0")
    old.refresh_from_db()
    assert old.no_show_fee == Decimal("60.00")
    page = client.get(reverse("policies:policy")).content.decode()
    assert "v1" in page and "v2" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("no_show_fee", "-5", "A fee cannot be negative."),
        ("late_cancel_fee", "abc", "Enter an amount"),
        ("notice_hours", "0", "at least 1 hour"),
        ("notice_hours", "9000", "cannot be more than a year"),
        ("notice_hours", "twelve", "Enter a whole number."),
        ("grace_count", "-1", "greater than or equal to 0"),
        ("override_couples_no_show", "-1", "A fee cannot be negative."),
        ("currency", "12$", "three-letter"),
        ("effective_at", "2001-01-01T09:00", "cannot take effect in the past"),
        ("effective_at", "not a date", "Enter a valid date/time."),
    ],
)
def test_bad_policy_input_is_explained_beside_the_field_and_saves_nothing(
    client, practice_admin, field, value, message
):
    client.force_login(practice_admin)
    response = client.post(reverse("policies:policy"), policy_post(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PolicyVersion.objects.exists()


def test_non_admins_read_the_policy_but_cannot_change_it(client, front_desk, therapist, practice):
    make_policy(practice)
    for user in (front_desk, therapist):
        client.force_login(user)
        assert client.get(reverse("policies:policy")).status_code == 200
        response = client.post(reverse("policies:policy"), policy_post(), follow=True)
        assert b"Only practice admins" in response.content
    assert PolicyVersion.objects.count() == 1


def test_fees_page_is_for_admins_and_front_desk(client, therapist, front_desk, practice_admin):
    client.force_login(therapist)
    assert client.get(reverse("policies:fees")).status_code == 403
    for user in (front_desk, practice_admin):
        client.force_login(user)
        assert client.get(reverse("policies:fees")).status_code == 200


def test_fees_page_filters_and_shows_why(client, front_desk, therapist, therapist2, practice, client_of_therapist):
    charged = fee_for(client_of_therapist, therapist, practice)
    other = ClientFactory(practice=practice, clinician=therapist2, first_name="Noel", last_name="Ack")
    not_charged = fee_for(other, therapist2, practice, acknowledged=False)
    client.force_login(front_desk)
    url = reverse("policies:fees")
    page = client.get(url).content.decode()
    assert f'id="fee-{charged.pk}"' in page and f'id="fee-{not_charged.pk}"' in page
    assert "not charged: policy not acknowledged" in page
    page = client.get(url, {"state": "proposed"}).content.decode()
    assert f'id="fee-{charged.pk}"' in page and f'id="fee-{not_charged.pk}"' not in page
    page = client.get(url, {"clinician": therapist2.pk}).content.decode()
    assert f'id="fee-{charged.pk}"' not in page and f'id="fee-{not_charged.pk}"' in page
    tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
    page = client.get(url, {"date_from": tomorrow}).content.decode()
    assert "No fees." in page
    response = client.get(url, {"state": "nonsense", "date_from": "yesterday"})
    assert response.status_code == 200 and b"not understood" in response.content


def test_fees_csv_export(client, practice_admin, therapist, practice, client_of_therapist):
    client_update(client=client_of_therapist, actor=therapist, first_name="=HYPERLINK(1)")
    fee = fee_for(client_of_therapist, therapist, practice)
    client.force_login(practice_admin)
    response = client.get(reverse("policies:fees"), {"export": "csv", "state": "proposed"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["fee_id", "session_start", "client_id"]
    assert len(rows) == 2
    assert rows[1][0] == str(fee.pk) and rows[1][7] == "60.00" and rows[1][6] == "proposed"
    assert rows[1][3].startswith("'=")  # no formula injection into the billing spreadsheet


def test_waiving_from_the_fees_page_needs_a_reason(client, front_desk, therapist, practice, client_of_therapist):
    fee = fee_for(client_of_therapist, therapist, practice)
    client.force_login(front_desk)
    url = reverse("policies:fee_action", args=[fee.pk])
    response = client.post(url, {"action": "waive", "reason_code": ""}, follow=True)
    assert b"A waiver needs a reason." in response.content
    fee.refresh_from_db()
    assert fee.state == "proposed"
    client.post(url, {"action": "waive", "reason_code": "illness", "note": "Flu"})
    fee.refresh_from_db()
    assert fee.state == "waived" and fee.changes.last().reason_code == "illness"
    response = client.post(url, {"action": "paid"}, follow=True)
    assert b"cannot be marked paid" in response.content


def test_fee_actions_ignore_an_outside_next_url(client, front_desk, therapist, practice, client_of_therapist):
    fee = fee_for(client_of_therapist, therapist, practice)
    client.force_login(front_desk)
    response = client.post(
        reverse("policies:fee_action", args=[fee.pk]), {"action": "paid", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("policies:fees")


def test_other_practices_fees_checks_and_clients_are_404(
    client, other_practice_therapist, therapist, practice, client_of_therapist, other_practice
):
    fee = fee_for(client_of_therapist, therapist, practice)
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    appointment = AppointmentFactory(client=client_of_therapist)
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(event.pk)
    check = SafetyCheck.objects.get()
    # A front desk of the other practice, and its therapist.
    from tests.factories import MembershipFactory

    other_desk = MembershipFactory(practice=other_practice, role="front_desk").user
    for user in (other_practice_therapist, other_desk):
        client.force_login(user)
        urls = [
            reverse("policies:fee_action", args=[fee.pk]),
            reverse("policies:ack_record", args=[client_of_therapist.pk]),
            reverse("policies:ack_send_link", args=[client_of_therapist.pk]),
            reverse("policies:safety_check_done", args=[check.pk]),
        ]
        for url in urls:
            status = client.post(url, {"action": "paid", "method": "paper"}).status_code
            assert status in (403, 404), (url, status)
    fee.refresh_from_db()
    check.refresh_from_db()
    assert fee.state == "proposed" and check.completed_at is None
    assert Acknowledgement.objects.count() == 1


def test_staff_record_an_acknowledgement_on_the_client_page(client, front_desk, practice, client_of_therapist):
    version = make_policy(practice)
    client.force_login(front_desk)
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert "Has not acknowledged the policy in force (v1)" in page
    client.post(reverse("policies:ack_record", args=[client_of_therapist.pk]), {"method": "in_person"})
    ack = Acknowledgement.objects.get()
    assert (ack.version, ack.method, ack.recorded_by) == (version, "in_person", front_desk)
    assert "Acknowledged policy v1" in client.get(client_of_therapist.get_absolute_url()).content.decode()


@time_machine.travel(datetime(2026, 6, 10, 18, 0, tzinfo=UTC), tick=True)  # a New York afternoon: not quiet hours
def test_the_acknowledgement_link_goes_through_the_outbox_shows_on_get_and_records_on_post_once(
    client, front_desk, practice, client_of_therapist, mailoutbox
):
    make_policy(practice, summary="Please give a day's notice.")
    client.force_login(front_desk)
    client.post(reverse("policies:ack_send_link", args=[client_of_therapist.pk]))
    assert mailoutbox == []  # not inside the request: an outbox row, sent by a worker
    row = OutboxMessage.objects.get(purpose="ack_request")
    assert send_message(row.pk) == "sent"
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert practice.sender_name in mail.from_email and practice.name not in mail.from_email
    link = next(line for line in mail.body.splitlines() if "/policy/ack/" in line).strip()
    path = link.split("://", 1)[1].split("/", 1)[1]
    client.logout()
    page = client.get("/" + path)
    assert page.status_code == 200 and b"Please give a day" in page.content
    assert not Acknowledgement.objects.exists()  # a mail scanner's GET changes nothing
    assert client.post("/" + path).status_code == 200
    again = client.post("/" + path)
    assert again.status_code == 404 and b"expired or is not valid" in again.content  # single use
    ack = Acknowledgement.objects.get()
    assert ack.method == "link" and ack.recorded_by is None


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "eyJjIjoxLCJ2IjoxfQ:forged:sig"])
def test_a_forged_acknowledgement_link_shows_a_kind_page(client, token, practice):
    response = client.get(reverse("policies:ack_public", args=[token]))
    assert response.status_code == 404
    assert b"expired or is not valid" in response.content


def test_an_expired_acknowledgement_link_is_refused(client, practice, client_of_therapist):
    import time_machine

    version = make_policy(practice)
    token = followups.client_link_create(
        purpose=ClientLink.Purpose.ACKNOWLEDGE, client=client_of_therapist, days=30, policy_version=version
    )
    assert client.get(reverse("policies:ack_public", args=[token])).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        response = client.post(reverse("policies:ack_public", args=[token]))
    assert response.status_code == 404
    assert not Acknowledgement.objects.exists()


def test_safety_checks_show_on_today_and_are_done_there(client, therapist, practice, client_of_therapist):
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    appointment = AppointmentFactory(client=client_of_therapist)
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(event.pk)
    client.force_login(therapist)
    page = client.get(reverse("appointments:today")).content.decode()
    assert "Safety check needed" in page and "Robin Reed" in page
    check = SafetyCheck.objects.get()
    client.post(reverse("policies:safety_check_done", args=[check.pk]), {"note": "Called, all well"})
    check.refresh_from_db()
    assert check.completed_by == therapist
    assert "Safety check needed" not in client.get(reverse("appointments:today")).content.decode()
    assert FeeAssessment.objects.filter(missed_session=event).exists()


def test_a_colleague_cannot_complete_anothers_safety_check(
    client, therapist, therapist2, practice, client_of_therapist
):
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    appointment = AppointmentFactory(client=client_of_therapist)
    tasks.process_missed_session(
        aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event.pk
    )
    client.force_login(therapist2)
    check = SafetyCheck.objects.get()
    assert client.post(reverse("policies:safety_check_done", args=[check.pk])).status_code == 404
    assert "Safety check needed" not in client.get(reverse("appointments:today")).content.decode()


def test_the_client_page_shows_each_fee_and_its_state(client, therapist, practice, client_of_therapist):
    fee = fee_for(client_of_therapist, therapist, practice)
    client.force_login(therapist)
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert f'id="fee-{fee.pk}"' in page and "Proposed (in review)" in page and "$60.00" in page
    assert "Charged under v1" in page


def test_fees_page_runs_a_constant_number_of_queries(
    client, front_desk, therapist, practice, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        fee_for(ClientFactory(practice=practice, clinician=therapist), therapist, practice)
    client.force_login(front_desk)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("policies:fees"))
    for _ in range(8):
        fee_for(ClientFactory(practice=practice, clinician=therapist), therapist, practice)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("policies:fees"))
