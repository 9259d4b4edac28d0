"""`|local` writes exactly what Django's `|date` writes, in the current time zone (issue 11)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

# Every format the client page, Fees and Messages show, and two that go to Django's own filter.
FORMATS = ["D j M Y H:i", "j M H:i", "j M Y H:i", "j M Y", "j M", "d/m/Y", "N j, Y", r"j \o\f F"]


def _times():
    moment = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    while moment < datetime(2027, 1, 2, tzinfo=UTC):
        yield moment
        moment += timedelta(hours=37, minutes=13)  # every weekday, month, hour and both sides of DST
    yield datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # 01:59 in New York, the minute before the spring change
    yield datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the repeated hour in the autumn


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Asia/Kolkata", "UTC"])
def test_local_writes_what_date_writes(zone):
    ours = Template("{% load localdates %}{{ value|local:fmt }}")
    django = Template("{{ value|date:fmt }}")
    checked = 0
    with timezone.override(zone):
        for value in _times():
            for fmt in FORMATS:
                context = Context({"value": value, "fmt": fmt})
                assert ours.render(context) == django.render(context), (value, fmt)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize("language", ["de", "fr", "en"])
def test_weekday_and_month_names_follow_the_language_active_now(language):
    """The names are looked up once per language (issue 11), never in another language's."""
    ours = Template("{% load localdates %}{{ value|local:fmt }}")
    django = Template("{{ value|date:fmt }}")
    with timezone.override("Europe/London"):
        for active in (language, "en", language):  # one language's names never stay for the next
            with translation.override(active):
                for value in list(_times())[::7]:
                    context = Context({"value": value, "fmt": "D j M Y H:i"})
                    assert ours.render(context) == django.render(context), (active, value)
    with translation.override("de"), timezone.override("UTC"):
        assert ours.render(Context({"value": datetime(2026, 3, 2, tzinfo=UTC), "fmt": "D j M"})) == "Mo 2 Mär"


@pytest.mark.parametrize("value", [None, "", date(2026, 5, 4), datetime(2026, 5, 4, 9, 5)])
def test_empty_values_dates_and_naive_datetimes_as_date_does(value):
    for fmt in FORMATS:
        if isinstance(value, date) and not isinstance(value, datetime) and "H" in fmt:
            continue  # Django's own filter refuses a time format for a date
        context = Context({"value": value, "fmt": fmt})
        assert Template("{% load localdates %}{{ value|local:fmt }}").render(context) == Template(
            "{{ value|date:fmt }}"
        ).render(context)
