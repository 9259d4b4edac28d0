"""practice/sqlonce.py: compiled once, each call with its own values, and loud when a value cannot be swapped."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments.models import Appointment, Client
from practice import sqlonce
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db


def _starts(*, client_id: int):
    return Appointment.objects.filter(client_id=client_id).order_by("start").values_list("client_id", "start")


def _sessions(*, client_id: int):
    return Appointment.objects.filter(client_id=client_id).order_by("start")


def test_each_call_reads_its_own_ids_with_one_compiled_query(practice, therapist, other_practice_therapist):
    mine = ClientFactory(practice=practice, clinician=therapist)
    theirs = ClientFactory(practice=practice, clinician=therapist)
    a = AppointmentFactory(client=mine)
    b = AppointmentFactory(client=theirs)
    with CaptureQueriesContext(connection) as ctx:
        assert sqlonce.rows(_starts, client_id=mine.pk) == [(mine.pk, a.start)]
        assert sqlonce.rows(_starts, client_id=theirs.pk) == [(theirs.pk, b.start)]
        assert [s.pk for s in sqlonce.instances(Appointment, _sessions, client_id=theirs.pk)] == [b.pk]
    assert len(ctx.captured_queries) == 3
    assert sqlonce.rows(_starts, client_id=0) == []


def test_an_id_that_never_reaches_the_parameters_is_refused():
    def ignores_its_id(*, client_id: int):
        return Client.objects.all().values_list("pk")

    with pytest.raises(ValueError, match="every value must reach"):
        sqlonce.rows(ignores_its_id, client_id=1)


def test_a_value_only_some_shapes_use_may_be_ignored_when_said(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    session = AppointmentFactory(client=client)

    def own(whole_practice: bool, *, practice_id: int, user_id: int):
        qs = Appointment.objects.filter(practice_id=practice_id)
        return (qs if whole_practice else qs.filter(clinician_id=user_id)).values_list("pk")

    mine = {"practice_id": practice.pk, "user_id": therapist.pk}
    assert sqlonce.rows(own, False, **mine) == [(session.pk,)]
    assert sqlonce.rows(own, True, may_ignore=("user_id",), **mine) == [(session.pk,)]
    with pytest.raises(ValueError, match="does not reach"):
        sqlonce.rows(own, True, **mine)


def test_values_come_back_as_the_orm_gives_them(practice, therapist):
    """Django's converters run on every column: on SQLite a datetime is text without its converter."""
    client = ClientFactory(practice=practice, clinician=therapist)
    session = AppointmentFactory(client=client)
    [(client_id, start)] = sqlonce.rows(_starts, client_id=client.pk)
    assert (client_id, start) == tuple(_starts(client_id=client.pk).get())
    assert start.tzinfo is not None and start == session.start


def _since(*, client_id: int, now):
    """A datetime shifted by a fixed amount, as selectors write "the last 90 days"."""
    return (
        Appointment.objects.filter(client_id=client_id, start__gte=now - timedelta(days=90), start__lt=now)
        .order_by("start")
        .values_list("pk")
    )


def _by_status(filtered: bool, *, client_id: int, status: str = ""):
    qs = Appointment.objects.filter(client_id=client_id)
    if filtered:
        qs = qs.filter(status=status)
    return qs.order_by("start", "pk").values_list("pk")


def test_datetimes_and_their_fixed_shifts_are_each_calls_own(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    now = timezone.now()
    old = AppointmentFactory(client=client, start=now - timedelta(days=100))
    recent = AppointmentFactory(client=client, start=now - timedelta(days=10))
    assert sqlonce.rows(_since, client_id=client.pk, now=now) == [(recent.pk,)]
    assert sqlonce.rows(_since, client_id=client.pk, now=now - timedelta(days=60)) == [(old.pk,)]
    assert sqlonce.rows(_since, client_id=client.pk, now=now - timedelta(days=300)) == []


def test_text_the_shape_and_a_page_of_the_rows(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    sessions = [AppointmentFactory(client=client, status="scheduled") for _ in range(3)]
    missed = AppointmentFactory(client=client, status="no_show")
    everything = list(_by_status(False, client_id=client.pk))
    assert sqlonce.rows(_by_status, False, client_id=client.pk) == everything
    assert sqlonce.rows(_by_status, True, client_id=client.pk, status="no_show") == [(missed.pk,)]
    assert len(sqlonce.rows(_by_status, True, client_id=client.pk, status="scheduled")) == len(sessions)
    assert sqlonce.rows(_by_status, False, client_id=client.pk, limit=2, offset=1) == everything[1:3]
    assert sqlonce.rows(_by_status, False, client_id=client.pk, limit=2, offset=4) == []


def test_a_datetime_changed_other_than_by_a_fixed_shift_is_refused():
    def rounded(*, now):
        return Appointment.objects.filter(start__gte=now.replace(minute=0, second=0, microsecond=0)).values_list("pk")

    with pytest.raises(ValueError, match="derived from one in another way"):
        sqlonce.rows(rounded, now=timezone.now())


def test_a_value_written_into_the_sql_is_refused():
    def inlined(*, client_id: int):
        # An int written into the SQL on purpose: the case sqlonce must refuse.
        return Appointment.objects.filter(client_id=RawSQL(str(client_id), ())).values_list("pk")  # noqa: S611

    with pytest.raises(ValueError, match="written into the SQL"):
        sqlonce.rows(inlined, client_id=1)


def test_text_changed_on_its_way_to_the_parameters_is_refused():
    def contains(*, name: str):
        return Client.objects.filter(first_name__icontains=name).values_list("pk")

    with pytest.raises(ValueError, match="every value must reach"):
        sqlonce.rows(contains, name="ann")


def test_a_sliced_query_cannot_be_paged_again():
    def sliced(*, client_id: int):
        return Appointment.objects.filter(client_id=client_id).values_list("pk")[:5]

    with pytest.raises(ValueError, match="must not be sliced"):
        sqlonce.rows(sliced, client_id=1, limit=2)


def test_naive_datetimes_and_other_types_are_not_values():
    with pytest.raises(TypeError):
        sqlonce.rows(_since, client_id=1, now=timezone.now().replace(tzinfo=None))
    with pytest.raises(TypeError):
        sqlonce.rows(_starts, client_id=True)


def _with_clinician(*, client_id: int, now):
    """select_related two levels deep, only() some columns, an annotation and a datetime value."""
    return (
        Appointment.objects.filter(client_id=client_id, start__lt=now)
        .select_related("clinician", "client__clinician")
        .only("start", "status", "clinician__first_name", "client__first_name", "client__clinician__username")
        .annotate(later=F("start") + timedelta(hours=1))
        .order_by("-start", "-id")
    )


def test_objects_are_what_iterating_the_queryset_gives(practice, therapist, other_client):
    now = timezone.now()
    mine = ClientFactory(practice=practice, clinician=therapist)
    for days in (1, 2, 3, -1):
        AppointmentFactory(client=mine, start=now - timedelta(days=days))
    theirs = other_client
    AppointmentFactory(client=theirs, start=now - timedelta(days=1))

    def facts(objs):
        return [
            (
                o.pk,
                o.start,
                o.status,
                o.later,
                o.clinician.first_name,
                o.client.first_name,
                o.client.clinician.username,
                o.get_deferred_fields(),
            )
            for o in objs
        ]

    for client in (mine, theirs):
        expected = list(_with_clinician(client_id=client.pk, now=now))
        with CaptureQueriesContext(connection) as ctx:
            found = sqlonce.objects(_with_clinician, client_id=client.pk, now=now)
            assert facts(found) == facts(expected)  # nothing read lazily: no query below
        assert len(ctx.captured_queries) == 1
        assert all(o._state.adding is False and o._state.db == "default" for o in found)
    assert facts(sqlonce.objects(_with_clinician, client_id=mine.pk, now=now, limit=2, offset=1)) == facts(
        list(_with_clinician(client_id=mine.pk, now=now))[1:3]
    )
    assert sqlonce.objects(_with_clinician, client_id=mine.pk, now=now - timedelta(days=30)) == []


def test_execute_wrappers_see_compiled_queries(practice, therapist):
    """As Django's own queries: a wrapper (instrumentation, a statement timeout) wraps each one."""
    client = ClientFactory(practice=practice, clinician=therapist)
    session = AppointmentFactory(client=client)
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, list(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert sqlonce.rows(_starts, client_id=client.pk) == [(client.pk, session.start)]
        assert [s.pk for s in sqlonce.objects(_sessions, client_id=client.pk)] == [session.pk]
    assert len(seen) == 2 and all(client.pk in params for _, params in seen)


def _rename(**values):
    return Client.objects.filter(pk=values["client_id"], first_name=values["old"]), {"first_name": values["new"]}


def _reschedule(**values):
    return Appointment.objects.filter(pk=values["appointment_id"]), {
        "start": values["start"],
        "end": values["start"] + timedelta(minutes=50),
        "status_changed_at": None,
    }


def test_an_update_compiled_once_changes_what_the_queryset_would(practice, therapist):
    ann, bob = (ClientFactory(practice=practice, clinician=therapist, first_name=name) for name in ("Ann", "Bob"))
    with CaptureQueriesContext(connection) as ctx:
        assert sqlonce.update(_rename, client_id=ann.pk, old="Ann", new="Anne") == 1
        assert sqlonce.update(_rename, client_id=bob.pk, old="Ann", new="Anne") == 0  # its condition holds the row
        assert sqlonce.update(_rename, client_id=bob.pk, old="Bob", new="Robert") == 1
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["UPDATE"] * 3
    assert list(Client.objects.filter(pk__in=[ann.pk, bob.pk]).order_by("pk").values_list("first_name", flat=True)) == [
        "Anne",
        "Robert",
    ]


def test_an_update_sets_each_calls_datetimes_and_their_fixed_shifts(practice, therapist):
    a, b = AppointmentFactory(client=ClientFactory(practice=practice, clinician=therapist)), AppointmentFactory()
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    assert sqlonce.update(_reschedule, appointment_id=a.pk, start=start) == 1
    assert sqlonce.update(_reschedule, appointment_id=b.pk, start=start + timedelta(hours=5)) == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.start, a.end) == (start, start + timedelta(minutes=50))
    assert (b.start, b.end) == (start + timedelta(hours=5), start + timedelta(hours=5, minutes=50))


def test_an_update_with_a_value_written_into_the_sql_or_changed_is_refused():
    def written(**values):
        return Client.objects.filter(pk=values["client_id"]), {"first_name": RawSQL(f"'{values['new']}'", ())}  # noqa: S611 - a test of the refusal

    def changed(**values):
        return Client.objects.filter(pk=values["client_id"]), {"first_name": values["new"].upper()}

    with pytest.raises(ValueError, match="written into the SQL"):
        sqlonce.update(written, client_id=1, new="x")
    with pytest.raises(ValueError, match="derived from one in another way"):
        sqlonce.update(changed, client_id=1, new="x")


def test_an_update_through_a_join_is_refused():
    def joined(**values):
        return Client.objects.filter(practice__name=values["name"]), {"first_name": "x"}

    with pytest.raises(ValueError, match="without joins"):
        sqlonce.update(joined, name="Somewhere")


def _sessions_by_ids(*, ids: tuple[int, ...]):
    return Appointment.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "client_id")


def test_a_tuple_of_ids_reads_those_rows_each_call_with_one_sql_per_size(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    sessions = [AppointmentFactory(client=client) for _ in range(10)]
    ids = [s.pk for s in sessions]
    with CaptureQueriesContext(connection) as ctx:
        assert sqlonce.rows(_sessions_by_ids, ids=(ids[3],)) == [(ids[3], client.pk)]
        assert sqlonce.rows(_sessions_by_ids, ids=(ids[5], ids[1])) == [(ids[1], client.pk), (ids[5], client.pk)]
        # Nine ids: the next size up; every one of them read, none twice.
        assert sqlonce.rows(_sessions_by_ids, ids=tuple(ids[:9])) == [(pk, client.pk) for pk in ids[:9]]
        assert sqlonce.rows(_sessions_by_ids, ids=(ids[9], ids[9], 0)) == [(ids[9], client.pk)]
    places = [len(re.search(r"IN \(([^)]*)\)", query["sql"]).group(1).split(",")) for query in ctx.captured_queries]
    assert places == [8, 8, 64, 8]


def test_a_tuple_of_ids_must_hold_ids_and_each_place_must_reach_the_query():
    with pytest.raises(TypeError, match="at least one id"):
        sqlonce.rows(_sessions_by_ids, ids=())
    with pytest.raises(TypeError):
        sqlonce.rows(_sessions_by_ids, ids=(1, "2"))
    with pytest.raises(ValueError, match="at most 512"):
        sqlonce.rows(_sessions_by_ids, ids=tuple(range(1, 514)))

    def first_only(*, ids: tuple[int, ...]):
        return Appointment.objects.filter(pk=ids[0]).values_list("pk")

    with pytest.raises(ValueError, match="not every place"):
        sqlonce.rows(first_only, ids=(1, 2))
