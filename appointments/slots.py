"""Open slots from weekly availability: pure functions, no ORM, no clock.

The selector `appointments.selectors.open_slots_for` gathers the inputs from
the database; everything here takes plain values and aware datetimes, so it
can be tested over DST changes and with hypothesis (tests/appointments/test_slots.py).

Conventions:
- Windows are wall-clock times in the practice's zone: 09:00-12:00 on
  Mondays is 09:00-12:00 local on every Monday, summer or winter.
- A window has three numbers: the session length, the buffer left between
  sessions (and around sessions already booked), and the start-time grid.
  Offered starts sit on the grid in local wall-clock time, counted from
  midnight (every 30 minutes: :00 and :30), so 50-minute sessions with a
  10-minute buffer on a half-hour grid give 09:00, 10:00, 11:00.
- A grid of 0 is the old behaviour: back to back from the window's start,
  one session length apart (09:00, 09:50, 10:40). Plain 4-tuples mean that.
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

MINUTES_PER_DAY = 24 * 60


class Window(NamedTuple):
    """One weekly window; plain 4- to 6-tuples in this order work as well."""

    weekday: int  # 0 = Monday, as date.weekday()
    start_time: time
    end_time: time
    session_minutes: int
    buffer_minutes: int = 0
    grid_minutes: int = 0  # 0: back to back from the window's start


def _resolve(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time, or None if the clocks skip it."""
    local = datetime.combine(day, wall, tzinfo=zone)  # fold=0: the first occurrence
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def _minutes(wall: time) -> int:
    return wall.hour * 60 + wall.minute


def _window_slots(day: date, window: Window, zone: ZoneInfo, fits) -> Iterable[Slot]:
    """Walk one window's grid on one day, yielding the slots `fits(start, end)` accepts.

    1. Candidate starts are wall-clock minutes on the grid: from midnight in
       steps of `grid_minutes`, or from the window's start in steps of the
       session length when the grid is 0.
    2. A candidate whose start the clocks skip is passed over. A slot lasts
       `session_minutes` real minutes and must end by the window's end.
    3. After a slot is offered, the next candidate is the first grid time at
       or after its end plus the buffer (in local wall-clock time); after a
       refused one, the next grid time.
    """
    length = timedelta(minutes=window.session_minutes)
    buffer = timedelta(minutes=window.buffer_minutes)
    step = window.grid_minutes or window.session_minutes
    anchor = 0 if window.grid_minutes else _minutes(window.start_time)

    def on_grid_from(minute: int) -> int:
        return anchor + -(-(minute - anchor) // step) * step

    # Read with fold=0 even when it falls in a gap: the window then keeps its length.
    window_end = datetime.combine(day, window.end_time, tzinfo=zone).astimezone(UTC)
    last = _minutes(window.end_time)
    minute = on_grid_from(_minutes(window.start_time))
    while minute + window.session_minutes <= last:
        start = _resolve(day, time(minute // 60, minute % 60), zone)
        following = minute + step
        if start is not None and start + length <= window_end and fits(start, start + length):
            yield start, start + length
            free_again = (start + length + buffer).astimezone(zone).replace(tzinfo=None)
            if free_again.date() != day:
                return
            # max(): after the clocks go back, the local end can read earlier than the start.
            following = max(following, on_grid_from(_minutes(free_again.time())))
        minute = following


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
    windows: Sequence[tuple],
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
    2. Walk each window's grid (see `_window_slots`): starts on the grid in
       local time, each slot `session_minutes` real minutes, ending by the
       window's end (so a slot that crosses a DST change still fits the
       window in real time), the next one at least the buffer later.
    3. Keep a slot that starts at or after `now + lead` and whose session,
       widened by the window's buffer on both sides, overlaps no busy
       interval (touching ends do not overlap).
    4. Sort, and drop a slot that starts before the one kept before it has
       ended plus its buffer. That happens only just after the clocks go
       forward or back (the grid is in wall time, the slots in real time) or
       when windows overlap each other.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if days < 0:
        raise ValueError("days cannot be negative")
    by_weekday: dict[int, list[Window]] = {}
    for raw in windows:
        window = Window(*raw)
        if window.session_minutes <= 0:
            raise ValueError("session_minutes must be positive")
        if window.buffer_minutes < 0:
            raise ValueError("buffer_minutes cannot be negative")
        if window.grid_minutes < 0 or (window.grid_minutes and MINUTES_PER_DAY % window.grid_minutes):
            raise ValueError("grid_minutes must divide a day")
        by_weekday.setdefault(window.weekday, []).append(window)

    earliest = now.astimezone(UTC) + lead
    blocked = _Busy(busy)
    found: list[tuple[datetime, datetime, timedelta]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for window in by_weekday.get(day.weekday(), []):
            buffer = timedelta(minutes=window.buffer_minutes)

            def fits(slot_start, slot_end, buffer=buffer):
                return slot_start >= earliest and not blocked.overlaps(slot_start - buffer, slot_end + buffer)

            for slot_start, slot_end in _window_slots(day, window, zone, fits):
                found.append((slot_start, slot_end, buffer))

    kept: list[Slot] = []
    free_from: datetime | None = None
    for slot_start, slot_end, buffer in sorted(found):
        if free_from is None or slot_start >= free_from:
            kept.append((slot_start, slot_end))
            free_from = slot_end + buffer
    return kept


def by_local_date(slots: Iterable[Slot], *, zone: ZoneInfo, start: date, days: int) -> dict[date, list[Slot]]:
    """Slots grouped by their local start date, in local time, with every date of the range present."""
    grouped: dict[date, list[Slot]] = {start + timedelta(days=i): [] for i in range(days)}
    for slot_start, slot_end in slots:
        local_start = slot_start.astimezone(zone)
        if local_start.date() in grouped:
            grouped[local_start.date()].append((local_start, slot_end.astimezone(zone)))
    return grouped
