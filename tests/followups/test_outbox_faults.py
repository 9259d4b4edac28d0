"""The outbox under faults (issue 8, items 3-5): leases, the point of no return, one bad row.

These run on SQLite too: the interleavings are made with time travel and with a
mail backend that lets something happen while the mail server "has" the message.
tests/followups/test_outbox_races.py runs the same races in threads on PostgreSQL.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.mail.backends.locmem import EmailBackend
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from appointments.models import NoShowEvent
from followups import services
from followups.models import ClientLink, OutboxMessage
from practice.models import Practice
from tests.factories import AppointmentFactory, ClientFactory

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
    plan.first_delay_minutes, plan.second_after_days = 0, 0
    plan.save()
    return plan


def miss(client, actor) -> NoShowEvent:
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


def first_of(event: NoShowEvent) -> OutboxMessage:
    return OutboxMessage.objects.get(missed_session=event, step="first")


class DuringSend(EmailBackend):
    """The mail server stand-in: runs `during` while it holds the message, then accepts it."""

    during = None

    def send_messages(self, messages):
        if DuringSend.during is not None:
            hook, DuringSend.during = DuringSend.during, None
            hook()
        return super().send_messages(messages)


@pytest.fixture
def during_send(settings):
    settings.EMAIL_BACKEND = "tests.followups.test_outbox_faults.DuringSend"
    yield DuringSend
    DuringSend.during = None


# ------------------------------------------------------------------ leases


def test_a_claim_records_its_owner_and_a_lease_of_the_configured_length(settings, plan, therapist, client_of_therapist):
    settings.OUTBOX_LEASE_SECONDS = 45
    event = miss(client_of_therapist, therapist)
    claim = services.outbox_claim_one(message_id=first_of(event).pk)
    row = first_of(event)
    assert (row.status, row.claim_token) == ("sending", claim.token)
    assert row.lease_until == timezone.now() + timedelta(seconds=45)
    assert ":" in row.claimed_by  # host:pid, for the log line if the lease is lost


def test_a_lease_is_released_only_once_it_has_run_out(plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    services.outbox_claim_one(message_id=first_of(event).pk)
    assert services.outbox_release_expired(now=timezone.now() + timedelta(seconds=89)) == 0
    assert services.outbox_release_expired(now=timezone.now() + timedelta(seconds=91)) == 1
    row = first_of(event)
    assert (row.status, row.claim_token, row.lease_until) == ("pending", "", None)


def test_a_claim_whose_lease_ran_out_is_sent_once_by_the_next_sweep(plan, therapist, client_of_therapist, mailoutbox):
    event = miss(client_of_therapist, therapist)
    dead = services.outbox_claim_one(message_id=first_of(event).pk)  # then the worker was killed
    # Within two minutes of the claim the minute sweep gives the row to another worker.
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert aftercare.followups_send_due() == 1
    assert first_of(event).status == "sent"
    assert len(mailoutbox) == 1
    # The first worker comes back: its claim holds nothing, it sends nothing and changes nothing.
    assert services.outbox_deliver(claim=dead) == ""
    assert services.outbox_cancel_claimed(claim=dead, code="other") is False
    assert len(mailoutbox) == 1
    assert first_of(event).status == "sent"


def test_a_worker_whose_lease_ran_out_checks_before_sending_and_sends_nothing(
    plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    slow = services.outbox_claim_one(message_id=first_of(event).pk)
    with time_machine.travel(timezone.now() + timedelta(seconds=91), tick=False):
        # No sweep has released it yet; the worker itself sees its lease is gone.
        assert services.outbox_deliver(claim=slow) == ""
        assert mailoutbox == []
        row = first_of(event)
        assert (row.status, row.handed_over_at) == ("sending", None)
        assert aftercare.followups_send_due() == 1
    assert len(mailoutbox) == 1


def test_a_worker_back_late_from_the_mail_server_cannot_mark_another_workers_row(
    during_send, plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    message = first_of(event)
    slow = services.outbox_claim_one(message_id=message.pk)
    later = timezone.now() + timedelta(minutes=3)
    taken = {}

    def lease_lost_meanwhile():
        # The slow worker's send outlives its lease: the sweep releases the row, another worker claims it.
        assert services.outbox_release_expired(now=later) == 1
        taken["claim"] = services.outbox_claim_one(message_id=message.pk, now=later)

    during_send.during = lease_lost_meanwhile
    assert services.outbox_deliver(claim=slow) == ""  # its "sent" changed nothing
    row = first_of(event)
    assert (row.status, row.claim_token) == ("sending", taken["claim"].token)
    assert row.attempts == 2
    assert services.outbox_deliver(claim=taken["claim"]) == "sent"
    # The one duplicate the design allows: same Message-ID, so mail systems drop it.
    assert len(mailoutbox) == 2
    assert mailoutbox[0].extra_headers["Message-ID"] == mailoutbox[1].extra_headers["Message-ID"]


def test_the_sweep_holds_a_lease_only_on_the_row_it_is_sending(
    during_send, plan, practice, therapist, client_of_therapist, mailoutbox
):
    another = ClientFactory(practice=practice, clinician=therapist)
    events = [miss(client_of_therapist, therapist), miss(another, therapist)]
    seen = []

    def look():
        seen.append(sorted(OutboxMessage.objects.values_list("status", flat=True)))

    during_send.during = look
    assert aftercare.followups_send_due() == 2
    # While the first was with the mail server, the second was still waiting, free for any worker.
    assert seen == [["pending", "sending"]]
    assert {first_of(e).status for e in events} == {"sent"}


# ------------------------------------------------------- the point of no return


def test_an_undo_after_the_last_check_but_before_the_hand_over_stops_the_message(
    plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    claim = services.outbox_claim_one(message_id=first_of(event).pk)
    undone = {}

    def undo_while_composing(sender, instance, created, **kwargs):
        # The follow-up's checks have passed; the worker is making its link. The undo commits now.
        undone["outcome"] = aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)

    post_save.connect(undo_while_composing, sender=ClientLink, dispatch_uid="undo_while_composing")
    try:
        # The undo cancelled the claimed row; the hand-over finds it no longer this worker's.
        assert services.outbox_deliver(claim=claim) == ""
    finally:
        post_save.disconnect(sender=ClientLink, dispatch_uid="undo_while_composing")
    assert mailoutbox == []
    assert (first_of(event).status, first_of(event).cancel_code) == ("cancelled", "undone")
    outcome = undone["outcome"]
    assert (outcome.stopped, outcome.on_its_way) == (1, 0)


def test_an_undo_after_the_point_of_no_return_lets_the_message_go_and_says_so(
    during_send, plan, therapist, client_of_therapist, mailoutbox
):
    event = miss(client_of_therapist, therapist)
    claim = services.outbox_claim_one(message_id=first_of(event).pk)
    undone = {}

    def undo_while_sending():
        assert first_of(event).handed_over_at is not None
        undone["outcome"] = aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)

    during_send.during = undo_while_sending
    assert services.outbox_deliver(claim=claim) == "sent"
    assert len(mailoutbox) == 1
    outcome = undone["outcome"]
    assert (outcome.stopped, outcome.on_its_way) == (0, 1)
    event.refresh_from_db()
    assert event.undone_at is not None


def test_an_undo_stops_a_claimed_row_before_its_hand_over(plan, therapist, client_of_therapist, mailoutbox):
    event = miss(client_of_therapist, therapist)
    claim = services.outbox_claim_one(message_id=first_of(event).pk)
    outcome = aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)
    assert (outcome.stopped, outcome.on_its_way) == (1, 0)
    assert services.outbox_deliver(claim=claim) == ""
    assert mailoutbox == []
    assert first_of(event).status == "cancelled"


def _set_on_its_way(event):
    OutboxMessage.objects.filter(missed_session=event).update(
        status="sending", claim_token="x" * 32, handed_over_at=timezone.now(), lease_until=timezone.now()
    )


@pytest.mark.parametrize("htmx", [True, False])
def test_the_undo_page_says_the_follow_up_was_already_on_its_way(htmx, client, plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    _set_on_its_way(event)
    client.force_login(therapist)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        reverse("appointments:appointment_undo", args=[event.appointment_id]), follow=not htmx, **headers
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "already on its way to the client and could not be stopped" in page
    assert "Nothing had been sent" not in page
    assert first_of(event).status == "sending"


def test_the_undo_page_says_nothing_had_been_sent(client, plan, therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    client.force_login(therapist)
    response = client.post(
        reverse("appointments:appointment_undo", args=[event.appointment_id]), HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert "Nothing had been sent to the client" in page
    assert "on its way" not in page
    assert first_of(event).status == "cancelled"


def test_another_practice_cannot_undo(client, plan, therapist, other_practice_therapist, client_of_therapist):
    event = miss(client_of_therapist, therapist)
    client.force_login(other_practice_therapist)
    response = client.post(reverse("appointments:appointment_undo", args=[event.appointment_id]))
    assert response.status_code == 404
    assert first_of(event).status == "pending"


# -------------------------------------------------------------- one bad row


def _poison(kind: str, client, practice) -> None:
    if kind == "client email":
        type(client).objects.filter(pk=client.pk).update(email="robin@example.com\r\nBcc: eve@example.com")
    else:
        # Written some other way than the settings form, which refuses it.
        Practice.objects.filter(pk=practice.pk).update(sender_name="Harbour\r\nBcc: eve@example.com")


@pytest.mark.parametrize("kind", ["client email", "sender name"])
def test_a_poisoned_row_mid_batch_is_recorded_and_the_others_are_sent(
    kind, practice, other_practice, therapist, other_practice_therapist, mailoutbox
):
    for p in (practice, other_practice):
        plan = services.plan_for(p)
        plan.first_delay_minutes, plan.second_after_days, plan.max_attempts = 0, 0, 2
        plan.save()
    good_one = ClientFactory(practice=practice, clinician=therapist)
    poisoned_client = ClientFactory(practice=other_practice, clinician=other_practice_therapist)
    good_two = ClientFactory(practice=practice, clinician=therapist)
    events = [miss(good_one, therapist), miss(poisoned_client, other_practice_therapist), miss(good_two, therapist)]
    for offset, event in enumerate(events):
        # The poisoned row is claimed second.
        OutboxMessage.objects.filter(missed_session=event).update(due_at=timezone.now() - timedelta(minutes=3 - offset))
    _poison(kind, poisoned_client, other_practice)

    assert aftercare.followups_send_due() == 3

    assert [first_of(events[0]).status, first_of(events[2]).status] == ["sent", "sent"]
    assert len(mailoutbox) == 2
    bad = first_of(events[1])
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert bad.last_error == "django.core.mail.message.BadHeaderError"
    assert "eve@" not in bad.last_error and "Harbour" not in bad.last_error
    # After the last attempt it is failed, which staff read as "could not reach the client".
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        assert aftercare.followups_send_due() == 1
    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == ("failed", 2)
    assert bad.get_status_display() == "Could not reach the client"
    assert len(mailoutbox) == 2


def test_an_error_in_a_purpose_check_is_recorded_on_its_row(plan, therapist, client_of_therapist, mailoutbox):
    event = miss(client_of_therapist, therapist)
    # A row whose purpose no longer exists in the registry (an old deploy's row, a typo in a data fix).
    OutboxMessage.objects.filter(pk=first_of(event).pk).update(purpose="retired")
    assert aftercare.followups_send_due() == 1
    row = first_of(event)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "builtins.KeyError")


# ------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("lease", "timeout", "problem"),
    [
        (90, 20, None),
        (10, 2, "followups.E001"),
        ("90", 20, "followups.E001"),
        (30, 20, "followups.E002"),
        (90, None, "followups.E002"),
    ],
)
def test_the_lease_must_outlast_a_wait_on_the_mail_server(settings, lease, timeout, problem):
    from followups.checks import outbox_lease_outlasts_a_send

    settings.OUTBOX_LEASE_SECONDS, settings.EMAIL_TIMEOUT = lease, timeout
    assert [error.id for error in outbox_lease_outlasts_a_send(None)] == ([problem] if problem else [])


def test_the_message_log_says_on_its_way_for_a_row_past_its_point_of_no_return(
    client, front_desk, therapist, client_of_therapist
):
    from django.utils import timezone as tz

    from aftercare import services as pipeline
    from followups.models import OutboxMessage as Row
    from tests.factories import AppointmentFactory as Appointments

    appointment = Appointments(client=client_of_therapist, start=tz.now() - timedelta(minutes=30))
    event = pipeline.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    Row.objects.filter(missed_session=event, step="first").update(
        status="sending", claim_token="t" * 32, handed_over_at=tz.now(), lease_until=tz.now() + timedelta(seconds=60)
    )
    client.force_login(front_desk)
    page = client.get("/messages/").content.decode()
    assert "On its way" in page
