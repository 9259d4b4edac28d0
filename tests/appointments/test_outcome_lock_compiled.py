"""The mark's locking read (appointments.services._outcome_lock_query), compiled once per process
(practice/sqlonce.py, issue 11 "pipe3"), reads and locks what the queryset it replaced did."""

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from appointments import services
from appointments.models import Appointment
from practice import sqlonce
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db


def _former(appointment_id):
    return (
        Appointment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("practice", "client", "clinician")
        .get(pk=appointment_id)
    )


def _seen(appointment) -> tuple:
    fields = (Appointment, appointment), (type(appointment.practice), appointment.practice)
    fields += ((type(appointment.client), appointment.client), (type(appointment.clinician), appointment.clinician))
    return tuple(tuple(getattr(obj, f.attname) for f in model._meta.concrete_fields) for model, obj in fields)


def test_the_locking_read_is_the_querysets(practice, other_practice, therapist, other_practice_therapist):
    appointments = [
        AppointmentFactory(client=ClientFactory(practice=practice, clinician=therapist)),
        AppointmentFactory(client=ClientFactory(practice=practice, clinician=therapist), status="no_show"),
        AppointmentFactory(client=ClientFactory(practice=other_practice, clinician=other_practice_therapist)),
    ]
    with transaction.atomic():
        for appointment in appointments:
            with CaptureQueriesContext(connection) as queries:
                [found] = sqlonce.objects(services._outcome_lock_query, appointment_id=appointment.pk)
            with CaptureQueriesContext(connection) as reads:
                seen = _seen(found)  # the practice, client and clinician came with the row
            assert reads.captured_queries == []
            assert seen == _seen(_former(appointment.pk))
            if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
                [sql] = [q["sql"] for q in queries.captured_queries]
                assert sql.endswith('FOR NO KEY UPDATE OF "appointments_appointment"')
        assert sqlonce.objects(services._outcome_lock_query, appointment_id=0) == []


def test_marking_a_session_that_does_not_exist_raises_as_before(therapist):
    with pytest.raises(Appointment.DoesNotExist):
        services.appointment_record_outcome(appointment_id=0, outcome="no_show", actor=therapist)
