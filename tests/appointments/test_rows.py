"""Schedule rows from the row cache (issue 11): a cached row is always the row a fresh render would give.

The cache's correctness is structural (practice/rowcache.py): the row partial
reads only `row`, a flat frozen ScheduleRow, and the row is the key. These tests
hold each part of that argument: the row view is flat and immutable, the partial
reads nothing else, a cached render equals a fresh one for any row state, and a
change to any field is a new key with its own HTML.
"""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template.loader import get_template
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.services import attendance_record
from appointments import rows as schedule
from appointments.models import Appointment
from appointments.rows import TEMPLATE, ScheduleRow
from practice import rowcache
from tests.factories import AppointmentFactory
from tests.rowviews import assert_reads_only_row
from tests.rowviews import changed as _changed

# Wednesday 1 July 2026, 10:00 in New York (the test practices' zone).
MORNING = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)

# Text that HTML must escape, and text that looks like template syntax, among the rest.
text = st.one_of(st.text(max_size=12), st.sampled_from(['<b>"x"</b>', "a&b", "{{ row.pk }}", "'", "", "O'Brien"]))
row_views = st.builds(
    ScheduleRow,
    pk=st.integers(min_value=1, max_value=2**31),
    status=st.sampled_from([*Appointment.Status.values, "unknown"]),
    client_response=st.sampled_from([*Appointment.ClientResponse.values, "other"]),
    **{
        f.name: text
        for f in dataclasses.fields(ScheduleRow)
        if f.type is str and f.name not in ("status", "client_response")
    },
)


@pytest.fixture(autouse=True)
def _empty_row_cache():
    rowcache.clear()
    yield
    rowcache.clear()


def _fresh(row: ScheduleRow) -> str:
    """The partial rendered directly, without the row cache's code."""
    return get_template(TEMPLATE).render({"row": row})


def test_a_row_view_is_flat_frozen_and_hashable():
    """Nothing mutable can hide inside a key: every field is an int, a str or a bool."""
    assert dataclasses.fields(ScheduleRow)
    assert {f.type for f in dataclasses.fields(ScheduleRow)} <= {int, str, bool}
    assert ScheduleRow.__dataclass_params__.frozen
    row = dataclasses.replace(
        ScheduleRow(**{f.name: _changed(f.type()) for f in dataclasses.fields(ScheduleRow)}), pk=7
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "attended"  # type: ignore[misc]
    assert hash(row) == hash(dataclasses.replace(row))


@settings(max_examples=150, deadline=None)
@given(row=row_views)
def test_a_cached_row_is_what_a_fresh_render_gives(row):
    first = rowcache.render_row(TEMPLATE, row, cache=row.cacheable)
    again = rowcache.render_row(TEMPLATE, row, cache=row.cacheable)  # a hit, when cacheable
    assert first == again == _fresh(row)
    assert f'id="appt-{row.pk}"' in first


@settings(max_examples=60, deadline=None)
@given(row=row_views, field=st.sampled_from([f.name for f in dataclasses.fields(ScheduleRow)]))
def test_changing_any_field_is_a_new_key_with_its_own_html(row, field):
    row = dataclasses.replace(row, error="", note="")  # cacheable
    other = dataclasses.replace(row, **{field: _changed(getattr(row, field))})
    assert other != row
    rowcache.render_rows(TEMPLATE, [row])  # cached
    shown = rowcache.render_rows(TEMPLATE, [row, other])
    assert shown == _fresh(row) + _fresh(other)


POISON = {
    # What a page's context holds, with values that would show if the partial read them.
    "appointment": "POISON-appointment",
    "membership": "POISON-membership",
    "show_date": "POISON-show-date",
    "row_error": "POISON-error",
    "row_note": "POISON-note",
    "request": "POISON-request",
    "user": "POISON-user",
    "csrf_token": "POISON-csrf",
    "perms": "POISON-perms",
    "messages": "POISON-messages",
    "rows": "POISON-rows",
    "page": "POISON-page",
}


@settings(max_examples=100, deadline=None)
@given(row=row_views)
def test_the_row_partial_reads_nothing_but_row(row):
    assert_reads_only_row(TEMPLATE, row, _fresh(row), POISON)


def test_the_cache_keeps_at_most_its_size_and_forgets_the_oldest(settings):
    settings.ROW_CACHE_SIZE = 3
    base = ScheduleRow(**{f.name: f.type() for f in dataclasses.fields(ScheduleRow)})
    made = [dataclasses.replace(base, pk=n) for n in range(1, 6)]
    rowcache.render_rows(TEMPLATE, made)
    assert rowcache.stats()["entries"] == 3
    template = rowcache._template(TEMPLATE)
    assert [key[1].pk for key in rowcache._entries] == [3, 4, 5]
    rowcache.render_rows(TEMPLATE, [made[2]])  # used again: now the newest
    rowcache.render_rows(TEMPLATE, [made[0]])
    assert [key[1].pk for key in rowcache._entries] == [5, 3, 1]
    assert all(key[0] is template for key in rowcache._entries)


def test_size_zero_turns_the_cache_off(settings):
    settings.ROW_CACHE_SIZE = 0
    row = ScheduleRow(**{f.name: f.type() for f in dataclasses.fields(ScheduleRow)})
    assert rowcache.render_row(TEMPLATE, row) == _fresh(row)
    assert rowcache.render_row(TEMPLATE, row, cache=False) == _fresh(row)
    assert rowcache.stats()["entries"] == 0


def test_a_row_with_a_message_is_not_cached():
    row = ScheduleRow(**{f.name: f.type() for f in dataclasses.fields(ScheduleRow)})
    html = schedule.render([schedule.with_message(row, error="Already marked.")])
    assert "Already marked." in html
    html = schedule.render([schedule.with_message(row, note="The follow-up was stopped.")])
    assert "The follow-up was stopped." in html
    assert rowcache.stats()["entries"] == 0


pytestmark_db = pytest.mark.django_db


def _row_html(response, pk) -> str:
    page = response.content.decode()
    start = page.index(f'<tr id="appt-{pk}"')
    return page[start : page.index("</tr>", start)]


@pytestmark_db
def test_today_shows_the_marked_row_not_the_cached_one(client, therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist, start=MORNING - timedelta(minutes=5))
    client.force_login(therapist)
    with time_machine.travel(MORNING, tick=False):
        before = _row_html(client.get(reverse("appointments:today")), appointment.pk)
        assert ">Attended</button>" in before and "Undo" not in before
        attendance_record(appointment_id=appointment.pk, outcome="attended", actor=therapist)
        after = _row_html(client.get(reverse("appointments:today")), appointment.pk)
    assert 'data-status="attended"' in after and "Undo" in after and ">Attended</button>" not in after
    # The undo window closes: the same row, later, offers a correction instead.
    with time_machine.travel(MORNING + timedelta(minutes=11), tick=False):
        later = _row_html(client.get(reverse("appointments:today")), appointment.pk)
    assert "Undo" not in later and "Correct…" in later


@pytestmark_db
def test_a_session_starting_unlocks_its_buttons(client, therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist, start=MORNING + timedelta(minutes=30))
    client.force_login(therapist)
    with time_machine.travel(MORNING, tick=False):
        waiting = _row_html(client.get(reverse("appointments:today")), appointment.pk)
    with time_machine.travel(MORNING + timedelta(minutes=31), tick=False):
        started = _row_html(client.get(reverse("appointments:today")), appointment.pk)
    assert waiting.count("disabled") == 2 and "disabled" not in started


@pytestmark_db
def test_each_viewer_sees_their_own_rights_on_the_same_row(client, therapist, front_desk, client_of_therapist):
    """A clinician's Today has no clinician column; front desk's has one and may not correct."""
    appointment = AppointmentFactory(client=client_of_therapist, start=MORNING - timedelta(hours=1))
    with time_machine.travel(MORNING - timedelta(minutes=30), tick=False):
        attendance_record(appointment_id=appointment.pk, outcome="attended", actor=therapist)
    with time_machine.travel(MORNING, tick=False):
        client.force_login(therapist)
        mine = _row_html(client.get(reverse("appointments:today")), appointment.pk)
        client.force_login(front_desk)
        desk = _row_html(client.get(reverse("appointments:today")), appointment.pk)
    assert 'data-label="Clinician"' not in mine and "Correct…" in mine
    assert 'data-label="Clinician"' in desk and "Correct…" not in desk


@pytestmark_db
@pytest.mark.parametrize("status", Appointment.Status.values)
def test_a_row_view_shows_what_the_appointment_says(status, therapist, practice_admin, client_of_therapist):
    from practice.models import Membership

    appointment = AppointmentFactory(
        client=client_of_therapist, start=MORNING, status=status, session_type="couples", modality="telehealth"
    )
    admin = Membership.objects.select_related("practice").get(user=practice_admin)
    row = schedule.schedule_row(appointment, membership=admin, now=MORNING, show_date=True)
    assert row.status_display == appointment.get_status_display()
    assert row.session_type_display == appointment.get_session_type_display()
    assert row.modality_display == appointment.get_modality_display()
    assert (row.client_name, row.client_url) == (client_of_therapist.full_name, client_of_therapist.get_absolute_url())
    assert row.clinician_name == (therapist.get_full_name() or therapist.username)
    assert row.date_label == "Wed 1 Jul" and row.start_time == "10:00"
    assert row.is_missed == appointment.is_missed
