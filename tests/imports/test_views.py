"""The Import pages as each persona sees them; bad files never give a 500."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment, Client
from imports import services
from imports.models import ImportUpload
from imports.tasks import import_file
from practice.models import Membership
from tests.factories import ClientFactory, MembershipFactory

pytestmark = pytest.mark.django_db

START = reverse("imports:start")
HTMX = {"HTTP_HX_REQUEST": "true"}
CLIENTS = (
    b"First Name,Last Name,Email,Mobile Phone,Date of Birth\r\n"
    b"Ana,Alvarez,ana@example.com,(212) 555-0100,01/02/1990\r\n"
    b"Bo,,bo@example.com,,\r\n"
)


def _post_file(client, data: bytes, name="clients.csv", kind="clients"):
    return client.post(START, {"kind": kind, "file": SimpleUploadedFile(name, data, content_type="text/csv")})


@pytest.fixture
def admin_client(client, practice_admin, therapist):
    client.force_login(practice_admin)
    return client


def test_an_admin_uploads_previews_and_imports(admin_client, practice, therapist):
    response = _post_file(admin_client, CLIENTS)
    upload = ImportUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:preview", args=[upload.pk])

    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "1</strong> ready to import" in html
    assert "First and last name are both needed." in html
    assert not Client.objects.exists()

    # The only clinician is preselected for rows that name none.
    assert f'<option value="{therapist.pk}" selected>' in html
    # The admin leaves the phone out: changed from what was checked, so checked again, not imported yet.
    form = {"map_first_name": "First Name", "map_last_name": "Last Name", "map_email": "Email"}
    form |= {"map_phone": "", "default_clinician": therapist.pk}
    response = admin_client.post(response["Location"], form | {"action": "import"}, follow=True)
    assert "The columns changed" in response.content.decode()
    assert not Client.objects.exists()

    response = admin_client.post(reverse("imports:preview", args=[upload.pk]), form | {"action": "import"})
    assert response["Location"] == reverse("imports:done", args=[upload.pk])
    # The worker imports; until then the page says so, and htmx asks again.
    waiting = admin_client.get(response["Location"]).content.decode()
    assert "Importing…" in waiting and 'hx-trigger="every 2s"' in waiting
    assert not Client.objects.exists()
    # Asking for the preview now leads to the progress, not to a second import.
    assert admin_client.get(reverse("imports:preview", args=[upload.pk]))["Location"] == response["Location"]
    import_file(upload.pk)  # what the worker runs
    done = admin_client.get(response["Location"], **HTMX).content.decode()
    assert "<strong>1</strong> imported" in done and "every 2s" not in done
    ana = Client.objects.get()
    assert (ana.last_name, ana.phone, ana.clinician) == ("Alvarez", "", therapist)
    # Once imported, the preview leads to the result; nothing can be imported twice.
    again = admin_client.post(reverse("imports:preview", args=[upload.pk]), form | {"action": "import"})
    assert again["Location"] == reverse("imports:done", args=[upload.pk])
    assert Client.objects.count() == 1


def test_clients_page_links_to_import_for_admins_only(client, practice_admin, front_desk):
    client.force_login(practice_admin)
    assert START in client.get(reverse("appointments:client_list")).content.decode()
    client.force_login(front_desk)
    assert START not in client.get(reverse("appointments:client_list")).content.decode()


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_import_is_for_admins_only(client, request, practice, practice_admin, persona):
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )
    client.force_login(request.getfixturevalue(persona))
    assert client.get(START).status_code == 403
    assert _post_file(client, CLIENTS).status_code == 403
    for name in ("preview", "done"):
        assert client.get(reverse(f"imports:{name}", args=[upload.pk])).status_code == 403
    assert client.post(reverse("imports:preview", args=[upload.pk]), {"action": "import"}).status_code == 403
    assert client.post(reverse("imports:done", args=[upload.pk])).status_code == 403
    assert ImportUpload.objects.count() == 1
    assert not Client.objects.exists()


def test_another_practices_upload_is_a_404(client, practice, practice_admin, other_practice, therapist):
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )
    other_admin = MembershipFactory(practice=other_practice, role=Membership.Role.ADMIN).user
    client.force_login(other_admin)
    assert client.get(reverse("imports:preview", args=[upload.pk])).status_code == 404
    assert client.get(reverse("imports:done", args=[upload.pk])).status_code == 404
    assert client.post(reverse("imports:done", args=[upload.pk])).status_code == 404
    response = client.post(
        reverse("imports:preview", args=[upload.pk]),
        {"map_first_name": "First Name", "map_last_name": "Last Name", "action": "import"},
    )
    assert response.status_code == 404
    assert not Client.objects.exists()


def test_logged_out_goes_to_login(client):
    response = client.get(START)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("clients.csv", b"", "The submitted file is empty."),
        ("clients.csv", b"First Name,Last Name\r\n", "header row but no data rows"),
        ("clients.xlsx", b"PK\x03\x04....", "spreadsheet workbook, not a CSV"),
        ("clients.csv", b"PK\x03\x04....", "Excel workbook, not a CSV"),
        ("clients.pdf", b"%PDF-1.4", "Upload a CSV file"),
        ("clients.csv", "First Name,Last Name\nAna,B\n".encode("utf-16"), "NUL bytes"),
        ("clients.csv", b"First,Last\n\x81\x8d,B\n", "encoding was not recognised"),
        ("clients.csv", b'a,b\n"unterminated,1\n' + b"x" * 200_000, "does not read as a CSV"),
        ("clients.csv", b"a,b\n" + b"1,2\n" * 5001, "more than 5,000 rows"),
        ("clients.csv", b"a,b\n" + b"x" * (5 * 1024 * 1024), "larger than 5 MB"),
    ],
)
def test_bad_files_get_a_clear_message_and_never_a_500(admin_client, name, data, message):
    response = _post_file(admin_client, data, name=name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportUpload.objects.exists()


def test_junk_in_the_forms_never_gives_a_500(admin_client, practice, practice_admin):
    assert admin_client.post(START, {"kind": "patients"}).status_code == 200
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )
    url = reverse("imports:preview", args=[upload.pk])
    junk = {"map_first_name": "\x00", "map_email": "Not a header", "default_clinician": "abc", "action": "import"}
    response = admin_client.post(url, junk)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    # One column for two fields is refused beside the second field.
    response = admin_client.post(url, {"map_first_name": "Email", "map_email": "Email", "action": "preview"})
    assert "“Email” already feeds another field." in response.content.decode()
    assert not Client.objects.exists()


def test_the_preview_page_reads_a_fixed_number_of_queries(
    admin_client, practice, practice_admin, therapist, django_assert_num_queries
):
    rows = b"".join(b"P%d,Last%d,p%d@example.com\r\n" % (i, i, i) for i in range(200))
    upload = services.import_upload_create(
        practice=practice,
        actor=practice_admin,
        kind="clients",
        filename="c.csv",
        data=b"First Name,Last Name,Email\r\n" + rows,
    )
    url = reverse("imports:preview", args=[upload.pk])
    # session, user, the second factor's device, membership, upload, clinicians (lookup), refs, clients,
    # clinicians (the select)
    with django_assert_num_queries(9):
        response = admin_client.get(url)
    assert "and 150 more rows ready to import." in response.content.decode()


def test_a_sessions_file_imports_from_its_preview_as_guessed(admin_client, practice, practice_admin, therapist):
    ClientFactory(practice=practice, clinician=therapist, first_name="Ana", last_name="Alvarez")
    day = timezone.now().date() + timedelta(days=10)
    _post_file(
        admin_client,
        b"Client,Date,Start Time,Duration\r\nAna Alvarez,%b,10:00 AM,50\r\n" % str(day).encode(),
        kind="sessions",
    )
    upload = ImportUpload.objects.get()
    url = reverse("imports:preview", args=[upload.pk])
    assert "Clinician for rows without one" not in admin_client.get(url).content.decode()
    form = {f"map_{k}": v for k, v in upload.mapping.items()}
    response = admin_client.post(url, form | {"action": "import"})
    assert response["Location"] == reverse("imports:done", args=[upload.pk])
    import_file(upload.pk)
    assert Appointment.objects.get().clinician == therapist


def test_a_clients_file_uploaded_as_sessions_says_which_columns_are_missing(admin_client):
    _post_file(admin_client, CLIENTS, kind="sessions")
    upload = ImportUpload.objects.get()
    html = admin_client.get(reverse("imports:preview", args=[upload.pk])).content.decode()
    assert "No column is chosen for: Date, Start time, End time or length." in html
    assert "upload it again as clients" in html


def test_an_import_the_worker_refuses_is_explained_on_the_preview(admin_client, practice, practice_admin, therapist):
    upload = services.import_upload_create(
        practice=practice,
        actor=practice_admin,
        kind="clients",
        filename="c.csv",
        data=b"First Name,Last Name,Email\r\nAna,Alvarez,%b@example.com\r\n" % (b"a" * 250),
    )
    url = reverse("imports:preview", args=[upload.pk])
    admin_client.post(
        url,
        {f"map_{k}": v for k, v in upload.mapping.items()} | {"default_clinician": therapist.pk, "action": "import"},
    )
    import_file(upload.pk)
    # htmx's next poll is sent to the preview, which says why.
    poll = admin_client.get(reverse("imports:done", args=[upload.pk]), **HTMX)
    assert poll["HX-Redirect"] == url
    html = admin_client.get(url).content.decode()
    assert "The import did not go through, so nothing was imported. Row 2:" in html
    assert not Client.objects.exists()
    # Fixed meanwhile? The admin can import again from the preview.
    assert "Import 1 row" in html


def test_a_request_that_looks_lost_can_be_started_again(admin_client, practice, practice_admin, therapist):
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )
    services.import_request(upload=upload, actor=practice_admin)
    done = reverse("imports:done", args=[upload.pk])
    assert "Start the import again" not in admin_client.get(done).content.decode()
    ImportUpload.objects.filter(pk=upload.pk).update(requested_at=timezone.now() - timedelta(minutes=6))
    assert "Start the import again" in admin_client.get(done).content.decode()
    admin_client.post(done)
    import_file(upload.pk)
    import_file(upload.pk)  # the first request's task, arriving late, imports nothing twice
    assert Client.objects.count() == 1
