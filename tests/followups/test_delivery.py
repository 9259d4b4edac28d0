"""Planning and delivery of follow-ups, against the real database and a real SMTP server."""

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.services import client_update
from followups import services
from followups.models import ClientLink, FollowUpPlan, MessageTemplate, OutboxMessage
from tests.concurrency import run_concurrently
from tests.factories import AppointmentFactory, ClientFactory, make_ladder, make_policy

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
# 2 p.m. in New York: well clear of quiet hours.
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _afternoon_in_new_york():
    """Every test here runs at a New York afternoon unless it travels elsewhere itself: marked at
    "now", a first message an hour later must not meet the practice's quiet hours (20:00-08:00),
    whatever the hour the suite happens to run."""
    with time_machine.travel(AFTERNOON, tick=True):
        yield


@pytest.fixture
def plan(practice):
    plan = services.plan_for(practice)
    plan.first_delay_minutes = 60
    plan.second_after_days = 3
    plan.save()
    make_ladder(practice)  # repeated misses: 3 in 90 days, as every practice was migrated to
    return plan


def mark_no_show(client, actor, start=None, session_type="individual"):
    appointment = AppointmentFactory(
        client=client, start=start or timezone.now() - timedelta(minutes=30), session_type=session_type
    )
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


@time_machine.travel(AFTERNOON, tick=False)
def test_a_miss_plans_a_first_and_second_message_in_the_same_transaction(plan, therapist, client_of_therapist):
    event = mark_no_show(client_of_therapist, therapist)
    first, second = OutboxMessage.objects.filter(missed_session=event).order_by("due_at")
    assert (first.step, first.kind, first.channel, first.status) == ("first", "first", "email", "pending")
    assert first.due_at == AFTERNOON + timedelta(minutes=60)
    assert (second.step, second.kind) == ("second", "second")
    assert second.due_at == AFTERNOON + timedelta(days=3)
    # A double click plans nothing more.
    aftercare.attendance_record(appointment_id=event.appointment_id, outcome="no_show", actor=therapist)
    assert OutboxMessage.objects.count() == 2


@time_machine.travel(datetime(2026, 6, 11, 1, 30, tzinfo=UTC), tick=False)  # 21:30 in New York
def test_a_message_due_at_night_waits_until_morning(plan, therapist, client_of_therapist):
    event = mark_no_show(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert first.due_at.astimezone(NY) == datetime(2026, 6, 11, 8, 0, tzinfo=NY)


def test_no_consent_means_no_automated_message(plan, therapist, practice):
    client = ClientFactory(practice=practice, clinician=therapist, consent_email=False, consent_sms=False)
    mark_no_show(client, therapist)
    assert not OutboxMessage.objects.exists()


def test_sms_is_used_when_preferred_and_consented(plan, therapist, practice):
    client = ClientFactory(
        practice=practice, clinician=therapist, preferred_channel="sms", phone="+1 555 0199", consent_sms=True
    )
    mark_no_show(client, therapist)
    assert set(OutboxMessage.objects.values_list("channel", flat=True)) == {"sms"}


def test_wording_differs_for_an_intake_and_a_repeat_miss(plan, therapist, client_of_therapist):
    intake = mark_no_show(client_of_therapist, therapist, session_type="intake")
    assert OutboxMessage.objects.get(missed_session=intake, step="first").kind == "first_intake"
    mark_no_show(client_of_therapist, therapist, start=timezone.now() - timedelta(days=20))
    third = mark_no_show(client_of_therapist, therapist, start=timezone.now() - timedelta(minutes=10))
    assert OutboxMessage.objects.get(missed_session=third, step="first").kind == "first_repeat"


def test_a_flagged_client_gets_nothing_until_the_check_is_done(plan, therapist, client_of_therapist):
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    event = mark_no_show(client_of_therapist, therapist)
    assert not OutboxMessage.objects.exists()
    tasks.process_missed_session(event.pk)
    assert not OutboxMessage.objects.exists()
    from policies.models import SafetyCheck

    aftercare.safety_check_done(check=SafetyCheck.objects.get(), actor=therapist)
    assert OutboxMessage.objects.filter(missed_session=event).count() == 2


def test_the_sweep_sends_a_due_message_once_with_minimum_content(
    plan, therapist, client_of_therapist, smtp_settings, practice
):
    make_policy(practice, no_show_fee=60)
    event = mark_no_show(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert tasks.sweep_followups() == 1
        assert tasks.sweep_followups() == 0
    [received] = smtp_settings.wait_for(1)
    mail = received.message
    assert received.envelope_to == [client_of_therapist.email]
    assert mail["Subject"] == "Checking in"
    assert practice.sender_name in mail["From"] and practice.name not in mail["From"]
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    assert mail["Message-ID"] == f"<followup.{message.pk}.first@{urlsplit(settings.SITE_URL).hostname}>"
    assert message.status == "sent" and message.provider_message_id == mail["Message-ID"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert client_of_therapist.first_name in text and client_of_therapist.last_name not in text
    assert "/r/" in text and "/r/" in html
    local = timezone.localtime(event.appointment.start, NY)
    assert f"{local:%H:%M}" in text
    for leak in ("60", "fee", "$", "Individual", "individual", therapist.last_name, "no-show", "No-show"):
        assert leak not in text, leak
        assert leak not in mail["Subject"]


def test_an_undo_before_the_due_time_sends_nothing(plan, therapist, client_of_therapist, smtp_settings):
    event = mark_no_show(client_of_therapist, therapist)
    aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"cancelled"}
    with time_machine.travel(timezone.now() + timedelta(days=4)):
        assert tasks.sweep_followups() == 0
    assert smtp_settings.messages == []


def test_a_row_claimed_before_the_undo_is_checked_again_and_not_sent(
    plan, therapist, client_of_therapist, smtp_settings
):
    event = mark_no_show(client_of_therapist, therapist)
    later = timezone.now() + timedelta(minutes=61)
    claim = services.outbox_claim_next(now=later)
    # The undo lands while the worker holds the row.
    from appointments.models import NoShowEvent

    NoShowEvent.objects.filter(pk=event.pk).update(undone_at=timezone.now())
    assert services.outbox_deliver(claim=claim) == "cancelled"
    assert smtp_settings.messages == []


@pytest.mark.parametrize("stop", ["rescheduled", "contacted", "archived"])
def test_pending_follow_ups_stop(stop, plan, therapist, client_of_therapist, smtp_settings):
    event = mark_no_show(client_of_therapist, therapist)
    if stop == "rescheduled":
        start = timezone.now() + timedelta(days=2)
        aftercare.makeup_book(
            missed=event.appointment, actor=therapist, clinician=therapist, start=start, end=start + timedelta(hours=1)
        )
    elif stop == "contacted":
        services.contacted_mark(event=event, actor=therapist)
    else:
        client_update(client=client_of_therapist, actor=therapist, is_archived=True)
    with time_machine.travel(timezone.now() + timedelta(days=4)):
        tasks.sweep_followups()
    assert smtp_settings.messages == []
    assert not OutboxMessage.objects.filter(status__in=["pending", "sent"]).exists()


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_each_message_once(therapist, practice, client_of_therapist, smtp_settings):
    plan = services.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 0
    plan.save()
    clients = [client_of_therapist] + [ClientFactory(practice=practice, clinician=therapist) for _ in range(5)]
    for i, client in enumerate(clients):
        mark_no_show(client, therapist, start=timezone.now() - timedelta(hours=i + 1))
    outcomes = run_concurrently(aftercare.followups_send_due, times=3)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    received = smtp_settings.wait_for(6)
    assert len(received) == 6
    assert len({r.message["Message-ID"] for r in received}) == 6
    assert OutboxMessage.objects.filter(status="sent").count() == 6


def test_a_failed_smtp_send_is_retried_with_backoff_then_sent(plan, therapist, client_of_therapist, smtp_settings):
    event = mark_no_show(client_of_therapist, therapist)
    smtp_settings.refuse_with = (451, "Try again later")
    due = timezone.now() + timedelta(minutes=61)
    with time_machine.travel(due, tick=False):
        tasks.sweep_followups()
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    assert (message.status, message.attempts, message.last_error) == ("pending", 1, "SMTP 451")
    assert message.due_at == due + timedelta(minutes=1)
    smtp_settings.refuse_with = None
    with time_machine.travel(due + timedelta(minutes=2), tick=False):
        tasks.sweep_followups()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(smtp_settings.wait_for(1)) == 1


def test_a_server_that_is_down_counts_as_a_transient_failure(plan, therapist, client_of_therapist, settings):
    from tests.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    event = mark_no_show(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    assert message.status == "pending" and message.attempts == 1 and message.last_error


def test_after_the_last_attempt_staff_see_could_not_reach(
    plan, therapist, client_of_therapist, smtp_settings, client, front_desk
):
    plan.max_attempts = 2
    plan.save()
    event = mark_no_show(client_of_therapist, therapist)
    smtp_settings.refuse_with = (451, "Busy")
    moment = timezone.now() + timedelta(minutes=61)
    for _ in range(2):
        with time_machine.travel(moment, tick=False):
            tasks.sweep_followups()
        moment += timedelta(hours=1)
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    assert message.status == "failed"
    client.force_login(front_desk)
    page = client.get("/").content.decode()
    assert "Could not reach the client" in page and client_of_therapist.full_name in page


def test_a_permanent_refusal_fails_at_once(plan, therapist, client_of_therapist, smtp_settings):
    event = mark_no_show(client_of_therapist, therapist)
    smtp_settings.refuse_with = (550, "No such mailbox")
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    assert (message.status, message.attempts) == ("failed", 1)


def test_a_worker_that_died_mid_send_leaves_the_row_for_the_sweep(plan, therapist, client_of_therapist, smtp_settings):
    event = mark_no_show(client_of_therapist, therapist)
    due = timezone.now() + timedelta(minutes=61)
    services.outbox_claim_next(now=due)  # claimed, then the worker died
    with time_machine.travel(due + timedelta(minutes=2)):
        tasks.sweep_followups()
    assert OutboxMessage.objects.get(missed_session=event, step="first").status == "sent"
    assert len(smtp_settings.wait_for(1)) == 1


def test_delay_zero_sends_from_the_commit_hook(
    therapist, practice, client_of_therapist, smtp_settings, django_capture_on_commit_callbacks
):
    plan = services.plan_for(practice)
    plan.first_delay_minutes = 0
    plan.save()
    with time_machine.travel(AFTERNOON, tick=False), django_capture_on_commit_callbacks() as callbacks:
        event = mark_no_show(client_of_therapist, therapist)
    # One to process the miss, one to send the first message now.
    assert len(callbacks) == 2
    message = OutboxMessage.objects.get(missed_session=event, step="first")
    with time_machine.travel(AFTERNOON, tick=False):
        assert tasks.send_followup(message.pk) == "sent"
        assert tasks.send_followup(message.pk) == ""
    assert len(smtp_settings.wait_for(1)) == 1


def test_send_again_and_cancel_from_the_log(plan, therapist, client_of_therapist, smtp_settings, client, front_desk):
    event = mark_no_show(client_of_therapist, therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    second = OutboxMessage.objects.get(missed_session=event, step="second")
    client.force_login(front_desk)
    client.post(f"/messages/{second.pk}/cancel/")
    second.refresh_from_db()
    assert second.status == "cancelled"
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    client.post(f"/messages/{first.pk}/send-again/")
    first.refresh_from_db()
    assert first.status == "pending"
    tasks.sweep_followups()
    assert len(smtp_settings.wait_for(2)) == 2
    page = client.get("/messages/").content.decode()
    assert f'id="message-{first.pk}"' in page and "Sent" in page


def test_the_log_and_its_actions_are_scoped(plan, therapist, client_of_therapist, client, other_practice_therapist):
    event = mark_no_show(client_of_therapist, therapist)
    message = OutboxMessage.objects.filter(missed_session=event).first()
    client.force_login(other_practice_therapist)
    assert f'id="message-{message.pk}"' not in client.get("/messages/").content.decode()
    assert client.post(f"/messages/{message.pk}/cancel/").status_code == 404
    assert client.post(f"/missed/{event.pk}/contacted/").status_code == 404
    message.refresh_from_db()
    assert message.status == "pending"


def test_edited_wording_is_used_and_checked(plan, therapist, client_of_therapist, practice, smtp_settings):
    services.template_save(
        practice=practice,
        kind="first",
        subject="Hello from {practice_name}",
        body="Dear {first_name}, pick a time: {reschedule_link}",
        actor=None,
    )
    mark_no_show(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    [received] = smtp_settings.wait_for(1)
    assert received.message["Subject"] == f"Hello from {practice.sender_name}"
    assert received.message.get_body(("plain",)).get_content().startswith(f"Dear {client_of_therapist.first_name}")
    from django.core.exceptions import ValidationError

    for subject, body in [
        ("Hi {first_name}", "{reschedule_link}"),
        ("Hi", "no link"),
        ("Hi", "{unknown} {reschedule_link}"),
    ]:
        with pytest.raises(ValidationError):
            services.template_save(practice=practice, kind="second", subject=subject, body=body, actor=None)
    assert MessageTemplate.objects.count() == 1


def test_the_default_first_messages_never_talk_money_or_blame():
    from followups.defaults import DEFAULTS

    for kind in ("first", "first_late_cancel", "first_repeat", "first_intake"):
        subject, body = DEFAULTS[kind]
        text = (subject + body).lower()
        for word in ("fee", "charge", "$", "pay", "policy", "no-show", "failed", "should have"):
            assert word not in text, (kind, word)
        assert "{reschedule_link}" in body and "{contact_line}" in body


def test_each_send_makes_a_fresh_hashed_link(plan, therapist, client_of_therapist, smtp_settings):
    mark_no_show(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    [received] = smtp_settings.wait_for(1)
    text = received.message.get_body(("plain",)).get_content()
    token = text.split("/r/", 1)[1].split("/", 1)[0]
    link = ClientLink.objects.get()
    assert token not in link.token_hash and link.token_hash == services.token_hash(token)
    assert link.expires_at - link.created_at == pytest.approx(timedelta(days=14), abs=timedelta(seconds=5))


def test_plan_off_plans_nothing(therapist, client_of_therapist, practice):
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"enabled": False, "quiet_start": time(20)})
    mark_no_show(client_of_therapist, therapist)
    assert not OutboxMessage.objects.exists()


def test_the_message_log_runs_a_constant_number_of_queries(
    plan, therapist, practice, client, front_desk, django_assert_num_queries
):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        mark_no_show(ClientFactory(practice=practice, clinician=therapist), therapist)
    client.force_login(front_desk)
    with CaptureQueriesContext(db) as few:
        client.get("/messages/")
    for _ in range(10):
        mark_no_show(ClientFactory(practice=practice, clinician=therapist), therapist)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/messages/").status_code == 200


def test_after_a_late_safety_check_follow_ups_count_from_the_check(plan, therapist, client_of_therapist):
    from policies.models import SafetyCheck

    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    event = mark_no_show(client_of_therapist, therapist)
    tasks.process_missed_session(event.pk)
    checked_at = timezone.now() + timedelta(hours=5)
    with time_machine.travel(checked_at, tick=False):
        aftercare.safety_check_done(check=SafetyCheck.objects.get(), actor=therapist)
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    assert first.due_at == services.followups_plan(event=event)[0].due_at  # planning again changes nothing
    assert first.due_at >= checked_at + timedelta(minutes=60)


def test_the_clinician_can_clear_a_check_without_automated_messages(plan, therapist, client_of_therapist):
    from followups.models import ContactNote
    from policies.models import FeeAssessment, SafetyCheck

    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    event = mark_no_show(client_of_therapist, therapist)
    tasks.process_missed_session(event.pk)
    aftercare.safety_check_done(check=SafetyCheck.objects.get(), actor=therapist, send_followups=False)
    assert not OutboxMessage.objects.exists()
    assert ContactNote.objects.get(missed_session=event).contacted_by == therapist
    assert FeeAssessment.objects.filter(missed_session=event).exists()


def test_saved_wording_uses_plain_line_breaks(practice):
    template = services.template_save(
        practice=practice,
        kind="second",
        subject=" Hello \r\n",
        body="Hi {first_name},\r\n{reschedule_link}",
        actor=None,
    )
    assert (template.subject, template.body) == ("Hello", "Hi {first_name},\n{reschedule_link}")


def test_the_client_page_with_fees_and_follow_ups_runs_a_constant_number_of_queries(
    plan, therapist, practice, client_of_therapist, client, django_assert_num_queries
):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    make_policy(practice)

    def miss(hours):
        event = mark_no_show(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=hours))
        tasks.process_missed_session(event.pk)

    miss(1)
    client.force_login(therapist)
    url = client_of_therapist.get_absolute_url()
    with CaptureQueriesContext(db) as few:
        client.get(url)
    for hours in range(2, 12):
        miss(hours)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("for_practice", "for_client", "mentioned"), [(False, False, False), (False, True, True), (True, False, True)]
)
def test_the_exercises_line_follows_the_plan_or_the_therapists_choice_for_the_client(
    plan, therapist, client_of_therapist, smtp_settings, for_practice, for_client, mentioned
):
    plan.mention_exercises = for_practice
    plan.save()
    client_update(client=client_of_therapist, actor=therapist, mention_exercises=for_client)
    mark_no_show(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        tasks.sweep_followups()
    [received] = smtp_settings.wait_for(1)
    text = received.message.get_body(("plain",)).get_content()
    assert ("between-session exercises" in text) == mentioned


def test_when_the_mail_server_is_back_messages_in_backoff_go_at_the_next_sweep(
    plan, therapist, client_of_therapist, settings
):
    """Found by `make faults` (SMTP down 2 minutes, settled in 243 s): a message that had failed
    twice waited 4 more minutes after the server came back. The minute sweep asks the server
    (a connection opened and closed, nothing sent) and sends what waited for it at once."""
    from aiosmtpd.controller import Controller

    from tests.smtp import Inbox, _Handler, free_port

    port = free_port()  # nothing listens here yet: the server is down
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    events = [
        mark_no_show(client_of_therapist, therapist),
        mark_no_show(ClientFactory(practice=client_of_therapist.practice, clinician=therapist), therapist),
    ]
    moment = timezone.now() + timedelta(minutes=61)
    for minutes in (0, 1):
        with time_machine.travel(moment + timedelta(minutes=minutes), tick=False):
            tasks.sweep_followups()
    rows = OutboxMessage.objects.filter(missed_session__in=events, step="first")
    assert {(r.status, r.attempts, r.waiting_for_channel) for r in rows} == {("pending", 2, True)}
    assert {r.due_at for r in rows} == {moment + timedelta(minutes=5)}

    # Still down a minute later: nothing is brought forward, no attempt is spent.
    with time_machine.travel(moment + timedelta(minutes=2), tick=False):
        tasks.sweep_followups()
    assert {(r.attempts, r.due_at) for r in rows.all()} == {(2, moment + timedelta(minutes=5))}

    inbox = Inbox(host="127.0.0.1", port=port)
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with time_machine.travel(moment + timedelta(minutes=3), tick=False):
            tasks.sweep_followups()
        assert {(r.status, r.attempts, r.waiting_for_channel) for r in rows.all()} == {("sent", 3, False)}
        assert len(inbox.wait_for(2)) == 2
    finally:
        controller.stop()


def test_a_busy_answer_from_a_server_that_is_up_keeps_the_backoff(plan, therapist, client_of_therapist, smtp_settings):
    """A 4xx answer is about this message (or a busy server), not a server that is away: no catching up."""
    event = mark_no_show(client_of_therapist, therapist)
    smtp_settings.refuse_with = (451, "Busy")
    moment = timezone.now() + timedelta(minutes=61)
    with time_machine.travel(moment, tick=False):
        tasks.sweep_followups()
    row = OutboxMessage.objects.get(missed_session=event, step="first")
    assert (row.status, row.attempts, row.waiting_for_channel) == ("pending", 1, False)


def test_a_row_that_failed_on_its_own_is_not_brought_forward(plan, therapist, client_of_therapist, smtp_settings):
    """Only a channel that was away brings rows forward; a row that broke by itself keeps its backoff."""
    event = mark_no_show(client_of_therapist, therapist)
    row = OutboxMessage.objects.get(missed_session=event, step="first")
    later = timezone.now() + timedelta(minutes=30)
    OutboxMessage.objects.filter(pk=row.pk).update(attempts=1, last_error="builtins.ValueError", due_at=later)
    services._catch_up(channel=row.channel, now=timezone.now())
    row.refresh_from_db()
    assert row.due_at == later
