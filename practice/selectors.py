"""Reads at the practice level."""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .models import Practice


@dataclass(frozen=True)
class ZoneChange:
    """What a new time zone does to the sessions already booked."""

    count: int
    # One example, as each zone's wall clock shows it: (before, after).
    example: tuple[datetime, datetime] | None

    @property
    def example_text(self) -> str:
        """ "Tue 3 Dec 10:00 → Tue 3 Dec 07:00": each side on its own zone's clock."""
        if self.example is None:
            return ""
        return " → ".join(f"{t:%a} {t.day} {t:%b %H:%M}" for t in self.example)


def zone_change_preview(*, practice: Practice, new_zone: str, now: datetime | None = None) -> ZoneChange:
    """How many booked sessions from now on would show at a different local time in `new_zone`.

    A session keeps its instant (UTC); only its wall-clock reading changes.
    Zones with the same offsets at those instants change nothing.
    """
    from appointments.models import Appointment  # appointments depends on practice, not the reverse

    now = now or timezone.now()
    old, new = zoneinfo.ZoneInfo(str(practice.time_zone)), zoneinfo.ZoneInfo(str(new_zone))
    starts = (
        Appointment.objects.filter(practice=practice, status=Appointment.Status.SCHEDULED, start__gte=now)
        .order_by("start")
        .values_list("start", flat=True)
        .iterator()
    )
    count, example = 0, None
    for start in starts:
        before, after = start.astimezone(old), start.astimezone(new)
        if before.replace(tzinfo=None) != after.replace(tzinfo=None):
            count += 1
            example = example or (before, after)
    return ZoneChange(count=count, example=example)
