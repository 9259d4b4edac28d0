"""Every field that reaches a mail header refuses a line break at input (issue 8, item 5).

A CR/LF in a header value would start a header of its own (Bcc: …). The outbox
records such a row as a failed attempt and goes on (test_outbox_faults.py); these
are the doors it could come in through: the practice's sender name and reply-to,
a message subject, a client's email address (typed, or imported).
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from appointments.forms import ClientForm
from followups import services
from followups.forms import TemplateForm
from imports.parsing import check_client_row, guess_mapping
from practice.forms import PracticeSettingsForm
from practice.models import Membership, Practice

pytestmark = pytest.mark.django_db

BREAKS = ["Harbour\r\nBcc: eve@example.com", "Harbour\nBcc: eve@example.com", "Harbour\rBcc: eve@example.com"]


def _settings_data(practice) -> dict:
    form = PracticeSettingsForm(instance=practice)
    return {name: form[name].value() for name in form.fields if form[name].value() is not None}


@pytest.mark.parametrize("value", BREAKS)
def test_the_settings_page_refuses_a_sender_name_on_two_lines(value, client, practice_admin, practice):
    client.force_login(practice_admin)
    data = _settings_data(practice) | {"sender_name": value}
    response = client.post(reverse("practice_settings"), data)
    assert response.status_code == 200
    assert "Keep the sender name on one line." in response.content.decode()
    assert Practice.objects.get(pk=practice.pk).sender_name == "Riverside Office"


@pytest.mark.parametrize("value", ["office@example.com\r\nBcc: eve@example.com", "office@example.com\nX: y"])
def test_the_settings_page_refuses_a_reply_to_address_on_two_lines(value, client, practice_admin, practice):
    client.force_login(practice_admin)
    data = _settings_data(practice) | {"reply_to_email": value}
    response = client.post(reverse("practice_settings"), data)
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert "\n" not in Practice.objects.get(pk=practice.pk).reply_to_email


def test_the_settings_page_of_another_practice_is_not_reachable(client, other_practice_therapist, practice):
    client.force_login(other_practice_therapist)
    data = _settings_data(practice) | {"sender_name": "Taken over"}
    client.post(reverse("practice_settings"), data)
    assert Practice.objects.get(pk=practice.pk).sender_name == "Riverside Office"


@pytest.mark.parametrize("value", BREAKS)
def test_the_wording_form_refuses_a_subject_on_two_lines(value):
    form = TemplateForm(data={"kind": "first", "subject": value, "body": "Hello {first_name}"}, kind="first")
    assert not form.is_valid()
    assert form.errors["subject"] == ["Keep the subject on one line."]


@pytest.mark.parametrize("value", BREAKS)
def test_saving_wording_refuses_a_subject_on_two_lines(value, practice, practice_admin):
    with pytest.raises(ValidationError):
        services.template_save(practice=practice, kind="first", subject=value, body="Hi {first_name}", actor=None)
    assert not practice.message_templates.exists()


@pytest.mark.parametrize("value", ["robin@example.com\r\nBcc: eve@example.com", "robin@example.com\nBcc: x@y.z"])
def test_the_client_form_refuses_an_email_address_on_two_lines(value, practice, therapist):
    membership = Membership.objects.get(user=therapist)
    form = ClientForm(
        data={"first_name": "Robin", "last_name": "Reed", "email": value, "preferred_channel": "email"},
        membership=membership,
    )
    assert not form.is_valid()
    assert "email" in form.errors


def test_an_imported_email_address_on_two_lines_is_a_problem_of_its_row():
    cells = {"First Name": "Ana", "Last Name": "Alvarez", "Email": "ana@example.com\r\nBcc: eve@example.com"}
    headers = list(cells)
    check = check_client_row(
        number=2, row=list(cells.values()), headers=headers, mapping=guess_mapping("clients", headers), country="US"
    )
    assert any("is not an email address" in problem for problem in check.problems)
