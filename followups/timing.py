"""When a message may go out: pure functions, no ORM, no clock."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(moment: datetime, *, quiet_start: time, quiet_end: time, zone: ZoneInfo) -> bool:
    """Whether `moment` falls in the quiet hours (which may wrap past midnight)."""
    local = moment.astimezone(zone).time()
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= local < quiet_end
    return local >= quiet_start or local < quiet_end


def next_sendable(moment: datetime, *, quiet_start: time, quiet_end: time, zone: ZoneInfo) -> datetime:
    """`moment` itself, or the end of the quiet hours it falls in (the next morning).

    1. Outside quiet hours: send at `moment`.
    2. Inside: the first local date on or after `moment`'s local date whose
       `quiet_end` lies after `moment` is the morning it waits for.
    3. A morning time the clocks skip resolves forward by the gap
       (zoneinfo's fold=0 reading), which is still morning.
    """
    if not in_quiet_hours(moment, quiet_start=quiet_start, quiet_end=quiet_end, zone=zone):
        return moment
    local = moment.astimezone(zone)
    for extra_days in range(3):
        morning = datetime.combine(local.date() + timedelta(days=extra_days), quiet_end, tzinfo=zone)
        if morning > moment:
            return morning.astimezone(ZoneInfo("UTC"))
    raise AssertionError("unreachable: a quiet period ends within a day")


def retry_delay(attempts: int) -> timedelta:
    """Backoff after a transient failure: 1, 4, 16, 64 minutes… capped at 4 hours."""
    return timedelta(minutes=min(4 ** max(attempts - 1, 0), 240))


# A reminder due in quiet hours goes this long before they begin, the evening before.
EVENING_LEAD = timedelta(minutes=30)


def evening_before(moment: datetime, *, quiet_start: time, quiet_end: time, zone: ZoneInfo) -> datetime:
    """`moment` itself, or, inside quiet hours, EVENING_LEAD before the quiet period it falls in began.

    A reminder never moves later (towards the session), only earlier.
    """
    if not in_quiet_hours(moment, quiet_start=quiet_start, quiet_end=quiet_end, zone=zone):
        return moment
    local = moment.astimezone(zone)
    began = datetime.combine(local.date(), quiet_start, tzinfo=zone)
    if began > moment:
        began = datetime.combine(local.date() - timedelta(days=1), quiet_start, tzinfo=zone)
    return (began - EVENING_LEAD).astimezone(ZoneInfo("UTC"))


def latest_due_reminder_time(now: datetime, *, quiet_start: time, quiet_end: time, zone: ZoneInfo) -> datetime:
    """The latest reminder time ("N hours before") whose message is due by `now` (see evening_before).

    From EVENING_LEAD before quiet hours until they end, every reminder time
    inside them is due (it was moved to the evening); otherwise only times up to now.
    """
    quiet = {"quiet_start": quiet_start, "quiet_end": quiet_end, "zone": zone}
    for moment in (now + EVENING_LEAD, now):
        if in_quiet_hours(moment, **quiet):
            return next_sendable(moment, **quiet)
    return now
