"""When a reminder goes: pure functions, no ORM."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from followups.timing import evening_before, latest_due_reminder_time

NY = ZoneInfo("America/New_York")
QUIET = {"quiet_start": time(20), "quiet_end": time(8), "zone": NY}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_a_daytime_reminder_keeps_its_time():
    assert evening_before(at(2026, 6, 10, 14, 0), **QUIET) == at(2026, 6, 10, 14, 0)


def test_after_midnight_goes_the_evening_before():
    assert evening_before(at(2026, 6, 11, 6, 0), **QUIET) == at(2026, 6, 10, 19, 30)


def test_before_midnight_goes_the_same_evening():
    assert evening_before(at(2026, 6, 10, 22, 0), **QUIET) == at(2026, 6, 10, 19, 30)


def test_a_quiet_period_that_does_not_wrap_midnight():
    lunch = {"quiet_start": time(12), "quiet_end": time(13), "zone": NY}
    assert evening_before(at(2026, 6, 10, 12, 30), **lunch) == at(2026, 6, 10, 11, 30)


def test_across_the_spring_change_of_clocks_the_evening_is_local():
    # 8 March 2026: clocks go forward at 02:00 in New York.
    assert evening_before(at(2026, 3, 8, 3, 0), **QUIET) == at(2026, 3, 7, 19, 30)


def test_no_quiet_hours_changes_nothing():
    none = {"quiet_start": time(0), "quiet_end": time(0), "zone": NY}
    moment = at(2026, 6, 11, 3, 0)
    assert evening_before(moment, **none) == moment
    assert latest_due_reminder_time(moment, **none) == moment


def test_from_the_evening_every_reminder_time_until_morning_is_due():
    assert latest_due_reminder_time(at(2026, 6, 10, 19, 29), **QUIET) == at(2026, 6, 10, 19, 29)
    assert latest_due_reminder_time(at(2026, 6, 10, 19, 30), **QUIET) == at(2026, 6, 11, 8, 0)
    assert latest_due_reminder_time(at(2026, 6, 11, 7, 45), **QUIET) == at(2026, 6, 11, 8, 0)
    assert latest_due_reminder_time(at(2026, 6, 11, 9, 0), **QUIET) == at(2026, 6, 11, 9, 0)


def test_a_due_reminder_is_never_after_its_time():
    start = at(2026, 6, 10, 0, 0)
    for minutes in range(0, 48 * 60, 7):
        moment = start + timedelta(minutes=minutes)
        assert evening_before(moment, **QUIET) <= moment
