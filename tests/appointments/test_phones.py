"""Client phones are stored in E.164; numbers that do not parse are kept, flagged, and never texted."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from appointments import services
from appointments.models import Client
from followups.models import OutboxMessage
from followups.services import channel_for
from practice.phones import normalise_phone
from tests.factories import ClientFactory

migration = importlib.import_module("appointments.migrations.0004_wpd_client_phone_needs_review")

ODD_INPUTS = [
    ("", ("", True)),
    ("555-0100", ("", False)),
    ("+44 20 7946 0958", ("+442079460958", True)),
    ("call mum", ("", False)),
    ("+1 (212) 555-0100 ext 3", ("", False)),
    ("(212) 555-0100", ("+12125550100", True)),
    ("  +1 212-555-0100  ", ("+12125550100", True)),
]


@pytest.mark.parametrize(("raw", "expected"), ODD_INPUTS)
def test_normalise_phone_reads_odd_inputs(raw, expected):
    assert normalise_phone(raw, "US") == expected


def test_a_number_without_a_country_code_is_read_as_the_practice_countrys():
    assert normalise_phone("020 7946 0958", "GB") == ("+442079460958", True)
    assert normalise_phone("020 7946 0958", "US") == ("", False)
    # An unknown country falls back to the US rather than failing.
    assert normalise_phone("(212) 555-0100", "ZZ") == ("+12125550100", True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ("", True)),
        ("555-0100", ("555-0100", False)),
        ("+44 20 7946 0958", ("+442079460958", True)),
        ("call mum", ("call mum", False)),
        ("+1 (212) 555-0100 ext 3", ("+1 (212) 555-0100 ext 3", False)),
        (None, ("", True)),
    ],
)
def test_the_migration_keeps_what_it_cannot_read(raw, expected):
    assert migration.normalise(raw, "US") == expected


@pytest.mark.django_db
def test_the_migration_normalises_what_parses_and_flags_the_rest(practice, therapist, other_practice):
    other_practice.country = "GB"
    other_practice.save()
    rows = {
        raw: ClientFactory(practice=practice, clinician=therapist, phone=raw)
        for raw in ["", "555-0100", "+44 20 7946 0958", "call mum", "+1 (212) 555-0100 ext 3", "(212) 555-0100"]
    }
    british = ClientFactory(practice=other_practice, phone="020 7946 0958")

    migration.normalise_client_phones(django_apps, None)
    migration.normalise_client_phones(django_apps, None)  # twice: it is safe to run again

    found = {raw: Client.objects.values_list("phone", "phone_needs_review").get(pk=c.pk) for raw, c in rows.items()}
    assert found == {
        "": ("", False),
        "555-0100": ("555-0100", True),
        "+44 20 7946 0958": ("+442079460958", False),
        "call mum": ("call mum", True),
        "+1 (212) 555-0100 ext 3": ("+1 (212) 555-0100 ext 3", True),
        "(212) 555-0100": ("+12125550100", False),
    }
    assert Client.objects.values_list("phone", "phone_needs_review").get(pk=british.pk) == ("+442079460958", False)


# ------------------------------------------------------------------ services


@pytest.mark.django_db
def test_a_new_client_phone_is_stored_in_e164(practice, therapist):
    client = services.client_create(
        practice=practice, actor=therapist, first_name="A", last_name="B", clinician=therapist, phone="(212) 555-0100"
    )
    assert client.phone == "+12125550100" and not client.phone_needs_review


@pytest.mark.django_db
def test_a_phone_that_does_not_parse_is_refused_with_a_clear_message(practice, therapist):
    with pytest.raises(ValidationError) as caught:
        services.client_create(
            practice=practice, actor=therapist, first_name="A", last_name="B", clinician=therapist, phone="call mum"
        )
    assert "Enter a phone number we can call or text" in caught.value.message_dict["phone"][0]
    with pytest.raises(ValidationError) as caught:
        services.client_create(
            practice=practice,
            actor=therapist,
            first_name="A",
            last_name="B",
            clinician=therapist,
            phone="+1 (212) 555-0100 ext 3",
        )
    assert "extension" in caught.value.message_dict["phone"][0]


@pytest.mark.django_db
def test_a_flagged_number_stays_flagged_until_staff_correct_it(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist, phone="call mum", phone_needs_review=True)

    services.client_update(client=client, actor=therapist, phone="call mum", mention_exercises=True)
    client.refresh_from_db()
    assert (client.phone, client.phone_needs_review) == ("call mum", True)

    services.client_update(client=client, actor=therapist, phone="212 555 0142")
    client.refresh_from_db()
    assert (client.phone, client.phone_needs_review) == ("+12125550142", False)


@pytest.mark.django_db
def test_a_flagged_number_gets_no_text_messages(practice, therapist):
    client = ClientFactory(
        practice=practice,
        clinician=therapist,
        phone="555-0100",
        phone_needs_review=True,
        email="",
        consent_email=False,
        consent_sms=True,
        preferred_channel=Client.Channel.SMS,
    )
    assert channel_for(client) is None
    client.email, client.consent_email = "robin@example.com", True
    assert channel_for(client) == OutboxMessage.Channel.EMAIL
    client.phone, client.phone_needs_review = "+12125550100", False
    assert channel_for(client) == OutboxMessage.Channel.SMS


# -------------------------------------------------------------------- views


def _client_form(therapist, **changes) -> dict:
    data = {
        "first_name": "Robin",
        "last_name": "Reed",
        "email": "robin@example.com",
        "phone": "",
        "preferred_channel": "email",
        "consent_email": "on",
        "clinician": therapist.pk,
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_the_client_form_explains_a_bad_number_and_saves_nothing(client, front_desk, therapist):
    client.force_login(front_desk)
    response = client.post(reverse("appointments:client_create"), _client_form(therapist, phone="call mum"))
    assert response.status_code == 200
    assert "Enter a phone number we can call or text" in response.content.decode()
    assert not Client.objects.exists()


@pytest.mark.django_db
def test_the_client_form_stores_a_local_number_in_e164(client, front_desk, therapist):
    client.force_login(front_desk)
    response = client.post(reverse("appointments:client_create"), _client_form(therapist, phone="(212) 555-0100"))
    assert response.status_code == 302
    assert Client.objects.get().phone == "+12125550100"


@pytest.mark.django_db
def test_staff_see_check_this_number_on_the_list_and_the_client_page(client, front_desk, practice, therapist):
    flagged = ClientFactory(
        practice=practice, clinician=therapist, first_name="Casey", phone="call mum", phone_needs_review=True
    )
    fine = ClientFactory(practice=practice, clinician=therapist, first_name="Dana", phone="+12125550100")
    client.force_login(front_desk)

    listing = client.get(reverse("appointments:client_list")).content.decode()
    assert listing.count("check this number") == 1

    page = client.get(flagged.get_absolute_url()).content.decode()
    assert "check this number" in page and "call mum" in page and 'href="tel:' not in page
    page = client.get(fine.get_absolute_url()).content.decode()
    assert "check this number" not in page
    assert 'href="tel:+12125550100"' in page and "(212) 555-0100" in page


@pytest.mark.django_db
def test_a_flagged_client_can_still_be_edited_without_fixing_the_number(client, front_desk, practice, therapist):
    flagged = ClientFactory(practice=practice, clinician=therapist, phone="call mum", phone_needs_review=True)
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:client_edit", args=[flagged.pk]),
        _client_form(
            therapist,
            phone="call mum",
            first_name=flagged.first_name,
            last_name=flagged.last_name,
            email=flagged.email,
            mention_exercises="on",
        ),
    )
    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.mention_exercises and flagged.phone_needs_review


@pytest.mark.django_db
def test_another_practices_client_page_is_a_404(client, other_practice_therapist, practice, therapist):
    flagged = ClientFactory(practice=practice, clinician=therapist, phone="call mum", phone_needs_review=True)
    client.force_login(other_practice_therapist)
    assert client.get(flagged.get_absolute_url()).status_code == 404


@pytest.mark.django_db
def test_the_edit_form_shows_the_number_as_staff_write_it(client, front_desk, practice, therapist):
    robin = ClientFactory(practice=practice, clinician=therapist, phone="+12125550100")
    client.force_login(front_desk)
    body = client.get(reverse("appointments:client_edit", args=[robin.pk])).content.decode()
    assert 'value="(212) 555-0100"' in body
