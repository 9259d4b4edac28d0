"""practice/sqlonce.py: compiled once, each call with its own ids, and loud when an id cannot be swapped."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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

    with pytest.raises(ValueError, match="every id must reach"):
        sqlonce.rows(ignores_its_id, client_id=1)


def test_values_come_back_as_the_orm_gives_them(practice, therapist):
    """Django's converters run on every column: on SQLite a datetime is text without its converter."""
    client = ClientFactory(practice=practice, clinician=therapist)
    session = AppointmentFactory(client=client)
    [(client_id, start)] = sqlonce.rows(_starts, client_id=client.pk)
    assert (client_id, start) == tuple(_starts(client_id=client.pk).get())
    assert start.tzinfo is not None and start == session.start
