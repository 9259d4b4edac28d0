"""Importing through the services: one transaction, nothing twice, audited with counts only."""

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from appointments.models import Appointment, Client
from imports import selectors, services
from imports.models import ImportedClientRef, ImportUpload
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def _upload(practice, actor, kind, data, **mapping_changes):
    upload = services.import_upload_create(practice=practice, actor=actor, kind=kind, filename="x.csv", data=data)
    return upload


def _run(practice, admin, upload):
    return services.import_run(practice=practice, upload_id=upload.pk, actor=admin)


@pytest.fixture
def named_therapist(therapist):
    therapist.first_name, therapist.last_name = "Jane", "Smith"
    therapist.save()
    return therapist


CLIENTS = _csv(
    "Client ID,First Name,Last Name,Email,Mobile Phone,Date of Birth,Clinician",
    "C1,Ana,Alvarez,ana@example.com,(212) 555-0100,01/02/1990,Jane Smith",
    "C2,Bo,Berg,,212-555-0101,,Jane Smith",
    "C3,,Nameless,n@example.com,,,Jane Smith",
    "C4,Cy,Cole,cy@,,,Jane Smith",
    "C5,Di,Diaz,di@example.com,,,Nobody Here",
)


def test_good_client_rows_are_imported_and_problem_rows_are_not(practice, practice_admin, named_therapist):
    upload = _upload(practice, practice_admin, "clients", CLIENTS)
    counts = _run(practice, practice_admin, upload)

    assert counts == {"rows": 5, "imported": 2, "duplicates": 0, "problems": 3, "linked": 0}
    ana = Client.objects.get(last_name="Alvarez")
    assert (ana.practice, ana.clinician, ana.email, str(ana.phone)) == (
        practice,
        named_therapist,
        "ana@example.com",
        "+12125550100",
    )
    # No consent column: staff confirm consent.
    assert (ana.consent_email, ana.consent_sms) == (False, False)
    bo = Client.objects.get(last_name="Berg")
    assert (bo.preferred_channel, str(bo.phone)) == ("phone", "+12125550101")
    assert set(ImportedClientRef.objects.values_list("external_id", flat=True)) == {"C1", "C2"}
    upload.refresh_from_db()
    assert upload.imported_at is not None
    assert upload.rows == []  # the cells are health data: not kept after the import


def test_the_import_is_audited_with_counts_and_no_names(practice, practice_admin, named_therapist):
    upload = _upload(practice, practice_admin, "clients", CLIENTS)
    _run(practice, practice_admin, upload)
    event = AuditEvent.objects.get(action="import.clients")
    assert event.actor == practice_admin
    assert event.changes == {"rows": 5, "imported": 2, "duplicates": 0, "problems": 3, "linked": 0}
    # Each client is audited by the client service, like one added by hand.
    assert AuditEvent.objects.filter(action="client.created").count() == 2
    for row in AuditEvent.objects.all():
        assert "Alvarez" not in str(row.changes) and "ana@" not in str(row.changes)


def test_importing_the_same_file_again_adds_nothing(practice, practice_admin, named_therapist):
    _run(practice, practice_admin, _upload(practice, practice_admin, "clients", CLIENTS))
    counts = _run(practice, practice_admin, _upload(practice, practice_admin, "clients", CLIENTS))
    assert counts == {"rows": 5, "imported": 0, "duplicates": 2, "problems": 3, "linked": 0}
    assert Client.objects.count() == 2


def test_duplicates_of_clients_on_file_are_skipped_and_say_why(practice, practice_admin, named_therapist):
    ClientFactory(
        practice=practice, clinician=named_therapist, first_name="Ana", last_name="A", email="ANA@example.com"
    )
    ClientFactory(
        practice=practice, clinician=named_therapist, first_name="Bo", last_name="Berg", email="", phone="+12125550101"
    )
    upload = _upload(
        practice,
        practice_admin,
        "clients",
        _csv(
            "First Name,Last Name,Email,Phone,Clinician",
            "Ana,Alvarez,ana@example.com,,Jane Smith",
            "Bo,Berg,,(212) 555-0101,Jane Smith",
            "Cy,Cole,cy@example.com,,Jane Smith",
            "Cyrus,Cole,CY@example.com,,Jane Smith",
        ),
    )
    found = selectors.preview(upload=upload)
    assert [(c.number, c.duplicate) for c in found.checks] == [
        (2, "A client with this email is already on file"),
        (3, "A client with this name and phone is already on file"),
        (4, ""),
        (5, "Same client as row 4"),
    ]
    assert _run(practice, practice_admin, upload)["imported"] == 1


def test_a_client_already_on_file_is_not_added_but_found_by_their_id_in_the_sessions_file(
    practice, practice_admin, named_therapist
):
    by_hand = ClientFactory(practice=practice, clinician=named_therapist, first_name="Ana", email="ana@example.com")
    counts = _run(practice, practice_admin, _upload(practice, practice_admin, "clients", CLIENTS))
    assert (counts["imported"], counts["duplicates"], counts["linked"]) == (1, 1, 1)
    assert Client.objects.filter(email="ana@example.com").count() == 1
    day = _future_day(practice)
    sessions = _csv("Account Number,Date,Start Time,Duration", f"C1,{day:%m/%d/%Y},9:00 AM,50")
    _run(practice, practice_admin, _upload(practice, practice_admin, "sessions", sessions))
    assert Appointment.objects.get().client == by_hand


def test_rows_without_a_clinician_take_the_one_chosen(practice, practice_admin, therapist, therapist2):
    upload = _upload(practice, practice_admin, "clients", _csv("First Name,Last Name", "Ana,Alvarez"))
    assert selectors.preview(upload=upload).checks[0].problems == [
        "No clinician: choose one for rows without a clinician."
    ]
    services.import_mapping_set(upload=upload, mapping=upload.mapping, default_clinician=therapist2)
    _run(practice, practice_admin, upload)
    assert Client.objects.get().clinician == therapist2


def test_a_failure_mid_way_saves_nothing(practice, practice_admin, named_therapist):
    # The third row passes the preview but the client service refuses it
    # (an address longer than the 254 characters the model stores).
    long_email = "a" * 250 + "@example.com"
    upload = _upload(
        practice,
        practice_admin,
        "clients",
        _csv(
            "Client ID,First Name,Last Name,Email,Clinician",
            "C1,Ana,Alvarez,ana@example.com,Jane Smith",
            "C2,Bo,Berg,bo@example.com,Jane Smith",
            f"C3,Cy,Cole,{long_email},Jane Smith",
        ),
    )
    with pytest.raises(ValidationError, match="Row 4: .* Nothing was imported"):
        _run(practice, practice_admin, upload)
    assert not Client.objects.exists()
    assert not ImportedClientRef.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["client.created", "import.clients"]).exists()
    upload.refresh_from_db()
    assert upload.imported_at is None and len(upload.rows) == 3


def test_an_upload_is_imported_once(practice, practice_admin, named_therapist):
    upload = _upload(practice, practice_admin, "clients", CLIENTS)
    _run(practice, practice_admin, upload)
    with pytest.raises(ValidationError, match="already been imported"):
        _run(practice, practice_admin, upload)
    assert Client.objects.count() == 2


def test_another_practice_cannot_import_an_upload(practice, practice_admin, other_practice, named_therapist):
    upload = _upload(practice, practice_admin, "clients", CLIENTS)
    with pytest.raises(ImportUpload.DoesNotExist):
        services.import_run(practice=other_practice, upload_id=upload.pk, actor=practice_admin)
    assert not Client.objects.exists()


def test_a_bad_file_is_refused_with_its_message(practice, practice_admin):
    with pytest.raises(ValidationError, match="header row but no data rows"):
        _upload(practice, practice_admin, "clients", b"First Name,Last Name\n")
    assert not ImportUpload.objects.exists()


def test_unimported_uploads_are_deleted_after_a_day(practice, practice_admin):
    old = _upload(practice, practice_admin, "clients", _csv("First Name,Last Name", "A,B"))
    ImportUpload.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    _upload(practice, practice_admin, "clients", _csv("First Name,Last Name", "A,B"))
    assert not ImportUpload.objects.filter(pk=old.pk).exists()


# Sessions


def _future_day(practice, days=10):
    zone = zoneinfo.ZoneInfo(str(practice.time_zone))
    return timezone.now().astimezone(zone).date() + timedelta(days=days)


def _at(practice, day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), zoneinfo.ZoneInfo(str(practice.time_zone)))


@pytest.fixture
def imported_clients(practice, practice_admin, named_therapist):
    _run(practice, practice_admin, _upload(practice, practice_admin, "clients", CLIENTS))
    return {c.last_name: c for c in Client.objects.all()}


def test_sessions_are_booked_through_the_booking_service_in_the_practice_zone(
    practice, practice_admin, named_therapist, imported_clients
):
    day = _future_day(practice)
    upload = _upload(
        practice,
        practice_admin,
        "sessions",
        _csv(
            "Account Number,Patient Name,Date,Start Time,End Time,Rendering Provider,Service,Location",
            f'C1,Ana Alvarez,{day:%m/%d/%Y},9:00 AM,9:50 AM,"Smith, Jane",Psychotherapy (90837),Telehealth',
            f",Bo Berg,{day:%m/%d/%Y},10:00 AM,10:50 AM,,Intake,Main Office",
        ),
    )
    counts = _run(practice, practice_admin, upload)
    assert counts == {"rows": 2, "imported": 2, "duplicates": 0, "problems": 0}
    ana = Appointment.objects.get(client=imported_clients["Alvarez"])
    assert (ana.start, ana.end, ana.clinician, ana.modality, ana.session_type, ana.status) == (
        _at(practice, day, 9),
        _at(practice, day, 9, 50),
        named_therapist,
        "telehealth",
        "individual",
        "scheduled",
    )
    # No clinician column value: the client's own clinician.
    bo = Appointment.objects.get(client=imported_clients["Berg"])
    assert (bo.clinician, bo.session_type, bo.modality) == (named_therapist, "intake", "in_person")
    assert AuditEvent.objects.filter(action="appointment.booked").count() == 2
    assert AuditEvent.objects.get(action="import.sessions").changes["imported"] == 2


def test_session_problems_are_named_before_anything_is_saved(
    practice, practice_admin, named_therapist, imported_clients
):
    day = _future_day(practice)
    AppointmentFactory(client=imported_clients["Berg"], start=_at(practice, day, 11), end=_at(practice, day, 11, 50))
    past = _future_day(practice, days=-3)
    upload = _upload(
        practice,
        practice_admin,
        "sessions",
        _csv(
            "Client ID,Client,Date,Start Time,Duration,Clinician",
            f"C1,Ana Alvarez,{day:%m/%d/%Y},11:30 AM,50,Jane Smith",
            f"C1,Ana Alvarez,{past:%m/%d/%Y},9:00 AM,50,Jane Smith",
            f"C9,Zed Zimmer,{day:%m/%d/%Y},8:00 AM,50,Jane Smith",
            f"C1,Ana Alvarez,{day:%m/%d/%Y},1:00 PM,50,Dr Who",
            f"C1,Ana Alvarez,{day:%m/%d/%Y},3:00 PM,50,Jane Smith",
            f"C2,Bo Berg,{day:%m/%d/%Y},3:30 PM,50,Jane Smith",
        ),
    )
    found = selectors.preview(upload=upload)
    problems = {c.number: c.problems for c in found.checks}
    assert problems[2][0].startswith("Clashes with the clinician's session at")
    assert problems[3] == ["This session is in the past; only upcoming sessions are imported."]
    assert problems[4] == ["No client on file matches. Import the clients file first."]
    assert problems[5] == ["“Dr Who” is not a clinician of this practice."]
    assert problems[6] == []
    assert problems[7][0].endswith("in row 6.")
    assert _run(practice, practice_admin, upload)["imported"] == 1


def test_importing_the_same_sessions_again_books_nothing_twice(
    practice, practice_admin, named_therapist, imported_clients
):
    day = _future_day(practice)
    data = _csv("Client ID,Date,Start Time,Duration", f"C1,{day:%m/%d/%Y},9:00 AM,50", f"C1,{day:%m/%d/%Y},9:00 AM,50")
    first = _run(practice, practice_admin, _upload(practice, practice_admin, "sessions", data))
    assert (first["imported"], first["duplicates"]) == (1, 1)
    again = _run(practice, practice_admin, _upload(practice, practice_admin, "sessions", data))
    assert (again["imported"], again["duplicates"]) == (0, 2)
    assert Appointment.objects.count() == 1


def test_a_client_named_twice_needs_an_id(practice, practice_admin, named_therapist):
    ClientFactory.create_batch(2, practice=practice, clinician=named_therapist, first_name="Sam", last_name="Lee")
    day = _future_day(practice)
    upload = _upload(
        practice, practice_admin, "sessions", _csv("Client,Date,Start Time,Duration", f"Sam Lee,{day},9:00,50")
    )
    assert selectors.preview(upload=upload).checks[0].problems == [
        "More than one client matches; add a Client ID column to tell them apart."
    ]


def test_the_preview_reads_a_fixed_number_of_queries(
    practice, practice_admin, named_therapist, imported_clients, django_assert_num_queries
):
    day = _future_day(practice)
    lines = [f"C1,{day + timedelta(days=i):%m/%d/%Y},9:00 AM,50" for i in range(40)]
    upload = _upload(practice, practice_admin, "sessions", _csv("Client ID,Date,Start Time,Duration", *lines))
    upload = ImportUpload.objects.select_related("practice").get(pk=upload.pk)
    with django_assert_num_queries(4):
        found = selectors.preview(upload=upload)
    assert len(found.ready) == 40


def test_the_sweep_finds_confirmed_imports_not_started_and_only_those(practice, practice_admin, named_therapist):
    fresh = _upload(practice, practice_admin, "clients", CLIENTS)
    lost = _upload(practice, practice_admin, "clients", CLIENTS)
    draft = _upload(practice, practice_admin, "clients", CLIENTS)
    services.import_request(upload=fresh, actor=practice_admin)
    services.import_request(upload=lost, actor=practice_admin)
    ImportUpload.objects.filter(pk=lost.pk).update(requested_at=timezone.now() - timedelta(minutes=3))
    assert services.imports_requested_unstarted() == [lost.pk]
    services.import_attempt(upload_id=lost.pk)
    assert services.imports_requested_unstarted() == []
    assert ImportUpload.objects.get(pk=draft.pk).requested_at is None
