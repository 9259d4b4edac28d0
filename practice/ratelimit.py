"""Counters for rate limits that keep working when the shared cache does not.

The shared cache is Redis in production, so every web process sees one
count. If Redis is down, a public page must not answer 500 (issue 8, fault 6):
the counter falls back to this process's own memory, which still limits one
address hammering one process, and says so once in the log.
"""

import logging

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

log = logging.getLogger(__name__)

_local = LocMemCache("reconnect-ratelimit-fallback", {"MAX_ENTRIES": 10_000})


def _shared_or_local(operation):
    try:
        return operation(cache)
    except Exception as exc:  # noqa: BLE001 - any cache failure: Redis down, timeout, refused
        log.warning("rate-limit cache unavailable, counting locally: %s", type(exc).__name__)
        return operation(_local)


def count(key: str) -> int:
    """How many hits `key` has in its current window."""
    return _shared_or_local(lambda store: store.get(key) or 0)


def hit(key: str, window_seconds: int) -> int:
    """Count one more hit for `key`; the window starts at the first hit."""

    def bump(store) -> int:
        if store.add(key, 1, window_seconds):
            return 1
        try:
            return store.incr(key)
        except ValueError:  # expired between add and incr
            store.set(key, 1, window_seconds)
            return 1

    return _shared_or_local(bump)
