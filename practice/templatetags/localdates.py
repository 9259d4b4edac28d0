"""`{% load localdates %}`: `{{ fee.session_start|local:"D j M Y H:i" }}`, the `date` filter's text, cheaper.

Issue 11: the `date` filter was about a tenth of the client page, Fees and
Messages (each row shows one or two times). Django parses the format again on
every call; here a format is read once into its parts, and each part is the
same expression Django's DateFormat method computes (see the table). A format
with any other letter, and any value that is not a datetime, goes to Django's
own filter. Like `date`, it shows the value in the current time zone (the
practice's, set by PracticeMiddleware). tests/practice/test_localdates.py
checks it against `date` for every format the templates use.
"""

from datetime import datetime
from functools import lru_cache

from django import template
from django.template.defaultfilters import date as django_date
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.translation import get_language

register = template.Library()

# Django's DateFormat: j, d, D, M, Y, H, i. Each part takes the datetime and the names of the
# language active now (`_names`): the lazy translation of each weekday and month was most of a
# row's time on the client page (issue 11).
_PARTS = {
    "j": lambda d, names: str(d.day),
    "d": lambda d, names: "%02d" % d.day,  # noqa: UP031 - as Django writes it
    "D": lambda d, names: names[0][d.weekday()],
    "M": lambda d, names: names[1][d.month],
    "Y": lambda d, names: "%04d" % d.year,  # noqa: UP031
    "H": lambda d, names: "%02d" % d.hour,  # noqa: UP031
    "i": lambda d, names: "%02d" % d.minute,  # noqa: UP031
}


@lru_cache(maxsize=32)
def _names(language: str | None) -> tuple[tuple[str, ...], dict[int, str]]:
    """The abbreviated weekday and month names in `language` (the one active when first asked), as
    Django's DateFormat writes them for D and M."""
    weekdays = tuple(str(WEEKDAYS_ABBR[day]) for day in range(7))
    months = {month: MONTHS_3[month].title() for month in range(1, 13)}
    return weekdays, months


@lru_cache(maxsize=64)
def _compiled(fmt: str):
    """The format's parts (a function or literal text), or None when it needs Django's own filter."""
    parts = []
    for char in fmt:
        if char in _PARTS:
            parts.append(_PARTS[char])
        elif char.isalpha() or char == "\\":
            return None
        else:
            parts.append(char)
    return tuple(parts)


@register.filter(expects_localtime=True, is_safe=False)
def local(value, fmt: str):
    if value in (None, ""):
        return ""
    parts = _compiled(fmt)
    if parts is None or not isinstance(value, datetime):
        return django_date(value, fmt)
    names = _names(get_language())
    return "".join(part if isinstance(part, str) else part(value, names) for part in parts)
