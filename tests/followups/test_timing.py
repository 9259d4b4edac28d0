from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from followups.timing import in_quiet_hours, next_sendable, retry_delay

NY = ZoneInfo("America/New_York")
NIGHT = {"quiet_start": time(20, 0), "quiet_end": time(8, 0)}


def test_a_message_due_at_night_waits_for_the_morning():
    due = datetime(2026, 6, 10, 23, 30, tzinfo=NY)
    assert next_sendable(due, zone=NY, **NIGHT) == datetime(2026, 6, 11, 8, 0, tzinfo=NY)
    early = datetime(2026, 6, 10, 6, 0, tzinfo=NY)
    assert next_sendable(early, zone=NY, **NIGHT) == datetime(2026, 6, 10, 8, 0, tzinfo=NY)


def test_a_message_due_in_the_day_goes_then():
    due = datetime(2026, 6, 10, 14, 0, tzinfo=NY)
    assert next_sendable(due, zone=NY, **NIGHT) == due


def test_quiet_hours_within_one_day():
    assert in_quiet_hours(datetime(2026, 6, 10, 13, 0, tzinfo=NY), quiet_start=time(12), quiet_end=time(14), zone=NY)
    assert not in_quiet_hours(
        datetime(2026, 6, 10, 14, 0, tzinfo=NY), quiet_start=time(12), quiet_end=time(14), zone=NY
    )


def test_the_night_the_clocks_change():
    # 2026-11-01: 01:30 happens twice in New York; 23:00 the night before waits until 08:00 EST.
    due = datetime(2026, 10, 31, 23, 0, tzinfo=NY)
    assert next_sendable(due, zone=NY, **NIGHT).astimezone(UTC) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


def test_backoff_grows_and_is_capped():
    assert [retry_delay(n) for n in (1, 2, 3)] == [timedelta(minutes=1), timedelta(minutes=4), timedelta(minutes=16)]
    assert retry_delay(9) == timedelta(hours=4)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(sorted(available_timezones())).map(ZoneInfo),
    due=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_the_send_time_is_never_early_never_quiet_and_within_a_day(zone, due, start, end):
    quiet = {"quiet_start": time(start), "quiet_end": time(end), "zone": zone}
    send = next_sendable(due, **quiet)
    assert send >= due
    assert send - due <= timedelta(hours=26)
    assert not in_quiet_hours(send, **quiet)
