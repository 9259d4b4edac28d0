"""The terms clients read, generated from a version's own fields."""

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appointments.models import Appointment
from policies import rules
from policies.terms import client_terms, format_money

LABELS = dict(Appointment.SessionType.choices)

# Words that belong to staff screens, never to what a client reads.
STAFF_WORDS = [
    "review hold",
    "hold",
    "grace",
    "none",
    "no-show",
    "no_show",
    "late_cancel",
    "override",
    "exempt",
    "as above",
    "policy v",
    "USD",
    "EUR",
    "GBP",
    "proposed",
    "acknowledg",
]

TERMS = rules.Terms(
    notice_hours=48,
    no_show_fee=Decimal("75.00"),
    late_cancel_fee=Decimal("50.00"),
    grace_count=1,
    grace_days=90,
    exempt_intake=True,
    makeup_days=7,
    hold_hours=48,
    overrides={"couples": (Decimal("90.00"), None), "intake": (Decimal("20.00"), None)},
)


def terms(**changes) -> rules.Terms:
    return rules.Terms(**{**TERMS.__dict__, **changes})


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("50"), "USD", "$50.00"),
        (Decimal("1250.5"), "USD", "$1,250.50"),
        (Decimal("40.00"), "EUR", "€40.00"),
        (Decimal("40.00"), "gbp", "£40.00"),
        (Decimal("40.00"), "CAD", "$40.00"),
        (Decimal("40.00"), "AUD", "$40.00"),
        (Decimal("40.00"), "CHF", "CHF 40.00"),
        ("60.00", "USD", "$60.00"),
    ],
)
def test_money_is_shown_with_its_symbol_or_else_its_code(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_the_terms_in_plain_client_language():
    assert client_terms(TERMS, currency="USD", session_labels=LABELS) == [
        "If you cancel with less than 48 hours' notice, there is a $50.00 fee.",
        "If you miss a session without letting us know, there is a $75.00 fee.",
        "For couples sessions: the fee for a missed session is $90.00.",
        "If you miss your first session with us (the intake), there is no fee.",
        "Your first missed or late-cancelled session in any 90 days has no fee.",
        "If you book a make-up session within 7 days of the one you missed, there is no fee.",
    ]


def test_an_intake_fee_is_stated_only_when_intakes_are_charged():
    lines = client_terms(terms(exempt_intake=False), currency="USD", session_labels=LABELS)
    assert "For intake sessions: the fee for a missed session is $20.00." in lines
    assert not any("(the intake), there is no fee" in line for line in lines)


def test_grace_and_makeup_are_left_out_when_off_and_counted_when_several():
    lines = client_terms(terms(grace_count=0, makeup_days=0), currency="EUR", session_labels=LABELS)
    assert not any("first missed" in line or "make-up" in line for line in lines)
    assert lines[0] == "If you cancel with less than 48 hours' notice, there is a €50.00 fee."
    several = client_terms(terms(grace_count=2, grace_days=30, makeup_days=1), currency="USD", session_labels=LABELS)
    assert "Your first 2 missed or late-cancelled sessions in any 30 days have no fee." in several
    assert "If you book a make-up session within 1 day of the one you missed, there is no fee." in several


def test_no_fees_at_all_is_said_once():
    free = terms(no_show_fee=Decimal("0"), late_cancel_fee=Decimal("0"), overrides={})
    assert client_terms(free, currency="USD", session_labels=LABELS) == [
        "There is no fee for a missed or late-cancelled session."
    ]


def test_a_free_default_with_a_charged_session_type_says_both():
    lines = client_terms(
        terms(no_show_fee=Decimal("0"), late_cancel_fee=Decimal("0"), overrides={"couples": (None, Decimal("30"))}),
        currency="GBP",
        session_labels=LABELS,
    )
    assert lines[:3] == [
        "If you cancel with less than 48 hours' notice, there is no fee, except as set out below.",
        "If you miss a session without letting us know, there is no fee, except as set out below.",
        "For couples sessions: the fee for a late cancellation is £30.00.",
    ]


def test_one_hour_of_notice_reads_naturally():
    assert client_terms(terms(notice_hours=1), currency="USD", session_labels=LABELS)[0].startswith(
        "If you cancel with less than 1 hour's notice"
    )


fees = st.sampled_from([Decimal("0"), Decimal("15.00"), Decimal("90.00")])


@settings(max_examples=200, deadline=None)
@given(
    no_show=fees,
    late=fees,
    grace_count=st.integers(0, 3),
    intake=st.booleans(),
    makeup=st.integers(0, 30),
    override=st.tuples(st.one_of(st.none(), fees), st.one_of(st.none(), fees)),
    currency=st.sampled_from(["USD", "EUR", "GBP", "CAD"]),
)
def test_no_staff_words_whatever_the_terms(no_show, late, grace_count, intake, makeup, override, currency):
    lines = client_terms(
        terms(
            no_show_fee=no_show,
            late_cancel_fee=late,
            grace_count=grace_count,
            exempt_intake=intake,
            makeup_days=makeup,
            overrides={"couples": override},
        ),
        currency=currency,
        session_labels=LABELS,
    )
    text = " ".join(lines).lower()
    assert lines and all(line.endswith(".") for line in lines)
    for word in STAFF_WORDS:
        assert word.lower() not in text, word
    # Every amount carries its symbol ("couples no-show 90.00" is staff shorthand).
    assert not re.search(r"(?<![$€£\d,.])\d+\.\d\d", text), text
