"""One helper per recurring request need: where to go next, and which dates make sense."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

# Dates outside these are typing mistakes or probes; near date.min/date.max the
# arithmetic the pages do (the week around a date, the day after) overflows.
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)


def safe_next(request: HttpRequest, default: str) -> str:
    """The `next` the form sent, if it is a path on this site; `default` otherwise.

    Never reversed as a view name (a `next` that is no URL is not a 500) and
    never another host, scheme-relative URL or `javascript:`.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/")
        and "\x00" not in target
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    ):
        return target
    return default


def date_is_sane(value: date | datetime) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


def validate_sane_date(value: date | datetime) -> None:
    """Form validator: a date a practice could mean."""
    if not date_is_sane(value):
        raise ValidationError(
            f"Choose a date between {EARLIEST.year} and {LATEST.year}.",
            code="date_out_of_range",
        )


def csv_cell(value: str) -> str:
    """A text cell for a CSV export that a spreadsheet will not run as a formula.

    A cell starting with = + - @ (or a tab or carriage return) is a formula to
    Excel and LibreOffice; a leading apostrophe makes it text (OWASP's advice).
    """
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def add_service_error(form, exc: ValidationError) -> None:
    """Put a service's ValidationError beside the field it names, or above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
