"""Django admin: every model is there, and staff who are not superusers see their practice only."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"practice", "appointments", "policies", "followups", "waitlist"}


def test_every_model_of_ours_is_registered():
    from django.apps import apps

    ours = {m for m in apps.get_models() if m._meta.app_label in OUR_APPS}
    # Overrides and fee changes show inline on their parents.
    inline_only = {"policies.feeoverride", "policies.feechange"}
    missing = {m._meta.label_lower for m in ours if m not in admin.site._registry} - inline_only
    assert missing == set()


def test_admin_changelists_show_only_the_practices_rows(client, practice_admin, client_of_therapist, other_client):
    AppointmentFactory(client=client_of_therapist)
    other = AppointmentFactory(client=other_client)
    client.force_login(practice_admin)
    for model in admin.site._registry:
        if model._meta.app_label not in OUR_APPS:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    page = client.get(reverse("admin:appointments_client_changelist")).content.decode()
    assert "Reed" in page and "Stone" not in page
    url = reverse("admin:appointments_appointment_change", args=[other.pk])
    assert client.get(url).status_code == 302  # "doesn't exist" redirect, no data shown


def test_clinicians_and_front_desk_have_no_admin(client, therapist, front_desk):
    for user in (therapist, front_desk):
        client.force_login(user)
        assert client.get(reverse("admin:index")).status_code == 302


LEAKY_ADD_PAGES = [
    ("admin:appointments_appointment_add", "client"),
    ("admin:appointments_appointment_add", "rescheduled_from"),
    ("admin:appointments_appointmentseries_add", "client"),
]


@pytest.mark.parametrize(("name", "field"), LEAKY_ADD_PAGES)
def test_admin_never_shows_another_practices_client_through_a_prefill(
    client, practice_admin, other_client, name, field
):
    other = AppointmentFactory(client=other_client)
    client.force_login(practice_admin)
    target = other.pk if field == "rescheduled_from" else other_client.pk
    response = client.get(reverse(name), {field: target})
    assert b"Stone" not in response.content
    assert response.status_code in (302, 403)


def test_admin_cannot_write_what_services_own(client, practice_admin, client_of_therapist):
    """Admin saves skipped the services: a double booking and a subject with a client's name got through."""
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(practice_admin)
    change = client.post(
        reverse("admin:appointments_client_change", args=[client_of_therapist.pk]),
        {"first_name": "Changed", "last_name": "Reed", "clinician": client_of_therapist.clinician_id},
    )
    assert change.status_code == 403
    client_of_therapist.refresh_from_db()
    assert client_of_therapist.first_name == "Robin"
    for name in (
        "admin:appointments_appointment_add",
        "admin:appointments_client_add",
        "admin:followups_messagetemplate_add",
        "admin:followups_followupplan_add",
    ):
        assert client.post(reverse(name), {}).status_code == 403, name
    page = client.get(reverse("admin:appointments_appointment_change", args=[appointment.pk]))
    assert page.status_code == 200  # shown read-only
    assert b'name="_save"' not in page.content
