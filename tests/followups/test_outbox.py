"""One outbox for every purpose: keys, claims, each purpose's checks, send again, wording versions."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks as aftercare_tasks
from appointments.services import client_update
from followups import acknowledgements, services
from followups.models import ClientLink, OutboxMessage
from followups.tasks import send_message
from policies.models import Acknowledgement, SafetyCheck
from policies.services import acknowledgement_record
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, make_policy

pytestmark = pytest.mark.django_db

# 2 p.m. in New York: clear of quiet hours.
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _afternoon():
    with time_machine.travel(AFTERNOON, tick=False):
        yield


@pytest.fixture
def plan(practice):
    plan = services.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 3
    plan.save()
    return plan


def miss(client, actor, hours_ago=1):
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=hours_ago))
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


def active_client(practice, clinician, **kwargs):
    client = ClientFactory(practice=practice, clinician=clinician, **kwargs)
    AppointmentFactory(client=client, clinician=clinician, start=timezone.now() - timedelta(days=10))
    return client


def deliver(message: OutboxMessage) -> str:
    claim = services.outbox_claim_one(message_id=message.pk)
    assert claim
    return services.outbox_deliver(claim=claim)


# ------------------------------------------------------------- keys and claims


def test_follow_up_rows_carry_a_key_naming_purpose_miss_and_step(plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    keys = set(OutboxMessage.objects.values_list("purpose", "idempotency_key"))
    assert keys == {("followup", f"followup:{event.pk}:first"), ("followup", f"followup:{event.pk}:second")}


def test_a_claim_for_one_purpose_leaves_a_row_of_another_and_the_checks_still_stop_it(
    plan, therapist, client_of_therapist, django_assert_max_num_queries, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert services.outbox_claim_one(message_id=first.pk, purpose=OutboxMessage.Purpose.REMINDER) is None

    services.contacted_mark(event=event, actor=therapist)  # cancels the pending rows
    OutboxMessage.objects.filter(pk=first.pk).update(status=OutboxMessage.Status.PENDING)  # as if it came after
    # Claimed as a follow-up: fetched and locked with its checks as annotations, one statement each.
    with django_assert_max_num_queries(6):
        status = services.outbox_send_now(message_id=first.pk, purpose=OutboxMessage.Purpose.FOLLOWUP)

    assert status == OutboxMessage.Status.CANCELLED
    assert OutboxMessage.objects.get(pk=first.pk).cancel_code == OutboxMessage.CancelCode.CONTACTED
    assert mailoutbox == []


def test_the_key_makes_a_second_row_for_the_same_cause_impossible(plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboxMessage.objects.create(
            practice=first.practice,
            client=first.client,
            idempotency_key=first.idempotency_key,
            kind="first",
            channel="email",
            due_at=timezone.now(),
        )


def test_queueing_acknowledgement_requests_twice_adds_nothing_and_sending_twice_mails_once(
    practice, practice_admin, therapist, mailoutbox, django_capture_on_commit_callbacks
):
    version = make_policy(practice)
    clients = [active_client(practice, therapist) for _ in range(3)]
    with django_capture_on_commit_callbacks() as callbacks:
        assert acknowledgements.ack_requests_queue(version=version, actor=practice_admin) == 3
    assert len(callbacks) == 3  # one wake-up per new row, after the commit
    assert acknowledgements.ack_requests_queue(version=version, actor=practice_admin) == 0
    rows = OutboxMessage.objects.filter(purpose="ack_request")
    assert {r.idempotency_key for r in rows} == {f"ack:{c.pk}:{version.pk}" for c in clients}
    assert {(r.missed_session_id, r.policy_version_id, r.kind) for r in rows} == {(None, version.pk, "ack_request")}
    assert aftercare_tasks.sweep_followups() == 3
    assert aftercare_tasks.sweep_followups() == 0
    for row in rows:
        assert send_message(row.pk) == ""  # already sent: the claim finds nothing
    assert len(mailoutbox) == 3
    audit = AuditEvent.objects.get(action="policy.ack_requests_queued")
    assert audit.changes == {"count": 3, "version": version.number}
    assert audit.actor == practice_admin


def test_the_sweep_claims_rows_of_every_purpose_in_one_pass(
    plan, practice, practice_admin, therapist, client_of_therapist, mailoutbox
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    miss(client_of_therapist, therapist)
    active_client(practice, therapist)
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    assert aftercare.followups_send_due() == 2
    assert {m.to[0] for m in mailoutbox} == set(OutboxMessage.objects.values_list("client__email", flat=True))
    assert set(OutboxMessage.objects.filter(status="sent").values_list("purpose", flat=True)) == {
        "followup",
        "ack_request",
    }


# ------------------------------------------------------- the follow-up's checks


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("undone", "undone"),
        ("archived", "archived"),
        ("contacted", "contacted"),
        ("no_consent", "no_consent_email"),
        ("rebooked", "rebooked"),
    ],
)
# "one": a claim that does not know its purpose, each check asks; "batch" and "followup": the claim knows
# it, and "rebooked" and "contacted" are read as annotations of the fetch and of the hand-over's lock.
@pytest.mark.parametrize("via", ["one", "batch", "followup"])
def test_each_follow_up_check_cancels_a_claimed_row_with_its_code(
    via, change, code, plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    if via == "batch":
        [claim] = services.outbox_claim_batch(size=1)
    else:
        purpose = OutboxMessage.Purpose.FOLLOWUP if via == "followup" else ""
        claim = services.outbox_claim_one(message_id=first.pk, purpose=purpose)
    assert claim and claim.message_id == first.pk
    # The change lands while the worker holds the row.
    if change == "undone":
        type(event).objects.filter(pk=event.pk).update(undone_at=timezone.now())
    elif change == "archived":
        type(client_of_therapist).objects.filter(pk=client_of_therapist.pk).update(is_archived=True)
    elif change == "contacted":
        from followups.models import ContactNote

        ContactNote.objects.create(practice_id=event.practice_id, missed_session=event)
    elif change == "no_consent":
        type(client_of_therapist).objects.filter(pk=client_of_therapist.pk).update(consent_email=False)
    else:
        AppointmentFactory(
            client=client_of_therapist,
            start=timezone.now() + timedelta(days=2),
            rescheduled_from=event.appointment,
        )
    if via == "batch":
        assert services.outbox_deliver_batch(claims=[claim]) == {first.pk: "cancelled"}
    else:
        assert services.outbox_deliver(claim=claim) == "cancelled"
    first.refresh_from_db()
    assert (first.cancel_code, first.cancel_reason) == (code, OutboxMessage.CancelCode(code).label)
    assert mailoutbox == []


def test_the_safety_hold_stops_a_follow_up_until_the_check_for_that_miss_is_done(
    plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert deliver(first) == "cancelled"
    first.refresh_from_db()
    assert first.cancel_code == "safety_hold"
    assert mailoutbox == []


def test_a_follow_up_after_a_done_safety_check_is_sent(plan, therapist, client_of_therapist, mailoutbox):
    event = miss(client_of_therapist, therapist)
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    SafetyCheck.objects.create(
        practice_id=event.practice_id, missed_session=event, clinician=therapist, completed_at=timezone.now()
    )
    assert deliver(OutboxMessage.objects.get(missed_session=event, step="first")) == "sent"
    assert len(mailoutbox) == 1


def test_a_second_message_waits_while_the_first_is_still_queued(plan, therapist, client_of_therapist, mailoutbox):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    second = OutboxMessage.objects.get(missed_session=event, step="second")
    OutboxMessage.objects.filter(pk=first.pk).update(due_at=timezone.now() + timedelta(hours=1))
    OutboxMessage.objects.filter(pk=second.pk).update(due_at=timezone.now())
    assert deliver(second) == "pending"
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("pending", 0)
    assert second.due_at > timezone.now()
    assert mailoutbox == []


# ---------------------------------------------------- the acknowledgement's checks


@pytest.mark.parametrize("change", ["archived", "no_consent", "acknowledged"])
def test_each_acknowledgement_request_check_cancels_with_its_code(
    change, practice, practice_admin, therapist, mailoutbox
):
    version = make_policy(practice)
    client = active_client(practice, therapist)
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    row = OutboxMessage.objects.get(purpose="ack_request")
    if change == "archived":
        type(client).objects.filter(pk=client.pk).update(is_archived=True)
    elif change == "no_consent":
        type(client).objects.filter(pk=client.pk).update(consent_email=False)
    else:
        acknowledgement_record(client=client, version=version, method="in_person")
    assert deliver(row) == "cancelled"
    row.refresh_from_db()
    assert row.cancel_code == {"no_consent": "no_consent_email"}.get(change, change)
    assert mailoutbox == []


def test_the_acknowledgement_email_names_no_amount_and_carries_a_hashed_30_day_link(
    practice, practice_admin, therapist, mailoutbox
):
    version = make_policy(practice)
    client = active_client(practice, therapist, first_name="Casey", last_name="Quinn")
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    row = OutboxMessage.objects.get(purpose="ack_request")
    assert deliver(row) == "sent"
    [mail] = mailoutbox
    assert mail.subject == "Please review our cancellation policy"
    assert practice.sender_name in mail.from_email
    assert "Casey" in mail.body and "Quinn" not in mail.body
    for amount in ("60", "40", "$", "fee"):
        assert amount not in mail.subject
    token = mail.body.split("/policy/ack/", 1)[1].split("/", 1)[0]
    link = ClientLink.objects.get()
    assert (link.purpose, link.client, link.policy_version) == ("acknowledge", client, version)
    assert link.token_hash == services.token_hash(token) and token not in link.token_hash
    assert link.expires_at - timezone.now() == timedelta(days=30)
    row.refresh_from_db()
    assert mail.extra_headers["Message-ID"] == row.provider_message_id
    assert (row.kind, row.template_version) == ("ack_request", 0)


def test_only_active_unacknowledged_consenting_clients_are_asked(
    practice, practice_admin, therapist, other_client, other_practice_therapist
):
    version = make_policy(practice)
    recent = active_client(practice, therapist)
    ahead = ClientFactory(practice=practice, clinician=therapist)
    AppointmentFactory(client=ahead, clinician=therapist, start=timezone.now() + timedelta(days=3))
    long_ago = ClientFactory(practice=practice, clinician=therapist)
    AppointmentFactory(client=long_ago, clinician=therapist, start=timezone.now() - timedelta(days=120))
    archived = active_client(practice, therapist, is_archived=True)
    done = active_client(practice, therapist)
    acknowledgement_record(client=done, version=version, method="paper")
    no_email = active_client(practice, therapist, consent_email=False)
    AppointmentFactory(client=other_client, clinician=other_practice_therapist, start=timezone.now())
    assert acknowledgements.ack_requests_queue(version=version, actor=practice_admin) == 2
    asked = set(OutboxMessage.objects.values_list("client_id", flat=True))
    assert asked == {recent.pk, ahead.pk}
    assert not asked & {long_ago.pk, archived.pk, done.pk, no_email.pk, other_client.pk}


# ------------------------------------------------------------------ send again


def _sent_first(event) -> OutboxMessage:
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert deliver(first) == "sent"
    first.refresh_from_db()
    return first


@pytest.mark.parametrize("code", ["undone", "rebooked", "archived"])
def test_send_again_is_refused_when_the_cancel_reason_still_holds(code, plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    services.outbox_cancel_pending(event=event, code=code)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert not first.can_send_again
    with pytest.raises(ValidationError):
        services.outbox_send_again(message=first, actor=therapist)
    first.refresh_from_db()
    assert first.status == "cancelled"


def test_send_again_is_offered_after_staff_cancelled(plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    services.outbox_cancel(message=first, actor=therapist)
    first.refresh_from_db()
    assert first.cancel_code == "staff" and first.can_send_again
    assert services.outbox_send_again(message=first, actor=therapist).status == "pending"


def test_a_second_message_is_never_sent_again_before_the_first_has_gone(plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    second = OutboxMessage.objects.get(missed_session=event, step="second")
    services.outbox_cancel(message=first, actor=therapist)
    services.outbox_cancel(message=second, actor=therapist)
    with pytest.raises(ValidationError, match="first message has not gone out"):
        services.outbox_send_again(message=second.__class__.objects.get(pk=second.pk), actor=therapist)
    services.outbox_send_again(message=first, actor=therapist)
    deliver(first)
    assert services.outbox_send_again(message=second, actor=therapist).status == "pending"


def test_a_message_sent_again_gets_a_new_message_id_and_a_retry_keeps_it(
    plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    first = _sent_first(event)
    original = mailoutbox[0].extra_headers["Message-ID"]
    services.outbox_send_again(message=first, actor=therapist)
    assert deliver(first) == "sent"
    # Say the worker died after the server accepted it, before the row said "sent": the row
    # stays in "sending" with no provider id recorded, the sweep puts it back, and it goes once more.
    OutboxMessage.objects.filter(pk=first.pk).update(
        status="sending", lease_until=timezone.now() - timedelta(hours=1), provider_message_id=""
    )
    assert services.outbox_release_expired() == 1
    assert deliver(first) == "sent"
    again, retry = (m.extra_headers["Message-ID"] for m in mailoutbox[1:])
    assert again != original  # mail systems would drop a reused id as a duplicate
    assert retry == again  # within one generation a duplicate stays recognisable
    first.refresh_from_db()
    assert first.generation == 1 and again == f"<followup.{first.pk}.first.1@{again.split('@')[1]}"
    assert AuditEvent.objects.filter(action="followups.send_again", changes__generation=1).exists()


# ------------------------------------------------------------ wording versions


def test_each_save_bumps_the_wording_version_and_rows_record_the_one_they_used(
    plan, practice, practice_admin, therapist, client_of_therapist, mailoutbox
):
    body = "Hello {first_name}, pick a time: {reschedule_link}"
    event = miss(client_of_therapist, therapist)
    first = _sent_first(event)
    assert first.template_version == 0  # the default wording
    assert (
        services.template_save(practice=practice, kind="first", subject="Hi", body=body, actor=practice_admin).version
        == 1
    )
    assert (
        services.template_save(practice=practice, kind="first", subject="Hi", body=body, actor=practice_admin).version
        == 2
    )
    services.outbox_send_again(message=first, actor=therapist)
    first = _sent_first(event)
    assert first.template_version == 2


def test_a_version_number_is_never_reused_after_a_reset(
    plan, practice, practice_admin, therapist, client_of_therapist, mailoutbox
):
    body = "Hello {first_name}, pick a time: {reschedule_link}"
    services.template_save(practice=practice, kind="first", subject="Hi", body=body, actor=practice_admin)
    assert _sent_first(miss(client_of_therapist, therapist)).template_version == 1
    services.template_reset(practice=practice, kind="first", actor=practice_admin)
    saved = services.template_save(practice=practice, kind="first", subject="Hey", body=body, actor=practice_admin)
    assert saved.version == 2


# ----------------------------------------------------------------- client links


def test_a_client_link_is_used_once(practice, client_of_therapist):
    token = services.client_link_create(purpose="rebook", client=client_of_therapist, days=1)
    link = services.client_link_find(token=token, purpose="rebook")
    assert services.client_link_use(link=link)
    assert not services.client_link_use(link=ClientLink.objects.get(pk=link.pk))
    assert services.client_link_find(token=token, purpose="acknowledge") is None


def test_an_expired_client_link_cannot_be_used(practice, client_of_therapist):
    token = services.client_link_create(purpose="acknowledge", client=client_of_therapist, days=30)
    link = services.client_link_find(token=token, purpose="acknowledge")
    assert not services.client_link_use(link=link, now=timezone.now() + timedelta(days=31))
    assert not Acknowledgement.objects.exists()


# ------------------------------------------------------------------ message log


def test_the_log_shows_every_purpose_with_its_wording_version_in_constant_queries(
    plan, practice, practice_admin, therapist, client, front_desk, django_assert_num_queries, mailoutbox
):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    version = make_policy(practice)
    robin = active_client(practice, therapist)
    acknowledgement_record(client=robin, version=version, method="paper")
    miss(robin, therapist)
    active_client(practice, therapist)
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    aftercare.followups_send_due()
    client.force_login(front_desk)
    with CaptureQueriesContext(db) as few:
        page = client.get("/messages/").content.decode()
    assert "Policy acknowledgement request" in page and "(policy v1)" in page
    assert page.count("wording: default") == 2 and "wording: not yet composed" in page  # the second waits
    for _ in range(5):
        miss(active_client(practice, therapist), therapist)
        active_client(practice, therapist)
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/messages/").status_code == 200


def test_a_clinician_sees_acknowledgement_requests_to_their_own_clients_only(
    plan, practice, practice_admin, therapist, therapist2, client
):
    version = make_policy(practice)
    mine = active_client(practice, therapist)
    theirs = active_client(practice, therapist2)
    acknowledgements.ack_requests_queue(version=version, actor=practice_admin)
    client.force_login(therapist)
    page = client.get("/messages/").content.decode()
    assert f'id="message-{OutboxMessage.objects.get(client=mine).pk}"' in page
    other = OutboxMessage.objects.get(client=theirs)
    assert f'id="message-{other.pk}"' not in page
    assert client.post(f"/messages/{other.pk}/cancel/").status_code == 404


def test_the_log_offers_send_again_only_where_it_may_go(plan, practice, therapist, client, front_desk):
    rebooked = miss(ClientFactory(practice=practice, clinician=therapist), therapist)
    services.outbox_cancel_pending(event=rebooked, code="rebooked")
    staff = miss(ClientFactory(practice=practice, clinician=therapist), therapist, hours_ago=2)
    for message in OutboxMessage.objects.filter(missed_session=staff):
        services.outbox_cancel(message=message, actor=front_desk)
    client.force_login(front_desk)
    page = client.get("/messages/").content.decode()

    def offered(event, step):
        pk = OutboxMessage.objects.get(missed_session=event, step=step).pk
        row = page.split(f'id="message-{pk}"', 1)[1].split("</tr>", 1)[0]
        return "Send again" in row

    assert not offered(rebooked, "first") and not offered(rebooked, "second")
    assert offered(staff, "first") and not offered(staff, "second")  # never the second before the first
    # Posting anyway is refused with a message, never a 500.
    refused = OutboxMessage.objects.get(missed_session=rebooked, step="first")
    response = client.post(f"/messages/{refused.pk}/send-again/", follow=True)
    assert response.status_code == 200 and "cannot be sent again: the client rescheduled" in response.content.decode()
    refused.refresh_from_db()
    assert refused.status == "cancelled"
