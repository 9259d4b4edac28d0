"""The cancellation terms in plain client language, generated from a version's own fields.

Pure functions, no ORM: what a client accepts is exactly what decides their
fees (rules.Terms), so the text cannot drift from the numbers. No staff words
("review hold", "grace", "override", "no-show"): tests/policies/test_terms.py
checks the words against a list.
"""

from collections.abc import Mapping
from decimal import Decimal

from . import rules

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "$", "AUD": "$"}


def format_money(amount: Decimal | int | str, currency: str) -> str:
    """`$1,250.00`, `€40.00`, `CHF 40.00`: the symbol where it is unambiguous enough, else the code."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    code = (currency or "").upper()
    symbol = SYMBOLS.get(code)
    return f"{symbol}{value:,.2f}" if symbol else f"{code} {value:,.2f}".strip()


def _hours(hours: int) -> str:
    return "1 hour's" if hours == 1 else f"{hours} hours'"


def _days(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def client_terms(terms: rules.Terms, *, currency: str, session_labels: Mapping[str, str]) -> list[str]:
    """Each term as one plain sentence, in the order a client would ask about them.

    `session_labels` maps session types to their names ("couples" -> "Couples").
    """

    def money(amount: Decimal) -> str:
        return format_money(amount, currency)

    overrides = {
        session_type: fees
        for session_type, fees in sorted(terms.overrides.items())
        if not (terms.exempt_intake and session_type == rules.INTAKE)
    }
    every_fee = [terms.late_cancel_fee, terms.no_show_fee]
    for no_show, late_cancel in overrides.values():
        every_fee += [fee for fee in (no_show, late_cancel) if fee is not None]
    if all(fee <= 0 for fee in every_fee):
        return ["There is no fee for a missed or late-cancelled session."]

    notice = _hours(terms.notice_hours)
    lines = []
    if terms.late_cancel_fee > 0:
        lines.append(f"If you cancel with less than {notice} notice, there is a {money(terms.late_cancel_fee)} fee.")
    else:
        lines.append(f"If you cancel with less than {notice} notice, there is no fee, except as set out below.")
    if terms.no_show_fee > 0:
        lines.append(f"If you miss a session without letting us know, there is a {money(terms.no_show_fee)} fee.")
    else:
        lines.append("If you miss a session without letting us know, there is no fee, except as set out below.")
    for session_type, (no_show, late_cancel) in overrides.items():
        parts = []
        if late_cancel is not None:
            parts.append(
                f"the fee for a late cancellation is {money(late_cancel)}"
                if late_cancel > 0
                else "there is no fee for a late cancellation"
            )
        if no_show is not None:
            parts.append(
                f"the fee for a missed session is {money(no_show)}"
                if no_show > 0
                else "there is no fee for a missed session"
            )
        if parts:
            label = session_labels.get(session_type, session_type).lower()
            lines.append(f"For {label} sessions: {' and '.join(parts)}.")
    if terms.exempt_intake:
        lines.append("If you miss your first session with us (the intake), there is no fee.")
    if terms.grace_count == 1:
        lines.append(f"Your first missed or late-cancelled session in any {_days(terms.grace_days)} has no fee.")
    elif terms.grace_count > 1:
        lines.append(
            f"Your first {terms.grace_count} missed or late-cancelled sessions "
            f"in any {_days(terms.grace_days)} have no fee."
        )
    if terms.makeup_days > 0:
        lines.append(
            f"If you book a make-up session within {_days(terms.makeup_days)} of the one you missed, there is no fee."
        )
    return lines
