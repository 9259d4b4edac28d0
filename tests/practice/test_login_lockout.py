import pytest

pytestmark = pytest.mark.django_db


def test_five_bad_passwords_lock_the_account_from_that_address(client, settings, front_desk):
    settings.AXES_ENABLED = True
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "frontdesk", "password": "wrong"})
        assert response.status_code == 200 and b"Please enter a correct username" in response.content
    fifth = client.post("/accounts/login/", {"username": "frontdesk", "password": "wrong"})
    assert fifth.status_code == 429
    locked = client.post("/accounts/login/", {"username": "frontdesk", "password": "pw"})
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    # The right password from another address still works.
    elsewhere = client.post("/accounts/login/", {"username": "frontdesk", "password": "pw"}, REMOTE_ADDR="10.9.8.7")
    assert elsewhere.status_code == 302
