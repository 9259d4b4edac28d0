"""Who sees what: reflection notes, check-ins and the ladder page, with the personas."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from appointments.models import NoShowEvent
from engagement import services
from engagement.models import CheckInTask, ReflectionNote
from policies.models import EscalationStep
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, make_ladder

pytestmark = pytest.mark.django_db


@pytest.fixture
def miss(client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist, status="no_show")
    return NoShowEvent.objects.create(practice=appointment.practice, appointment=appointment, kind="no_show")


@pytest.fixture
def note(therapist, client_of_therapist, miss):
    return services.reflection_note_create(
        membership=therapist.membership, client=client_of_therapist, text="Try Thursday evenings.", missed_session=miss
    )


def client_page(client, user, client_obj):
    client.force_login(user)
    return client.get(reverse("appointments:client_detail", args=[client_obj.pk]))


def test_the_author_writes_a_note_on_the_client_page_and_it_is_audited(client, therapist, client_of_therapist, miss):
    client.force_login(therapist)
    url = reverse("engagement:note_add", args=[client_of_therapist.pk])
    response = client.post(url, {"text": "A check-in call next week.", "missed_session": miss.pk})
    assert response.status_code == 302
    note = ReflectionNote.objects.get()
    assert (note.author, note.client, note.missed_session) == (therapist, client_of_therapist, miss)
    created = AuditEvent.objects.get(action="reflection_note.created")
    assert created.client_ref == client_of_therapist.pk and "check-in" not in str(created.changes)
    page = client.get(reverse("appointments:client_detail", args=[client_of_therapist.pk]))
    assert "A check-in call next week." in page.content.decode()
    viewed = AuditEvent.objects.get(action="reflection_notes.viewed")
    assert viewed.changes == {"notes": [note.pk]} and viewed.actor == therapist


@pytest.mark.parametrize(
    "posted,message",
    [
        ({"text": ""}, "Write the note first."),
        ({"text": "x" * 2001}, "under 2000"),
        ({"text": "ok", "missed_session": "999999"}, "Choose one of this client"),
        ({"text": "ok", "missed_session": "abc"}, "Choose one of this client"),
    ],
)
def test_bad_note_input_changes_nothing_and_says_why(client, therapist, client_of_therapist, posted, message):
    client.force_login(therapist)
    response = client.post(reverse("engagement:note_add", args=[client_of_therapist.pk]), posted, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ReflectionNote.objects.exists()


def test_an_admin_reads_the_note_but_cannot_change_it(client, practice_admin, client_of_therapist, note):
    assert "Try Thursday evenings." in client_page(client, practice_admin, client_of_therapist).content.decode()
    url = reverse("engagement:note", args=[note.pk])
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="reflection_note.viewed", actor=practice_admin).exists()
    client.post(url, {"text": "Changed"})
    note.refresh_from_db()
    assert note.text == "Try Thursday evenings."


def test_other_clinicians_and_front_desk_get_nothing(
    client, therapist2, front_desk, other_practice_therapist, client_of_therapist, note
):
    # therapist2 sees the client (a session with them), never the note.
    AppointmentFactory(client=client_of_therapist, clinician=therapist2)
    for user in (therapist2, front_desk):
        page = client_page(client, user, client_of_therapist)
        assert page.status_code == 200
        body = page.content.decode()
        assert "Try Thursday evenings." not in body
        assert client.get(reverse("engagement:note", args=[note.pk])).status_code == 404
    assert "Save the note" not in client_page(client, front_desk, client_of_therapist).content.decode()
    response = client.post(reverse("engagement:note_add", args=[client_of_therapist.pk]), {"text": "x"})
    assert response.status_code == 302 and ReflectionNote.objects.count() == 1
    client.force_login(other_practice_therapist)
    assert client.get(reverse("engagement:note", args=[note.pk])).status_code == 404
    assert client.post(reverse("engagement:note_add", args=[client_of_therapist.pk]), {"text": "x"}).status_code == 404
    assert not AuditEvent.objects.filter(action="reflection_note.viewed").exists()


def test_the_author_edits_the_note_audited_without_its_words(client, therapist, note):
    client.force_login(therapist)
    url = reverse("engagement:note", args=[note.pk])
    assert client.post(url, {"text": "Telehealth on Mondays."}).status_code == 302
    note.refresh_from_db()
    assert note.text == "Telehealth on Mondays."
    assert AuditEvent.objects.get(action="reflection_note.changed").changes == {"text": "changed"}
    assert client.post(url, {"text": ""}).status_code == 200  # error shown, nothing changed
    note.refresh_from_db()
    assert note.text == "Telehealth on Mondays."


# ---------------------------------------------------------------- check-ins


@pytest.fixture
def task(practice, therapist, client_of_therapist, miss):
    [step] = make_ladder(practice, (2, 30))
    return CheckInTask.objects.create(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        step=step,
        missed_session=miss,
        first_miss=miss.appointment.start,
        title=step.title,
        misses=2,
        window_days=30,
        script="Hi Robin",
    )


def test_today_shows_the_clinicians_own_check_ins_and_admins_all(
    client, therapist, therapist2, front_desk, practice_admin, task
):
    for user, sees in ((therapist, True), (practice_admin, True), (therapist2, False), (front_desk, False)):
        client.force_login(user)
        body = client.get(reverse("appointments:today")).content.decode()
        assert ("Record what I did" in body) is sees, user
        # The row says which step of the ladder gave the task.
        assert (f"{task.title} (step {task.step_number} of the ladder: 2 misses in 30 days)" in body) is sees, user
        status = client.get(reverse("engagement:checkin", args=[task.pk])).status_code
        assert status == (200 if sees else 404), user


def test_today_lists_check_ins_in_a_fixed_number_of_queries(
    client, practice, therapist, task, django_assert_num_queries
):
    client.force_login(therapist)
    url = reverse("appointments:today")
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    few = len(ctx.captured_queries)
    for _ in range(25):
        other = ClientFactory(practice=practice, clinician=therapist)
        CheckInTask.objects.create(
            practice=practice,
            client=other,
            clinician=therapist,
            step=task.step,
            missed_session=task.missed_session,
            first_miss=task.first_miss,
            title="Check in",
            misses=2,
            window_days=30,
        )
    with django_assert_num_queries(few):
        body = client.get(url).content.decode()
    assert body.count("Record what I did</a>") == 20  # bounded


def test_recording_what_was_done_closes_the_task(client, therapist, task):
    client.force_login(therapist)
    url = reverse("engagement:checkin", args=[task.pk])
    response = client.post(url, {"what_was_done": "", "script": "Hi"})
    assert response.status_code == 200 and "Write what you did first." in response.content.decode()
    response = client.post(url, {"what_was_done": "Called, moved to mornings.", "script": "Hi Robin, my words"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.done_by, task.what_was_done, task.script) == (
        therapist,
        "Called, moved to mornings.",
        "Hi Robin, my words",
    )
    assert client.post(url, {"what_was_done": "again"}).status_code == 302
    task.refresh_from_db()
    assert task.what_was_done == "Called, moved to mornings."


# ---------------------------------------------------------------- Policies → Repeated misses


def test_only_admins_change_the_ladder_and_everyone_reads_it(client, practice, practice_admin, therapist, front_desk):
    url = reverse("engagement:ladder")
    for user in (therapist, front_desk):
        client.force_login(user)
        body = client.get(url).content.decode()
        assert "never charge more, never block booking and never discharge" in body
        client.post(url, {"count": 2, "window_days": 30, "title": "Check in"})
        assert not EscalationStep.objects.exists()
    client.force_login(practice_admin)
    assert client.post(url, {"count": 2, "window_days": 30, "title": "Check in", "script": ""}).status_code == 302
    step = EscalationStep.objects.get()
    client.force_login(therapist)
    assert client.get(reverse("engagement:ladder_step", args=[step.pk])).status_code == 403
    assert client.post(reverse("engagement:ladder_step_delete", args=[step.pk])).status_code == 403


@pytest.mark.parametrize(
    "posted,message",
    [
        ({"count": "1", "window_days": "30", "title": "x"}, "at least 2 misses"),
        ({"count": "21", "window_days": "30", "title": "x"}, "at most 20"),
        ({"count": "2", "window_days": "0", "title": "x"}, "at least 1 day"),
        ({"count": "2", "window_days": "400", "title": "x"}, "at most 365"),
        ({"count": "two", "window_days": "30", "title": "x"}, "Enter a whole number."),
        ({"count": "3", "window_days": "90", "title": "x"}, "already a step"),
    ],
)
def test_bad_steps_are_refused_with_a_clear_message(client, practice, practice_admin, posted, message):
    make_ladder(practice)  # 3 in 90
    client.force_login(practice_admin)
    response = client.post(reverse("engagement:ladder"), posted)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert EscalationStep.objects.count() == 1


def test_an_admin_edits_and_removes_a_step_of_their_own_practice_only(client, practice, other_practice, practice_admin):
    [step] = make_ladder(practice, (2, 30))
    [elsewhere] = make_ladder(other_practice, (2, 30))
    client.force_login(practice_admin)
    assert client.get(reverse("engagement:ladder_step", args=[elsewhere.pk])).status_code == 404
    assert client.post(reverse("engagement:ladder_step_delete", args=[elsewhere.pk])).status_code == 404
    url = reverse("engagement:ladder_step", args=[step.pk])
    assert client.post(url, {"count": 2, "window_days": 45, "title": "Call", "script": "Hi"}).status_code == 302
    step.refresh_from_db()
    assert (step.window_days, step.title) == (45, "Call")
    assert client.post(reverse("engagement:ladder_step_delete", args=[step.pk])).status_code == 302
    assert not EscalationStep.objects.filter(practice=practice).exists()
    assert EscalationStep.objects.filter(pk=elsewhere.pk).exists()


def test_the_follow_up_plan_form_no_longer_has_the_repeat_fields(client, practice_admin):
    client.force_login(practice_admin)
    body = client.get(reverse("policies:policy")).content.decode()
    assert "repeat_threshold" not in body and "repeat_window_days" not in body
    assert reverse("engagement:ladder") in body


def test_the_client_page_shows_the_strip_with_denominators(client, therapist, client_of_therapist):
    for days, status in ((30, "attended"), (20, "no_show"), (10, "late_cancel")):
        AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=days), status=status)
    body = client_page(client, therapist, client_of_therapist).content.decode()
    assert 'id="engagement-strip"' in body
    assert "1 of 3 sessions: too few to tell" in body


# What the client told us (package "replies").


def test_what_the_client_told_us_shows_for_front_desk_in_a_fixed_number_of_queries(
    client, practice, front_desk, client_of_therapist, django_assert_num_queries
):
    from tests.engagement.replies import KINDS, every_kind_of_reply

    client.force_login(front_desk)
    url = reverse("appointments:client_detail", args=[client_of_therapist.pk])
    every_kind_of_reply(client_of_therapist)
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(url).content.decode()
    few = len(ctx.captured_queries)
    assert body.count("<tr data-kind=") == len(KINDS)
    assert "Told us what got in the way: Transport: “The bus was late”" in body
    assert "Reply-To" in body and "not shown here" in body
    now = timezone.now()
    for i in range(30):
        AppointmentFactory(
            client=client_of_therapist, start=now + timedelta(days=60 + i), confirmed_at=now - timedelta(minutes=i)
        )
    with django_assert_num_queries(few):
        body = client.get(url).content.decode()
    assert body.count("<tr data-kind=") == 20  # bounded: the latest 20
    # The two texts (STOP, START) were recorded just now; the 18 newest confirmations follow.
    assert body.count('<tr data-kind="confirmed">') == 18 and '<tr data-kind="sms_opted_out">' in body


def test_what_the_client_told_us_is_not_shown_to_another_practice(
    client, other_practice_therapist, client_of_therapist
):
    from tests.engagement.replies import every_kind_of_reply

    every_kind_of_reply(client_of_therapist)
    client.force_login(other_practice_therapist)
    response = client.get(reverse("appointments:client_detail", args=[client_of_therapist.pk]))
    assert response.status_code == 404 and "The bus was late" not in response.content.decode()
