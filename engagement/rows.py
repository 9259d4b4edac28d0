"""The engagement strip of the client page (the last 20 sessions, the rates, the misses and what
followed them) as one flat view, rendered through the row cache (practice/rowcache.py, issue 11).

`templates/engagement/_strip.html` reads only `row`, a `StripView`: every value it shows is here,
worked out in Python (times as text in the practice's zone, labels in the language active now).
So the view is the whole input of the section's HTML and, with the template, its cache key: a
session marked, a reason given, a follow-up sent or a rebooking makes another view.
"""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils.safestring import SafeString
from django.utils.translation import get_language

from appointments.models import Appointment
from practice import rowcache
from practice.templatetags.localdates import local

from .selectors import MISSED, Engagement

TEMPLATE = "engagement/_strip.html"
_STATUS = dict(Appointment.Status.choices)


@dataclass(frozen=True, slots=True)
class StripItem:
    status: str
    status_display: str
    day: str  # "j M", local
    when: str  # "D j M Y H:i", local (shown for a miss)
    is_missed: bool
    reason_label: str
    reason_text: str
    followups_sent: int
    rebooked: bool


@dataclass(frozen=True, slots=True)
class StripView:
    items: tuple[StripItem, ...]  # newest first, as engagement_strip reads them
    rates: tuple[tuple[str, str], ...]  # (label, text)
    longest_run: int
    time_zone: str
    language: str


def strip_view(strip: list[Appointment], engagement: Engagement, *, zone: str) -> StripView:
    tz = ZoneInfo(zone)
    items = []
    for a in strip:
        start = a.start.astimezone(tz)
        missed = a.status in MISSED
        items.append(
            StripItem(
                status=a.status,
                status_display=rowcache.label(_STATUS, a.status),
                day=local(start, "j M"),
                when=local(start, "D j M Y H:i") if missed else "",
                is_missed=missed,
                reason_label=(a.reason_label or "") if missed else "",
                reason_text=(a.reason_text or "") if missed else "",
                followups_sent=a.followups_sent if missed else 0,
                rebooked=bool(a.rebooked) if missed else False,
            )
        )
    return StripView(
        items=tuple(items),
        rates=tuple((str(r.label), r.text) for r in engagement.rates),
        longest_run=engagement.longest_run,
        time_zone=zone,
        language=get_language() or "",
    )


def render(strip: list[Appointment], engagement: Engagement, *, zone: str) -> SafeString:
    return rowcache.render_row(TEMPLATE, strip_view(strip, engagement, zone=zone))
