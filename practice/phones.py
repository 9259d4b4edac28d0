"""Phone numbers: one helper that reads what a person typed and gives E.164 (SMS needs it).

Used by the practice settings form, the client form and service, and the
migration that normalised the numbers already on file. It lives in
`practice` (the bottom of the dependency order) so every app may use it.
"""

import phonenumbers
from phonenumber_field.phonenumber import PhoneNumber

DEFAULT_COUNTRY = "US"

INVALID_MESSAGE = (
    "Enter a phone number we can call or text, e.g. (212) 555-0100, or with a country code, e.g. +44 20 7946 0958."
)
EXTENSION_MESSAGE = "Leave out the extension: a text message cannot reach one. Give a number that reaches the client."


def normalise_phone(raw: str | None, country: str | None = DEFAULT_COUNTRY) -> tuple[str, bool]:
    """(E.164, True) for a number we can use; ("", True) for a blank; ("", False) for anything else.

    A number written without a country code is read as `country`'s. A number
    with an extension is not usable: a text to the main line would reach a
    switchboard, not the client, so it is treated like one that does not parse.
    """
    raw = (raw or "").strip()
    if not raw:
        return "", True
    region = (country or DEFAULT_COUNTRY).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = DEFAULT_COUNTRY
    try:
        number = PhoneNumber.from_string(raw, region=region)
    except phonenumbers.NumberParseException:
        return "", False
    if number.extension or not number.is_valid():
        return "", False
    return number.as_e164, True


def phone_problem(raw: str | None, country: str | None = DEFAULT_COUNTRY) -> str:
    """The message to show for a number normalise_phone refuses ("" when it is fine)."""
    _, ok = normalise_phone(raw, country)
    if ok:
        return ""
    try:
        if phonenumbers.parse((raw or "").strip(), (country or DEFAULT_COUNTRY).upper()).extension:
            return EXTENSION_MESSAGE
    except phonenumbers.NumberParseException:
        pass
    return INVALID_MESSAGE


def display_phone(e164: str, country: str | None = DEFAULT_COUNTRY) -> str:
    """A number as people write it: national format at home, international abroad."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, (country or DEFAULT_COUNTRY).upper())
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_valid_number(number):
        return e164
    home = phonenumbers.region_code_for_number(number) == (country or DEFAULT_COUNTRY).upper()
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def dialable(raw: str | None, country: str | None = DEFAULT_COUNTRY) -> str:
    """E.164 for a `tel:` link: a valid number, or one of a possible length (a new or
    unlisted exchange still rings); "" for anything else. Stricter checks (SMS) use normalise_phone."""
    e164, ok = normalise_phone(raw, country)
    if e164 or not (raw or "").strip():
        return e164
    region = (country or DEFAULT_COUNTRY).upper()
    try:
        number = phonenumbers.parse(raw, region if region in phonenumbers.SUPPORTED_REGIONS else DEFAULT_COUNTRY)
    except phonenumbers.NumberParseException:
        return ""
    reason = phonenumbers.is_possible_number_with_reason(number)
    if number.extension or reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
