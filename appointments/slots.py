"""Open slots from weekly availability: pure functions, no ORM, no clock.

The selector `appointments.selectors.open_slots_for` gathers the inputs from
the database; everything here takes plain values and aware datetimes, so it
can be tested over DST changes and with hypothesis (tests/appointments/test_slots.py).

Conventions:
- Windows are wall-clock times in the practice's zone: 09:00-12:00 on
  Mondays is 09:00-12:00 local on every Monday, summer or winter.
- Slots start on the window's wall-clock grid (09:00, 09:50, 10:40, ...) and
  last `slot_minutes` real minutes.
- A wall-clock time that happens twice (clocks going back) is read as its
  first occurrence; a slot whose start never happens (clocks going forward)
  is skipped. Both follow Python's `fold=0`, also for a window's end.
"""

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

Slot = tuple[datetime, datetime]


class Window(NamedTuple):
    """One weekly window; plain 4-tuples in this order work as well."""

    weekday: int  # 0 = Monday, as date.weekday()
    start_time: time
    end_time: time
    slot_minutes: int


def _resolve(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time, or None if the clocks skip it."""
    local = datetime.combine(day, wall, tzinfo=zone)  # fold=0: the first occurrence
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def _window_slots(day: date, window: Window, zone: ZoneInfo) -> Iterable[Slot]:
    length = timedelta(minutes=window.slot_minutes)
    # Read with fold=0 even when it falls in a gap: the window then keeps its length.
    window_end = datetime.combine(day, window.end_time, tzinfo=zone).astimezone(UTC)
    wall = datetime.combine(day, window.start_time)
    last = datetime.combine(day, window.end_time)
    while wall + length <= last:
        start = _resolve(day, wall.time(), zone)
        if start is not None and start + length <= window_end:
            yield start, start + length
        wall += length


class _Busy:
    """Busy intervals, for "does this slot overlap any of them?" in O(log n)."""

    def __init__(self, busy: Iterable[tuple[datetime, datetime]]):
        intervals = sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy)
        self.starts = [s for s, _ in intervals]
        # latest_end[i]: the latest end among the first i + 1 intervals by start.
        self.latest_end = []
        for _, end in intervals:
            self.latest_end.append(max(end, self.latest_end[-1]) if self.latest_end else end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        # Intervals that start before the slot ends; one of them overlaps if it ends after the slot starts.
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.latest_end[i - 1] > start


def open_slots(
    *,
    windows: Sequence[tuple[int, time, time, int]],
    busy: Iterable[tuple[datetime, datetime]],
    zone: ZoneInfo,
    start: date,
    days: int,
    now: datetime,
    lead: timedelta = timedelta(hours=12),
) -> list[Slot]:
    """The open slots on `days` local dates from `start`, as sorted (start, end) pairs in UTC.

    1. For each local date in [start, start + days), take the windows for
       its weekday.
    2. Walk each window's wall-clock grid from its start time in steps of
       `slot_minutes`, while the wall-clock slot fits before the end time.
    3. Resolve each start in `zone`: skip one the clocks skip, take the first
       occurrence of one that happens twice. The slot lasts `slot_minutes`
       real minutes and must end by the window's end (so a slot that crosses
       a DST change still fits the window in real time).
    4. Keep a slot that starts at or after `now + lead` and overlaps no busy
       interval (touching ends do not overlap).
    5. Sort, and drop a slot that overlaps the one kept before it. That
       happens only just after the clocks go forward (the grid is in wall
       time, the slots in real time) or when windows overlap each other.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if days < 0:
        raise ValueError("days cannot be negative")
    by_weekday: dict[int, list[Window]] = {}
    for raw in windows:
        window = Window(*raw)
        if window.slot_minutes <= 0:
            raise ValueError("slot_minutes must be positive")
        by_weekday.setdefault(window.weekday, []).append(window)

    earliest = now.astimezone(UTC) + lead
    blocked = _Busy(busy)
    found = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for window in by_weekday.get(day.weekday(), []):
            for slot_start, slot_end in _window_slots(day, window, zone):
                if slot_start >= earliest and not blocked.overlaps(slot_start, slot_end):
                    found.append((slot_start, slot_end))

    kept: list[Slot] = []
    for slot in sorted(found):
        if not kept or slot[0] >= kept[-1][1]:
            kept.append(slot)
    return kept


def by_local_date(slots: Iterable[Slot], *, zone: ZoneInfo, start: date, days: int) -> dict[date, list[Slot]]:
    """Slots grouped by their local start date, in local time, with every date of the range present."""
    grouped: dict[date, list[Slot]] = {start + timedelta(days=i): [] for i in range(days)}
    for slot_start, slot_end in slots:
        local_start = slot_start.astimezone(zone)
        if local_start.date() in grouped:
            grouped[local_start.date()].append((local_start, slot_end.astimezone(zone)))
    return grouped
