"""Open slots from weekly windows: examples, DST days in New York, and properties."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appointments.slots import Window, by_local_date, open_slots

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 7, 6)
SPRING_FORWARD = date(2026, 3, 8)  # a Sunday: 02:00 EST becomes 03:00 EDT
FALL_BACK = date(2026, 11, 1)  # a Sunday: 02:00 EDT becomes 01:00 EST
SUNDAY = 6
NO_LEAD = timedelta(0)


def local(day: date, hh: int, mm: int = 0, zone: ZoneInfo = NY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone)


def utc(y, mo, d, hh, mm=0) -> datetime:
    return datetime(y, mo, d, hh, mm, tzinfo=UTC)


def local_times(slots, zone=NY) -> list[str]:
    return [f"{s.astimezone(zone):%H:%M}-{e.astimezone(zone):%H:%M}" for s, e in slots]


def slots_on(day, windows, *, busy=(), now=None, lead=NO_LEAD, days=1, zone=NY):
    now = now or local(day, 0, zone=zone) - timedelta(days=1)
    return open_slots(windows=windows, busy=list(busy), zone=zone, start=day, days=days, now=now, lead=lead)


def test_slots_fill_a_window_and_stop_where_the_next_would_not_fit():
    found = slots_on(MONDAY, [(0, time(9), time(12), 50)])
    assert local_times(found) == ["09:00-09:50", "09:50-10:40", "10:40-11:30"]
    assert all(s.tzinfo is UTC and e.tzinfo is UTC for s, e in found)
    assert found[0] == (utc(2026, 7, 6, 13), utc(2026, 7, 6, 13, 50))


def test_only_the_windows_weekday_gets_slots_and_several_windows_a_day_work():
    windows = [Window(0, time(9), time(10), 30), Window(0, time(13), time(14), 60), Window(2, time(9), time(10), 60)]
    found = slots_on(MONDAY, windows, days=7)
    by_day = {d: local_times(s) for d, s in by_local_date(found, zone=NY, start=MONDAY, days=7).items() if s}
    assert by_day == {
        MONDAY: ["09:00-09:30", "09:30-10:00", "13:00-14:00"],
        MONDAY + timedelta(days=2): ["09:00-10:00"],
    }


def test_spring_forward_skips_a_start_that_does_not_exist():
    # 01:00 EST, then 02:00 (never happens), then 03:00 EDT: each slot a real hour.
    found = slots_on(SPRING_FORWARD, [(SUNDAY, time(1), time(4), 60)])
    assert found == [(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)), (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))]
    assert local_times(found) == ["01:00-03:00", "03:00-04:00"]


def test_spring_forward_slots_last_real_minutes_and_never_overlap():
    # 01:50 EST + 50 real minutes ends at 03:40 EDT; the next grid start, 03:30 EDT,
    # would overlap it and is dropped.
    found = slots_on(SPRING_FORWARD, [(SUNDAY, time(1), time(5), 50)])
    assert local_times(found) == ["01:00-01:50", "01:50-03:40"]
    assert all(e - s == timedelta(minutes=50) for s, e in found)


def test_fall_back_reads_a_repeated_time_as_its_first_occurrence():
    found = slots_on(FALL_BACK, [(SUNDAY, time(0), time(3), 60)])
    # 01:00 is the EDT one (05:00 UTC), not the EST one an hour later.
    assert found == [
        (utc(2026, 11, 1, 4), utc(2026, 11, 1, 5)),
        (utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)),
        (utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)),
    ]


def test_a_normal_day_after_a_dst_change_keeps_its_wall_clock_times():
    windows = [(0, time(9), time(10), 60)]
    assert slots_on(date(2026, 3, 2), windows) == [(utc(2026, 3, 2, 14), utc(2026, 3, 2, 15))]  # EST
    assert slots_on(date(2026, 3, 9), windows) == [(utc(2026, 3, 9, 13), utc(2026, 3, 9, 14))]  # EDT


def test_a_busy_interval_takes_out_the_slots_it_overlaps_but_not_ones_it_touches():
    windows = [(0, time(9), time(13), 60)]
    busy = [
        (local(MONDAY, 9, 30), local(MONDAY, 10, 20)),  # overlaps 09:00 and 10:00
        (local(MONDAY, 11).astimezone(UTC) - timedelta(hours=1), local(MONDAY, 11)),  # exactly 10:00-11:00, in UTC
        (local(MONDAY, 13), local(MONDAY, 14)),  # touches the last slot's end
    ]
    assert local_times(slots_on(MONDAY, windows, busy=busy)) == ["11:00-12:00", "12:00-13:00"]


def test_a_long_busy_interval_hides_every_slot_inside_it():
    windows = [(0, time(9), time(17), 50)]
    busy = [(local(MONDAY, 8), local(MONDAY, 18)), (local(MONDAY, 10), local(MONDAY, 10, 5))]
    assert slots_on(MONDAY, windows, busy=busy) == []


def test_no_slot_starts_sooner_than_the_lead_time():
    windows = [(0, time(9), time(12), 60)]
    now = local(MONDAY, 7)
    assert local_times(slots_on(MONDAY, windows, now=now, lead=timedelta(hours=2))) == [
        "09:00-10:00",
        "10:00-11:00",
        "11:00-12:00",
    ]
    assert local_times(slots_on(MONDAY, windows, now=now, lead=timedelta(hours=2, minutes=1))) == [
        "10:00-11:00",
        "11:00-12:00",
    ]
    # The default lead is 12 hours: nothing today from 07:00.
    assert open_slots(windows=windows, busy=[], zone=NY, start=MONDAY, days=1, now=now) == []


def test_no_days_or_no_windows_give_no_slots():
    assert slots_on(MONDAY, [(0, time(9), time(12), 50)], days=0) == []
    assert slots_on(MONDAY, [], days=14) == []


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="aware"):
        open_slots(windows=[], busy=[], zone=NY, start=MONDAY, days=1, now=datetime(2026, 7, 6, 9))
    with pytest.raises(ValueError, match="session_minutes"):
        slots_on(MONDAY, [(0, time(9), time(12), 0)])


def test_by_local_date_lists_every_day_and_converts_to_local_time():
    found = slots_on(MONDAY, [(0, time(23), time(23, 59), 50)])
    grouped = by_local_date(found, zone=NY, start=MONDAY, days=2)
    assert list(grouped) == [MONDAY, MONDAY + timedelta(days=1)]
    [(start, end)] = grouped[MONDAY]
    assert (start.tzinfo, start.hour, end.hour, end.minute) == (NY, 23, 23, 50)
    assert grouped[MONDAY + timedelta(days=1)] == []


# Zones with DST at 02:00, at midnight (Santiago), by 30 minutes (Lord Howe), and none.
ZONES = ["America/New_York", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


# Everything but the windows: a zone, a first day and a span, sessions already
# booked (minutes from the first local midnight, and a length), now and the lead.
SCENARIO = {
    "zone_name": st.sampled_from(ZONES),
    "first": st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    "days": st.integers(min_value=0, max_value=14),
    "busy_spec": st.lists(
        st.tuples(st.integers(min_value=-24 * 60, max_value=15 * 24 * 60), st.integers(min_value=1, max_value=600)),
        max_size=8,
    ),
    "now_offset": st.integers(min_value=-2 * 24 * 60, max_value=3 * 24 * 60),
    "lead_minutes": st.integers(min_value=0, max_value=48 * 60),
}


def _scenario(zone_name, first, windows, busy_spec, now_offset, lead_minutes):
    # The Availability service refuses overlapping windows of one weekday.
    for a, b in itertools.combinations(windows, 2):
        assume(a.weekday != b.weekday or a.end_time <= b.start_time or b.end_time <= a.start_time)
    zone = ZoneInfo(zone_name)
    origin = datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC)
    busy = [(origin + timedelta(minutes=m), origin + timedelta(minutes=m + length)) for m, length in busy_spec]
    return zone, busy, origin + timedelta(minutes=now_offset), timedelta(minutes=lead_minutes)


@st.composite
def a_window(draw) -> Window:
    start = draw(st.integers(min_value=0, max_value=24 * 60 - 16))
    end = draw(st.integers(min_value=start + 1, max_value=24 * 60 - 1))
    return Window(
        draw(st.integers(min_value=0, max_value=6)),
        time(start // 60, start % 60),
        time(end // 60, end % 60),
        draw(st.integers(min_value=15, max_value=240)),
    )


@settings(max_examples=300, deadline=None)
@given(windows=st.lists(a_window(), max_size=4), **SCENARIO)
def test_every_slot_is_inside_a_window_free_after_the_lead_sorted_and_disjoint(
    zone_name, first, days, windows, busy_spec, now_offset, lead_minutes
):
    zone, busy, now, lead = _scenario(zone_name, first, windows, busy_spec, now_offset, lead_minutes)

    found = open_slots(windows=windows, busy=busy, zone=zone, start=first, days=days, now=now, lead=lead)

    for start, end in found:
        assert start.tzinfo is UTC and end.tzinfo is UTC
        assert start >= now + lead
        assert not any(start < b_end and b_start < end for b_start, b_end in busy)
        wall = start.astimezone(zone).replace(tzinfo=None)
        assert first <= wall.date() < first + timedelta(days=days)
        # Inside a window of that weekday: on its wall-clock grid, real length, ending by its end.
        assert any(
            w.weekday == wall.weekday()
            and w.start_time <= wall.time() < w.end_time
            and (wall - datetime.combine(wall.date(), w.start_time)) % timedelta(minutes=w.session_minutes)
            == timedelta(0)
            and end - start == timedelta(minutes=w.session_minutes)
            and end <= datetime.combine(wall.date(), w.end_time, tzinfo=zone).astimezone(UTC)
            # The start is the first occurrence of that wall time.
            and start == datetime.combine(wall.date(), wall.time(), tzinfo=zone).astimezone(UTC)
            for w in windows
        ), (start, end)
    for (_, end), (next_start, _) in zip(found, found[1:], strict=False):
        assert end <= next_start


@settings(max_examples=100, deadline=None)
@given(
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    days=st.integers(min_value=0, max_value=14),
    window=a_window(),
)
def test_without_dst_busy_time_or_lead_every_whole_slot_of_a_window_is_offered(first, days, window):
    zone = ZoneInfo("UTC")
    now = datetime.combine(first, time.min, tzinfo=UTC) - timedelta(days=1)
    found = open_slots(windows=[window], busy=[], zone=zone, start=first, days=days, now=now, lead=NO_LEAD)
    length = datetime.combine(first, window.end_time) - datetime.combine(first, window.start_time)
    per_day = length // timedelta(minutes=window.session_minutes)
    matching_days = sum((first + timedelta(days=i)).weekday() == window.weekday for i in range(days))
    assert len(found) == per_day * matching_days


# ------------------------------------------------ session, buffer and grid apart


def test_fifty_minute_sessions_with_a_buffer_start_on_the_hour_not_at_odd_minutes():
    found = slots_on(MONDAY, [Window(0, time(9), time(13), 50, 10, 30)])
    assert local_times(found) == ["09:00-09:50", "10:00-10:50", "11:00-11:50", "12:00-12:50"]


def test_a_window_starting_off_the_grid_offers_its_first_grid_time():
    found = slots_on(MONDAY, [Window(0, time(9, 10), time(11), 45, 0, 30)])
    assert local_times(found) == ["09:30-10:15"]


def test_a_quarter_hour_grid_without_buffer_packs_sessions_as_the_grid_allows():
    found = slots_on(MONDAY, [Window(0, time(9), time(12), 50, 0, 15)])
    assert local_times(found) == ["09:00-09:50", "10:00-10:50", "11:00-11:50"]
    found = slots_on(MONDAY, [Window(0, time(9), time(12), 45, 0, 15)])
    assert local_times(found) == ["09:00-09:45", "09:45-10:30", "10:30-11:15", "11:15-12:00"]


def test_a_booking_at_an_odd_time_keeps_the_buffer_on_both_sides():
    # Staff booked 10:05-10:55 by hand; a 10-minute buffer keeps 09:00 (ends 09:50 < 09:55)
    # and the next offer is the first half hour at least 10 minutes after 10:55: 11:30.
    windows = [Window(0, time(9), time(13), 50, 10, 30)]
    busy = [(local(MONDAY, 10, 5), local(MONDAY, 10, 55))]
    assert local_times(slots_on(MONDAY, windows, busy=busy)) == ["09:00-09:50", "11:30-12:20"]


def test_a_grid_that_does_not_divide_a_day_is_refused():
    with pytest.raises(ValueError, match="grid_minutes"):
        slots_on(MONDAY, [Window(0, time(9), time(12), 50, 0, 7)])


def test_the_grid_holds_in_local_time_across_a_dst_change():
    window = Window(SUNDAY, time(0), time(6), 50, 10, 30)
    for day in (SPRING_FORWARD, FALL_BACK):
        found = slots_on(day, [window])
        assert found, day
        for start, end in found:
            assert start.astimezone(NY).minute in (0, 30)
            assert end - start == timedelta(minutes=50)


GRIDS = [15, 30, 60]


@st.composite
def a_gridded_window(draw) -> Window:
    start = draw(st.integers(min_value=0, max_value=24 * 60 - 16))
    end = draw(st.integers(min_value=start + 1, max_value=24 * 60 - 1))
    return Window(
        draw(st.integers(min_value=0, max_value=6)),
        time(start // 60, start % 60),
        time(end // 60, end % 60),
        draw(st.integers(min_value=15, max_value=240)),
        draw(st.integers(min_value=0, max_value=120)),
        draw(st.sampled_from(GRIDS)),
    )


@settings(max_examples=300, deadline=None)
@given(windows=st.lists(a_gridded_window(), max_size=4), **SCENARIO)
def test_every_offered_start_is_on_the_grid_in_local_time_and_sessions_keep_the_buffer(
    zone_name, first, days, windows, busy_spec, now_offset, lead_minutes
):
    zone, busy, now, lead = _scenario(zone_name, first, windows, busy_spec, now_offset, lead_minutes)

    found = open_slots(windows=windows, busy=busy, zone=zone, start=first, days=days, now=now, lead=lead)

    def window_of(start, end):
        wall = start.astimezone(zone).replace(tzinfo=None)
        for w in windows:
            minutes = wall.hour * 60 + wall.minute
            if (
                w.weekday == wall.weekday()
                and w.start_time <= wall.time() < w.end_time
                and minutes % w.grid_minutes == 0
                and wall.second == 0
                and end - start == timedelta(minutes=w.session_minutes)
                and end <= datetime.combine(wall.date(), w.end_time, tzinfo=zone).astimezone(UTC)
                and start == datetime.combine(wall.date(), wall.time(), tzinfo=zone).astimezone(UTC)
            ):
                return w
        return None

    previous = None
    for start, end in found:
        assert start >= now + lead
        window = window_of(start, end)
        assert window is not None, (start, end)
        buffer = timedelta(minutes=window.buffer_minutes)
        # A booked session and an offered one leave the buffer between them.
        assert not any(start - buffer < b_end and b_start < end + buffer for b_start, b_end in busy)
        # So do two offered sessions one after the other.
        if previous is not None:
            assert start >= previous[1] + previous[2]
        previous = (start, end, buffer)
