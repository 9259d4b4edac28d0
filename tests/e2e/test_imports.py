"""An admin imports clients, then their booked sessions, from CSV exports."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from appointments.models import Appointment, Client
from imports.models import ImportUpload
from imports.tasks import import_file
from tests.browser_fixtures import page_check
from tests.factories import ClientFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def _upload(page: Page, *, kind: str, name: str, data: bytes) -> None:
    page.get_by_label(kind, exact=True).check()
    page.get_by_label("CSV file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and preview").click()


def _worker_imports() -> None:
    """Run what the Celery worker runs for the import just asked for (no worker in browser tests)."""
    import_file(ImportUpload.objects.latest("id").pk)


def test_admin_imports_a_simplepractice_clients_file_then_its_sessions(page, practice, practice_admin, therapist):
    therapist.first_name, therapist.last_name = "Jane", "Smith"
    therapist.save()
    ClientFactory(practice=practice, clinician=therapist, first_name="Dee", last_name="Dunn", email="dee@example.com")
    log_in(page, practice_admin)
    page.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import")).to_be_visible()

    # A file with a header and nothing else says so, and nothing is kept.
    _upload(page, kind="Clients", name="empty.csv", data=b"First Name,Last Name\r\n")
    expect(page.get_by_text("The file has a header row but no data rows.")).to_be_visible()
    page_check(page, "/import/ (file refused)")

    # A SimplePractice-style export; the mobile number is in a column named "Text Number".
    clients = _csv(
        "Client ID,First Name,Last Name,Email,Home Phone,Text Number,Date of Birth,Clinician",
        "SP-1,Ana,Alvarez,ana@example.com,(212) 555-0100,(646) 555-0111,01/02/1990,Jane Smith",
        'SP-2,Bo,Berg,bo@example.com,,(646) 555-0122,03/04/1985,"Smith, Jane"',
        "SP-3,Cy,,cy@example.com,,,,Jane Smith",
        "SP-4,Di,Diaz,di@,,,,Jane Smith",
        "SP-5,Ed,Eng,ed@example.com,,,,Dr Nobody",
        "SP-6,Dee,Dunn,dee@example.com,,,,Jane Smith",
    )
    _upload(page, kind="Clients", name="simplepractice-clients.csv", data=clients)

    expect(page.get_by_role("heading", name="Import clients: preview")).to_be_visible()
    phone = page.get_by_label("Phone", exact=True)
    expect(phone).to_have_value("Home Phone")
    expect(page.get_by_label("First name")).to_have_value("First Name")
    phone.select_option(label="Text Number")
    page.get_by_role("button", name="Check again").click()

    expect(page.get_by_label("Phone", exact=True)).to_have_value("Text Number")
    summary = page.locator("#import-summary")
    expect(summary).to_have_text(re.compile(r"2 ready to import · 1 already on file \(skipped\) · 3 with problems"))
    rows = page.locator("#import-rows tbody tr")
    expect(rows.filter(has_text="Cy")).to_contain_text("First and last name are both needed.")
    expect(rows.filter(has_text="Diaz")).to_contain_text("“di@” is not an email address.")
    expect(rows.filter(has_text="Eng")).to_contain_text("“Dr Nobody” is not a clinician of this practice.")
    expect(rows.filter(has_text="Dunn")).to_contain_text("Skipped: A client with this email is already on file.")
    expect(rows.filter(has_text="Alvarez")).to_contain_text("+16465550111")
    assert Client.objects.count() == 1  # nothing saved before the import
    # After the import this address leads to the result, so check the preview now.
    page_check(page, "/import/{n}/ (clients preview)")

    page.get_by_role("button", name="Import 2 rows").click()

    expect(page.get_by_role("heading", name="Importing…")).to_be_visible()
    page_check(page, "/import/{n}/done/ (importing)")
    _worker_imports()
    expect(page.get_by_role("heading", name="Import done")).to_be_visible()
    expect(page.locator("#import-result")).to_contain_text("2 imported")
    expect(page.locator("#import-result")).to_contain_text("1 skipped, already on file")
    expect(page.locator("#import-result")).to_contain_text("3 skipped, with problems")
    page.get_by_role("link", name="See the clients").click()
    results = page.locator("#client-results")
    expect(results.get_by_role("link")).to_have_text(["Alvarez, Ana", "Berg, Bo", "Dunn, Dee"])
    ana = Client.objects.get(last_name="Alvarez")
    assert (str(ana.phone), ana.clinician, ana.consent_email, ana.consent_sms) == (
        "+16465550111",
        therapist,
        False,
        False,
    )

    # Then the booked sessions, a TherapyNotes-style export naming clients by their ID.
    day = local_today(practice) + timedelta(days=9)
    sessions = _csv(
        "Account Number,Patient Name,Date,Start Time,End Time,Rendering Provider,Service,Location",
        f'SP-1,Ana Alvarez,{day:%m/%d/%Y},9:00 AM,9:50 AM,"Smith, Jane",Psychotherapy (90837),Telehealth',
        f'SP-2,Bo Berg,{day:%m/%d/%Y},9:30 AM,10:20 AM,"Smith, Jane",Psychotherapy (90837),Office',
        f'SP-2,Bo Berg,{day:%m/%d/%Y},11:00 AM,11:50 AM,"Smith, Jane",Intake,Office',
    )
    page.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Import").click()
    _upload(page, kind="Booked sessions", name="therapynotes-appointments.csv", data=sessions)

    expect(page.get_by_role("heading", name="Import booked sessions: preview")).to_be_visible()
    expect(page.locator("#import-summary")).to_have_text(
        re.compile(r"^2 ready to import · 0 already .* 1 with problems")
    )
    expect(page.locator("#import-rows tbody tr").filter(has_text="9:30")).to_contain_text(
        "Clashes with the clinician's session at"
    )
    page_check(page, "/import/{n}/ (sessions preview)")
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.get_by_role("heading", name="Importing…")).to_be_visible()
    _worker_imports()

    expect(page.locator("#import-result")).to_contain_text("2 imported")
    zone = practice_zone(practice)
    booked = list(Appointment.objects.order_by("start").values_list("client__last_name", "start", "modality"))
    assert booked == [
        ("Alvarez", datetime.combine(day, time(9), zone), "telehealth"),
        ("Berg", datetime.combine(day, time(11), zone), "in_person"),
    ]
    page.get_by_role("link", name="See the clients").click()
    page.get_by_role("link", name="Berg, Bo").click()
    expect(page.locator("#attendance-summary")).to_contain_text("Upcoming 1")
