"""Times in the practice's zone: the one helper every page, email, SMS and CSV uses.

Times are stored in UTC. Staff pages get the practice's zone from
PracticeMiddleware; everything else (client pages reached by a link, emails
and texts rendered in a worker, exports) names the practice explicitly:

- `local(moment, practice)` converts one aware datetime;
- `practice_time(practice)` renders a block (an email, a page) in the zone,
  so `{{ start|date:"H:i" }}` in a template shows the practice's wall clock;
- `zone_label(practice)` names the zone for clients ("Eastern Time").
"""

import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

# Friendly names for the zones our practices use; anything else is shown by
# its IANA name ("Europe/Berlin"), which is unambiguous if less friendly.
# A small map instead of babel: one dependency fewer, and these names are
# the ones clients in these places say themselves.
FRIENDLY_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Toronto": "Eastern Time",
    "America/Indiana/Indianapolis": "Eastern Time",
    "America/Kentucky/Louisville": "Eastern Time",
    "US/Eastern": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Winnipeg": "Central Time",
    "US/Central": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Edmonton": "Mountain Time",
    "America/Boise": "Mountain Time",
    "US/Mountain": "Mountain Time",
    "America/Phoenix": "Arizona Time",
    "America/Los_Angeles": "Pacific Time",
    "America/Vancouver": "Pacific Time",
    "US/Pacific": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
    "America/Halifax": "Atlantic Time",
    "America/St_Johns": "Newfoundland Time",
    "America/Puerto_Rico": "Atlantic Time",
    "Europe/London": "UK time",
    "Europe/Dublin": "Irish time",
    "Australia/Sydney": "Sydney time",
    "Australia/Melbourne": "Melbourne time",
    "Australia/Brisbane": "Brisbane time",
    "Australia/Perth": "Perth time",
    "Pacific/Auckland": "New Zealand time",
    "UTC": "UTC",
}


def zone(practice) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(str(practice.time_zone))


def local(moment: datetime, practice) -> datetime:
    """An aware datetime as the practice's wall clock shows it."""
    return timezone.localtime(moment, zone(practice))


def zone_label(practice) -> str:
    name = str(practice.time_zone)
    return FRIENDLY_NAMES.get(name, name)


@contextmanager
def practice_time(practice) -> Iterator[None]:
    """Render times inside this block in the practice's zone (emails, texts, client pages)."""
    with timezone.override(zone(practice)):
        yield


def activate(practice) -> None:
    """For a view that found its practice from a link, not a login.

    PracticeMiddleware deactivates the zone when the response is done.
    """
    timezone.activate(zone(practice))
