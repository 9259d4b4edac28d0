"""The Fees page, the client page's fees, the terms clients read, and what staff see of them."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from policies import services
from policies.models import FeeAssessment
from tests.factories import AppointmentFactory, ClientFactory, MembershipFactory, ack_token, make_policy
from tests.policies.test_terms import STAFF_WORDS

pytestmark = pytest.mark.django_db


def miss(client, actor, *, hours_ago=1, start=None):
    appointment = AppointmentFactory(client=client, start=start or timezone.now() - timedelta(hours=hours_ago))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event
    tasks.process_missed_session(event.pk)
    return FeeAssessment.objects.get(missed_session=event)


def row(page: str, fee: FeeAssessment) -> str:
    match = re.search(rf'<tr id="fee-{fee.pk}".*?</tr>', page, re.S)
    assert match, f"no row for fee {fee.pk}"
    return match.group(0)


@pytest.fixture
def v1(practice, client_of_therapist, front_desk):
    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    return version


def test_the_fees_page_says_a_fee_was_charged_under_the_accepted_terms(
    client, front_desk, therapist, practice, client_of_therapist, v1
):
    make_policy(practice, effective_at=timezone.now() - timedelta(days=1), no_show_fee=Decimal("75.00"))
    fee = miss(client_of_therapist, therapist)
    client.force_login(front_desk)
    shown = row(client.get(reverse("policies:fees")).content.decode(), fee)
    assert "charged under v1, the terms the client accepted; v2 not yet acknowledged" in shown
    assert "$60.00" in shown and "Charged under v1 (v2 in force)" in shown
    client.force_login(therapist)
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert "Charged under v1 (v2 in force)" in row(page, fee)
    assert "Acknowledged policy v1 on" in page and "not yet v2" in page


def test_a_waived_fee_shows_its_reason_and_note(client, front_desk, therapist, practice, client_of_therapist, v1):
    fee = miss(client_of_therapist, therapist)
    services.fee_waive(fee=fee, actor=front_desk, reason_code="hardship", note="Lost their job")
    client.force_login(front_desk)
    shown = row(client.get(reverse("policies:fees")).content.decode(), fee)
    assert "Waived: Financial hardship — “Lost their job”" in shown
    # A waived fee can still be voided (it was a real fee).
    assert 'value="void"' in shown


def test_a_fee_that_charges_nothing_offers_no_void(client, front_desk, therapist, practice, client_of_therapist):
    make_policy(practice)
    fee = miss(client_of_therapist, therapist)
    assert fee.state == "not_charged"
    client.force_login(front_desk)
    shown = row(client.get(reverse("policies:fees")).content.decode(), fee)
    assert "not charged: policy not acknowledged" in shown and "Void" not in shown


def test_after_an_undo_the_client_page_shows_one_row_and_fees_keeps_the_voided_one_aside(
    client, front_desk, therapist, practice, client_of_therapist, v1
):
    old = miss(client_of_therapist, therapist)
    appointment = old.missed_session.appointment
    aftercare.attendance_undo(appointment_id=appointment.pk, actor=therapist)
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(event.pk)
    new = FeeAssessment.objects.get(missed_session=event)
    old.refresh_from_db()
    assert (old.state, new.state) == ("void", "proposed")

    client.force_login(front_desk)
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert page.count('<tr id="fee-') == 1 and f'id="fee-{new.pk}"' in page
    fees = client.get(reverse("policies:fees")).content.decode()
    assert f'id="fee-{new.pk}"' in fees and f'id="fee-{old.pk}"' not in fees
    voided = client.get(reverse("policies:fees"), {"state": "void"}).content.decode()
    assert f'id="fee-{new.pk}"' not in voided
    assert "Voided: Mark undone — “The missed-session mark was undone.”" in row(voided, old)


def test_a_paid_fee_for_an_undone_mark_stays_on_the_client_page(
    client, front_desk, therapist, practice, client_of_therapist, v1
):
    fee = services.fee_mark_paid(fee=miss(client_of_therapist, therapist), actor=front_desk)
    aftercare.attendance_undo(appointment_id=fee.missed_session.appointment_id, actor=therapist)
    client.force_login(front_desk)
    assert f'id="fee-{fee.pk}"' in client.get(client_of_therapist.get_absolute_url()).content.decode()


def test_the_csv_keeps_plain_numbers_a_currency_column_local_times_and_the_versions(
    client, practice_admin, therapist, practice, client_of_therapist, v1, front_desk
):
    practice.time_zone = "America/Los_Angeles"
    practice.save()
    make_policy(practice, effective_at=timezone.now() - timedelta(days=2), no_show_fee=Decimal("45.00"))
    start = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles
    with_time = miss(client_of_therapist, therapist, start=start)
    fee = miss(client_of_therapist, therapist)
    services.fee_waive(fee=fee, actor=front_desk, reason_code="illness", note="=cmd()")
    client.force_login(practice_admin)
    response = client.get(reverse("policies:fees"), {"export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = rows[0]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert header[-3:] == ["charged_under_version", "waiver_reason", "waiver_note"]
    waived = by_id[str(fee.pk)]
    assert (waived["amount"], waived["currency"], waived["policy_version"], waived["charged_under_version"]) == (
        "45.00",
        "USD",
        "2",
        "2",
    )
    assert (waived["waiver_reason"], waived["waiver_note"]) == ("illness", "'=cmd()")
    # January 2026: v1 only was in force, and the session is shown at its Los Angeles time.
    assert by_id[str(with_time.pk)]["session_start"] == "2026-01-15 09:00"


def test_the_acknowledgement_page_shows_plain_terms_then_the_practices_note(client, practice, client_of_therapist):
    version = make_policy(
        practice,
        notice_hours=48,
        late_cancel_fee=Decimal("50.00"),
        no_show_fee=Decimal("75.00"),
        grace_count=1,
        summary="We keep your slot for you alone.",
        overrides={"couples": (Decimal("90.00"), None)},
    )
    token = ack_token(client_of_therapist, version)
    page = client.get(reverse("policies:ack_public", args=[token])).content.decode()
    main = re.search(r"<main.*?</main>", page, re.S).group(0)
    text = re.sub(r"<[^>]+>", " ", main)
    assert "If you cancel with less than 48 hours&#x27; notice, there is a $50.00 fee." in text
    assert "If you miss a session without letting us know, there is a $75.00 fee." in text
    assert "For couples sessions: the fee for a missed session is $90.00." in text
    assert text.index("A note from the practice") < text.index("We keep your slot for you alone.")
    assert text.index("$75.00 fee") < text.index("A note from the practice")
    lowered = text.lower()
    for word in [w for w in STAFF_WORDS if w != "acknowledg"]:
        assert word.lower() not in lowered, word


def test_staff_see_what_clients_read_on_the_policies_page(client, therapist, practice):
    make_policy(practice, summary="Bring water.")
    client.force_login(therapist)
    page = client.get(reverse("policies:policy")).content.decode()
    block = re.search(r'<section id="what-clients-read".*?</section>', page, re.S).group(0)
    assert "What clients read" in block
    assert "If you miss a session without letting us know, there is a $60.00 fee." in block
    assert "Bring water." in block


def test_other_practices_do_not_see_these_fees_or_this_client(
    client, other_practice, other_practice_therapist, therapist, practice, client_of_therapist, v1
):
    fee = miss(client_of_therapist, therapist)
    other_desk = MembershipFactory(practice=other_practice, role="front_desk").user
    client.force_login(other_desk)
    for state in ("", "void", "proposed"):
        assert f'id="fee-{fee.pk}"' not in client.get(reverse("policies:fees"), {"state": state}).content.decode()
    client.force_login(other_practice_therapist)
    assert client.get(client_of_therapist.get_absolute_url()).status_code == 404


def test_fees_page_queries_stay_constant_with_waivers_voids_and_two_versions(
    client, front_desk, therapist, practice, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    v1 = make_policy(practice)

    def some_fees(n):
        for i in range(n):
            person = ClientFactory(practice=practice, clinician=therapist)
            services.acknowledgement_record(client=person, version=v1, method="paper", actor=front_desk)
            fee = miss(person, therapist)
            if i % 2:
                services.fee_waive(fee=fee, actor=front_desk, reason_code="other", note="n")

    some_fees(2)
    client.force_login(front_desk)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("policies:fees"))
    make_policy(practice, effective_at=timezone.now() - timedelta(hours=3), no_show_fee=Decimal("30"))
    some_fees(8)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(reverse("policies:fees")).content.decode()
    assert page.count('<tr id="fee-') == 10
