"""The wording editor: the checker blocks saving with the words named, and the live preview warns."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from followups.models import MessageTemplate
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

LATE = reverse("followups:template_edit", args=["first_late_cancel"])
PREVIEW = reverse("followups:template_preview")
GOOD = "Hi {first_name},\nThank you for letting us know.\n{reschedule_link}\n{contact_line}"


def test_the_late_cancel_wording_opens_with_its_default_and_the_rules(client, practice_admin):
    client.force_login(practice_admin)
    page = client.get(LATE).content.decode()
    assert "First message, late cancel" in page
    assert "Thank you for letting us know about your session on" in page
    assert "never mentions money" in page
    # The preview fills in the practice's phone; the sample has no reply-to yet.
    assert "You can call us on +1 555 0100." in page


def test_saving_money_in_a_first_message_is_refused_and_names_the_word(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "Hi {first_name}, a late cancel has a $50 fee.\n{reschedule_link}"
    response = client.post(LATE, {"kind": "first_late_cancel", "subject": "Checking in", "body": body})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Money in a first message: “$”, “fee”." in page
    assert 'class="invalid-feedback"' in page
    assert "$50 fee" in page  # what was typed stays in the box
    assert not MessageTemplate.objects.filter(practice=practice).exists()


def test_the_kind_in_the_address_decides_the_rules_not_the_form(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "There is a fee.\n{reschedule_link}"
    response = client.post(LATE, {"kind": "second", "subject": "Hi", "body": body})
    assert "Money in a first message" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_the_second_message_may_state_the_terms(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "Our policy has a $50.00 fee for a cancellation with less than a day's notice.\n{reschedule_link}"
    url = reverse("followups:template_edit", args=["second"])
    response = client.post(url, {"kind": "second", "subject": "Still here for you", "body": body})
    assert response.status_code == 302
    assert MessageTemplate.objects.get(practice=practice, kind="second").body == body


def test_saving_with_only_doubtful_words_saves_and_says_what_to_check(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "Hi {first_name}, we missed you.\n{reschedule_link}"
    response = client.post(LATE, {"kind": "first_late_cancel", "subject": "Checking in", "body": body})
    assert response.status_code == 302
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert notes[0] == "Wording saved."
    assert notes[1].startswith("Check “missed”")
    assert MessageTemplate.objects.get(practice=practice).kind == "first_late_cancel"


def test_a_subject_with_a_line_break_is_refused(client, practice_admin):
    client.force_login(practice_admin)
    response = client.post(LATE, {"kind": "first_late_cancel", "subject": "Hi\r\nBcc: x@y.example", "body": GOOD})
    assert response.status_code == 200
    assert "Keep the subject on one line." in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_the_preview_shows_blocks_and_warnings_next_to_the_message(client, practice_admin):
    client.force_login(practice_admin)
    body = "Hi {first_name}, sorry about the fee. We missed you in therapy.\n{reschedule_link}"
    page = client.post(
        PREVIEW, {"kind": "first_late_cancel", "subject": "Hi", "body": body}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert page.lstrip().startswith('<div id="preview"')
    assert 'role="alert">Money in a first message: “fee”.' in page
    assert "Check “therapy”" in page and "Check “missed”" in page
    assert "Hi Sam, sorry about the fee." in page


def test_the_preview_of_a_no_show_does_not_question_missed(client, practice_admin):
    client.force_login(practice_admin)
    page = client.post(PREVIEW, {"kind": "first", "subject": "Hi", "body": "We missed you.\n{reschedule_link}"})
    assert 'id="preview-warnings"' not in page.content.decode()


def test_the_preview_with_an_unknown_kind_uses_the_strictest_rules(client, practice_admin):
    client.force_login(practice_admin)
    page = client.post(PREVIEW, {"kind": "nonsense", "subject": "Hi", "body": "A fee.\n{reschedule_link}"})
    assert page.status_code == 200 and "Money in a first message" in page.content.decode()


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_only_admins_edit_or_preview_wording(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(LATE).status_code == 403
    assert client.post(LATE, {"kind": "first_late_cancel", "subject": "Hi", "body": GOOD}).status_code == 403
    assert client.post(PREVIEW, {"kind": "first", "subject": "Hi", "body": GOOD}).status_code == 403
    assert not MessageTemplate.objects.exists()


def test_another_practices_admin_edits_only_their_own_wording(client, practice, practice_admin, other_practice):
    other_admin = MembershipFactory(practice=other_practice, role="admin").user
    client.force_login(other_admin)
    assert client.post(LATE, {"kind": "first_late_cancel", "subject": "Hillside", "body": GOOD}).status_code == 302
    assert MessageTemplate.objects.get().practice == other_practice
    client.force_login(practice_admin)
    page = client.get(LATE).content.decode()
    assert "Hillside" not in page and "Thank you for letting us know about your session on" in page
    assert client.get(reverse("followups:template_edit", args=["nonsense"])).status_code == 404


def test_a_missing_link_and_a_fee_are_both_named(client, practice_admin):
    client.force_login(practice_admin)
    response = client.post(LATE, {"kind": "first_late_cancel", "subject": "Hi", "body": "There is a fee."})
    page = response.content.decode()
    assert response.status_code == 200
    assert "The message must include {reschedule_link}" in page and "Money in a first message: “fee”." in page


def test_django_admin_cannot_change_wording_past_the_checker(client, practice_admin, practice):
    client.force_login(practice_admin)
    assert client.get("/admin/followups/messagetemplate/add/").status_code == 403
    response = client.post(
        "/admin/followups/messagetemplate/add/",
        {"practice": practice.pk, "kind": "first", "subject": "Fee", "body": "A $50 fee. {reschedule_link}"},
    )
    assert response.status_code == 403 and not MessageTemplate.objects.exists()


def test_wording_saved_before_the_checker_is_flagged_on_the_policies_page(client, practice_admin, practice):
    # Saved before the rules existed: it still goes out, so staff are told.
    MessageTemplate.objects.create(practice=practice, kind="first", subject="Hi", body="A $50 fee. {reschedule_link}")
    client.force_login(practice_admin)
    page = client.get(reverse("policies:policy")).content.decode()
    assert page.count("This wording no longer passes the wording checker") == 1
