"""The waitlist's row locks take only the rows meant, weakly (PostgreSQL only: SQLite has no row locks)."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from waitlist import services

from .helpers import cancelled_slot, quiet_hours_off, send_offers, waiting_clients

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="row locks need PostgreSQL"
    ),
]


def _locks(queries) -> list[str]:
    return [q["sql"] for q in queries if re.search(r" FOR (NO KEY )?UPDATE", q["sql"])]


def test_advancing_and_accepting_lock_narrowly(practice, therapist):
    quiet_hours_off(practice)
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist)
    with CaptureQueriesContext(connection) as advance:
        assert services.slot_advance(slot_id=slot.pk) == 2
    [token, _] = send_offers().values()
    with CaptureQueriesContext(connection) as accept:
        assert services.offer_accept(token=token).state == "booked"
    for sql in _locks(advance.captured_queries) + _locks(accept.captured_queries):
        tail = sql.rsplit(" FOR ", 1)[1]
        if '"followups_clientlink"' in tail:
            continue  # client_link_find's lock, shared with every link page
        assert tail.startswith("NO KEY UPDATE"), sql
        if " JOIN " in sql:
            assert re.search(r"\bOF\b", tail), sql
    assert any("SKIP LOCKED" in sql for sql in _locks(advance.captured_queries))
