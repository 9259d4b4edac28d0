"""The wording checker: which words block saving, which only warn, per kind of message."""

import pytest

from followups import defaults, wordlists
from followups.templating import PLACEHOLDERS
from followups.wording_check import RULESETS, check

FIRST_KINDS = ("first", "first_late_cancel", "first_repeat", "first_intake")
LATER_KINDS = ("second", "reminder")
LINK = "\n{reschedule_link}"


def errors(kind, body, subject="Checking in"):
    return {f.rule: f.words for f in check(kind=kind, subject=subject, body=body + LINK).errors}


def warnings(kind, body, subject="Checking in"):
    return {f.rule: f.words for f in check(kind=kind, subject=subject, body=body + LINK).warnings}


@pytest.mark.parametrize("kind", sorted(defaults.DEFAULTS))
def test_every_default_wording_passes_with_nothing_to_check(kind):
    subject, body = defaults.DEFAULTS[kind]
    report = check(kind=kind, subject=subject, body=body)
    assert report.errors == () and report.warnings == ()


def test_a_reminder_rule_set_is_registered_for_the_next_issue():
    assert "reminder" in RULESETS


@pytest.mark.parametrize("kind", FIRST_KINDS)
@pytest.mark.parametrize(
    "text, found",
    [
        ("There is a fee for this.", "fee"),
        ("We will Charge you.", "Charge"),
        ("See our cancellation policy.", "policy"),
        ("Your payment is due.", "payment"),
        ("That comes to $50.", "$"),
        ("That comes to €50.", "€"),
        ("That comes to £50.", "£"),
        ("That is 50 USD.", "USD"),
        ("That is 75.00 in total.", "75.00"),
        ("That is 1,250.50 in total.", "1,250.50"),
        ("Fifty dollars, please.", "dollars"),
    ],
)
def test_a_first_message_never_carries_money(kind, text, found):
    assert found in errors(kind, text)["money"]


@pytest.mark.parametrize("kind", FIRST_KINDS + LATER_KINDS)
@pytest.mark.parametrize(
    "text, found",
    [
        ("You failed to come.", "failed to"),
        ("You didn't bother to call.", "didn't bother"),
        ("You didn’t bother to call.", "didn’t bother"),
        ("This was a no-show.", "no-show"),
        ("This was a no show.", "no show"),
        ("You were absent.", "absent"),
        ("You should have called.", "should have"),
    ],
)
def test_no_message_ever_blames(kind, text, found):
    assert found in errors(kind, text)["blame"]


@pytest.mark.parametrize("kind", FIRST_KINDS + LATER_KINDS)
@pytest.mark.parametrize("word", ["depression", "Anxiety", "diagnosis", "PTSD", "self-harm", "mental health"])
def test_no_message_ever_uses_clinical_words(kind, word):
    assert word in errors(kind, f"About your {word}.")["clinical"]


@pytest.mark.parametrize("kind", FIRST_KINDS)
@pytest.mark.parametrize("text, found", [("your intake", "intake"), ("your couples session", "couples")])
def test_a_first_message_never_names_the_kind_of_session(kind, text, found):
    assert found in errors(kind, f"About {text}.")["session_type"]


@pytest.mark.parametrize("kind", FIRST_KINDS)
def test_family_alone_is_only_worth_a_second_look(kind):
    body = "We hope you and your family are well."
    assert errors(kind, body) == {}
    assert warnings(kind, body)["session_type_word"] == ("family",)
    assert "family session" in errors(kind, "About your family session.")["session_type"]


@pytest.mark.parametrize("kind", LATER_KINDS)
def test_later_messages_may_state_the_terms_with_amounts(kind):
    body = "Under our cancellation policy, a late cancel has a $50.00 fee, charged to the card on file."
    assert "money" not in errors(kind, body)
    assert errors(kind, body) == {}


@pytest.mark.parametrize(
    "text",
    [
        "Charlotte from the front desk says hello.",  # charge
        "We've been thinking of you lately.",  # late
        "Our feedback form is open.",  # fee
        "Repayments aside, we hope you're well.",  # pay
        "Call us on 555.0100.",  # an amount with decimals
        "The absentee ballot is due.",  # absent
        "We paid attention.",  # "paid" is a word of its own: found
    ],
)
def test_only_whole_words_count(text):
    report = check(kind="first", subject="Hi", body=text + LINK)
    found = {w.lower() for f in report.errors + report.warnings for w in f.words}
    assert found <= {"paid"}, found


def test_words_in_the_subject_count_too():
    assert errors("first", "Hello.", subject="About your fee") == {"money": ("fee",)}


def test_placeholders_are_not_checked_as_words():
    report = check(kind="first", subject="Hi", body=" ".join("{" + name + "}" for name in PLACEHOLDERS))
    assert report.errors == () and report.warnings == ()


@pytest.mark.parametrize("kind", ["first_late_cancel", "first_repeat", "first_intake", "second", "reminder"])
def test_missed_is_a_warning_where_the_session_may_not_have_started(kind):
    assert warnings(kind, "We missed you.")["not_yet_true"] == ("missed",)
    assert errors(kind, "We missed you.") == {}


def test_missed_is_true_of_a_no_show():
    assert "not_yet_true" not in warnings("first", "We missed you.")


@pytest.mark.parametrize("text, found", [("You were late.", "late"), ("Not again.", "again")])
def test_doubtful_words_warn_and_do_not_block(text, found):
    assert warnings("first", text)["doubtful"] == (found,)
    assert errors("first", text) == {}


def test_therapy_is_a_warning_not_a_block():
    assert warnings("first", "Your therapy session.")["care"] == ("therapy",)
    assert errors("first", "Your therapy session.") == {}


def test_each_finding_names_the_words_once_and_says_why():
    [finding] = check(kind="first", subject="Fee", body="A fee, a FEE and a charge." + LINK).errors
    assert finding.words == ("Fee", "charge")
    assert "“Fee”, “charge”" in finding.message
    assert "never a fee" in finding.message


def test_an_unknown_kind_gets_the_strictest_rules():
    report = check(kind="nonsense", subject="Hi", body="A fee. We missed you." + LINK)
    assert [f.rule for f in report.errors] == ["money"]
    assert [f.rule for f in report.warnings] == ["not_yet_true"]


@pytest.mark.parametrize(
    "name", ["MONEY", "BLAME", "CLINICAL", "SESSION_TYPES", "SESSION_TYPE_WORDS", "CARE", "NOT_YET_TRUE", "DOUBTFUL"]
)
def test_the_word_lists_are_lower_case_and_without_duplicates(name):
    entries = getattr(wordlists, name)
    assert entries and len(set(entries)) == len(entries)
    assert all(entry == entry.lower().strip() for entry in entries)


@pytest.mark.parametrize(
    "kind, rule, entries, found_in",
    [
        ("first", "money", wordlists.MONEY, "errors"),
        ("first", "blame", wordlists.BLAME, "errors"),
        ("first", "clinical", wordlists.CLINICAL, "errors"),
        ("first", "session_type", wordlists.SESSION_TYPES, "errors"),
        ("first", "session_type_word", wordlists.SESSION_TYPE_WORDS, "warnings"),
        ("first", "care", wordlists.CARE, "warnings"),
        ("first_late_cancel", "not_yet_true", wordlists.NOT_YET_TRUE, "warnings"),
        ("first", "doubtful", wordlists.DOUBTFUL, "warnings"),
    ],
)
def test_every_entry_of_every_list_is_found_in_a_sentence_in_any_case(kind, rule, entries, found_in):
    for entry in entries:
        sentence = f"Well, {entry.upper()} here."
        report = check(kind=kind, subject="Hi", body=sentence + LINK)
        rules = {f.rule for f in getattr(report, found_in)}
        assert rule in rules, entry
