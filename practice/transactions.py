import logging
import time
from functools import partial, update_wrapper

from django.db import transaction

log = logging.getLogger(__name__)

# After a wake-up fails (the broker is down), this process leaves the next ones to the sweeps for
# this long. A publish to a broker that is down costs its request the retry policy's wait (about
# 0.2 s when refused, seconds when unreachable); paying it on every mark made marks 2x slower in
# an outage (bench/marking.py). A wake-up is never the only record of the work: the row is, and a
# sweep finds it. The first wake-up after the pause tries the broker again.
BROKER_PAUSE_SECONDS = 5.0
_paused_until = 0.0


def on_commit_robust(func, *args, swept: bool = True) -> None:
    """Call `func(*args)` once the transaction commits; log, never raise, if it fails.

    The change is saved either way: a broker that is down must not undo it or turn it
    into a 500, and the minute sweeps find the work the wake-up would have started.
    After a failure, wake-ups are skipped (logged) for BROKER_PAUSE_SECONDS in this process,
    so that a broker outage does not slow every request that enqueues; but only those a sweep
    finds (`swept=True`). A wake-up that is the only trigger of its work (`swept=False`: the
    clinician's notices) is always tried.
    Django names a failed robust callback by its `__qualname__`, which a bare `partial`
    lacks (the logging itself raised), hence `update_wrapper`.
    """
    transaction.on_commit(update_wrapper(partial(_wake, func, *args, swept=swept), func), robust=True)


def _wake(func, *args, swept: bool) -> None:
    global _paused_until
    if swept and time.monotonic() < _paused_until:
        log.warning("Broker paused after a failure: %s%s left to the sweeps.", func.__qualname__, args)
        return
    try:
        func(*args)
    except Exception:
        _paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
        raise


def broker_pause_reset() -> None:
    """Try the broker again at the next wake-up (tests; after a known recovery)."""
    global _paused_until
    _paused_until = 0.0
