"""Django admin: every model is there, and staff who are not superusers see their practice only."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"practice", "appointments", "policies", "followups"}


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
