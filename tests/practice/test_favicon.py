"""The browser's own request for /favicon.ico gets an icon, signed in or not, never a 404."""

import pytest
from django.test import Client as DjangoClient


@pytest.mark.django_db
def test_favicon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content


@pytest.mark.django_db
def test_favicon_is_served_between_the_password_and_the_second_factor(practice_admin):
    browser = DjangoClient()
    # Django's own force_login: a password-only session, the second step not passed yet.
    DjangoClient.force_login(browser, practice_admin)
    assert browser.get("/").status_code == 302
    response = browser.get("/favicon.ico")
    assert response.status_code == 200
    assert b"<svg" in response.content
