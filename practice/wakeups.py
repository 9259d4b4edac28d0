"""One wake-up per burst: a flag in the shared cache says "a wake-up for this work is queued, not yet started".

A burst of marks used to queue two Celery tasks per mark; the first of each kind took
the waiting rows in a batch and the rest woke up to find theirs done (45% of the
workers' time in the pipeline bench, issue 11). Now:

1. A change that needs a worker commits its row, then `wake(key, func, *args)`:
   `cache.add(key)` (atomic in Redis); only the caller that sets the flag
   publishes. The others skip: a wake-up is already queued.
2. The task clears the flag (`taken(key)`) *before* it claims rows. A row
   committed before the clear is seen by that claim; a row committed after it
   finds no flag and queues a new wake-up. So no row waits for a wake-up that
   will not come.
3. A task whose batch came back full wakes again (through the flag).

The row stays the truth: the flag only decides whether a wake-up is worth
sending. It is never trusted where it cannot be: with a per-process cache
(locmem: tests, the demo) or a cache that fails, every caller publishes, as
before. A flag whose wake-up was lost (a broker that dropped it) expires after
WAKE_TTL_SECONDS, and the minute sweeps reach every row whatever happens.
"""

import logging

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

log = logging.getLogger(__name__)

# Long enough to cover a queued wake-up's wait in a busy queue, short enough that a lost one
# costs seconds: after it, the next change queues a fresh wake-up.
WAKE_TTL_SECONDS = 5


def _shared() -> bool:
    """Whether every process (web and workers) sees the same flag."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _key(key: str) -> str:
    # Per queue: two deployments (or test runs) on one Redis have their own workers.
    return f"wake:{settings.CELERY_TASK_DEFAULT_QUEUE}:{key}"


def wake(key: str, func, *args) -> bool:
    """Call `func(*args)` (publish a wake-up) unless one for `key` is queued and not yet started.

    Returns whether it published. Raises what `func` raises (the caller's
    on_commit_robust logs it); the flag is then cleared, so the next change tries again.
    """
    if not _shared():
        func(*args)
        return True
    try:
        first = caches["default"].add(_key(key), 1, WAKE_TTL_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the cache is down: publish, as without a flag
        log.warning("wake-up flag unavailable, waking anyway: %s", type(exc).__name__)
        first = True
    if not first:
        return False
    try:
        func(*args)
    except Exception:
        taken(key)
        raise
    return True


def taken(key: str) -> None:
    """A task for `key` has started: from now on a new row needs a new wake-up. Call it before claiming."""
    if not _shared():
        return
    try:
        caches["default"].delete(_key(key))
    except Exception as exc:  # noqa: BLE001 - a flag left behind only expires (WAKE_TTL_SECONDS)
        log.warning("wake-up flag not cleared: %s", type(exc).__name__)
