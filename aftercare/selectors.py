"""Reads for the pages clients open from a link, without signing in.

`rebook_page_read` is hand-written SQL, on purpose: GET /r/<token>/ is the hottest anonymous page
(every follow-up carries its link; mail scanners open it before people do), and issue 11 asks it
to answer at least 3x the requests per second of django-appointment's open-times endpoint. Three
ORM queries were about half of its time, half of that Django compiling SQL and building rows
(bench/results/rebooking-*.md, docs/decisions.md "rebook"). One parametrized statement, one
round trip, no compile (on PostgreSQL prepared once per connection, `_execute`), and the same
answers as the ORM path (the reference implementation in tests/aftercare/test_rebook_page_read.py
checks that over generated cases, on SQLite and PostgreSQL). Every other read stays in the ORM.
"""

import json
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.db import NotSupportedError, ProgrammingError, connection

from appointments.models import Appointment, Availability, Client, NoShowEvent
from appointments.slots import Window
from followups.models import ClientLink
from practice.models import Membership, Practice

# The rows the page builds, with the alias each has in the statement.
_MODELS = (("l", ClientLink), ("e", NoShowEvent), ("a", Appointment), ("p", Practice), ("c", Client))


class _WindowRow(NamedTuple):
    """A window as stored, for `Availability.effective` (the model's own rule for the defaults)."""

    weekday: int
    start_time: time
    end_time: time
    session_minutes: int | None
    buffer_minutes: int | None
    grid_minutes: int | None


@dataclass(frozen=True)
class RebookPage:
    """What GET /r/<token>/ needs. `link.missed_session.appointment` is the missed session, with
    its `practice` and `client` loaded (full rows, so no later attribute read is a query)."""

    link: ClientLink
    rebooked: bool  # a make-up that holds time exists (rescheduled_from = the missed session)
    clinician_id: int  # whom a make-up is with (aftercare.services.rebook_clinician's rule)
    windows: list[Window]  # their weekly windows with the practice's defaults, none unless an active member
    busy: list[tuple[datetime, datetime]]  # their sessions holding time, ending after `now`

    @property
    def missed(self) -> Appointment:
        return self.link.missed_session.appointment


@cache
def _statement(vendor: str) -> tuple[str, list]:
    """The SQL for this database, and the converters of the model columns it selects.

    Column lists come from the models' fields, so a new column is read without editing the SQL.
    JSON arrays carry the windows and the booked sessions; the functions differ by name only.
    """
    array, aggregate = (
        ("json_build_array", "json_agg") if vendor == "postgresql" else ("json_array", "json_group_array")
    )
    columns, converters = [], []
    for alias, model in _MODELS:
        for field in model._meta.concrete_fields:
            columns.append(f'{alias}."{field.column}"')
            expression = field.get_col(alias)
            found = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
            converters.append([(converter, expression) for converter in found])
    t = {
        "link": ClientLink._meta.db_table,
        "event": NoShowEvent._meta.db_table,
        "appt": Appointment._meta.db_table,
        "practice": Practice._meta.db_table,
        "client": Client._meta.db_table,
        "member": Membership._meta.db_table,
        "window": Availability._meta.db_table,
    }
    holding = ", ".join(["%s"] * len(Appointment.BLOCKING_STATUSES))
    sql = f"""
WITH hit AS (
    SELECT {", ".join(f"{column} AS x{n}" for n, column in enumerate(columns))},
        a."practice_id" AS practice_id,
        EXISTS (SELECT 1 FROM "{t["appt"]}" r
                WHERE r."rescheduled_from_id" = a."id" AND r."status" IN ({holding})) AS rebooked,
        CASE WHEN EXISTS (SELECT 1 FROM "{t["member"]}" m
                          WHERE m."user_id" = a."clinician_id" AND m."practice_id" = a."practice_id"
                            AND m."is_active")
             THEN a."clinician_id" ELSE c."clinician_id" END AS clinician_id
    FROM "{t["link"]}" l
    JOIN "{t["event"]}" e ON e."id" = l."missed_session_id"
    JOIN "{t["appt"]}" a ON a."id" = e."appointment_id"
    JOIN "{t["practice"]}" p ON p."id" = a."practice_id"
    JOIN "{t["client"]}" c ON c."id" = a."client_id"
    WHERE l."token_hash" = %s AND l."purpose" = %s
)
SELECT hit.*,
    (SELECT {aggregate}({array}(w."weekday", w."start_time", w."end_time",
                                 w."session_minutes", w."buffer_minutes", w."grid_minutes"))
     FROM "{t["window"]}" w
     WHERE w."practice_id" = hit.practice_id AND w."clinician_id" = hit.clinician_id
       AND EXISTS (SELECT 1 FROM "{t["member"]}" m
                   WHERE m."user_id" = w."clinician_id" AND m."practice_id" = w."practice_id"
                     AND m."is_active")) AS windows,
    (SELECT {aggregate}({array}(b."start", b."end"))
     FROM "{t["appt"]}" b
     WHERE b."clinician_id" = hit.clinician_id AND b."status" IN ({holding})
       AND b."start" < %s AND b."end" > %s) AS busy
FROM hit
"""  # noqa: S608 - only the models' own table and column names are formatted in; every value is a parameter
    return sql, converters


# Connections (psycopg's, which Django replaces on reconnecting) that hold the statement prepared.
_PREPARED_ON: "weakref.WeakSet" = weakref.WeakSet()
_PREPARED_NAME = "reconnect_rebook_page"


def _execute(cursor, sql: str, params: list) -> None:
    """Run the statement; on PostgreSQL, outside a transaction, as a statement prepared once per connection.

    PostgreSQL spent ~1 ms planning it on every request, more than running it (0.3 ms) and most of
    the page's database CPU (bench/rebooking.py, docs/decisions.md "session 7"). Prepared, it is
    planned on its first executions and then, once PostgreSQL finds its generic plan no dearer, not
    again (tests/aftercare/test_rebook_prepared.py holds that plan to the indexes the page needs:
    the link's unique hash, the clinician's sessions by start). It is sent through Django's own
    cursor, so it is logged, counted and wrapped like any query. Not inside a transaction (a
    failed EXECUTE would abort it) and not with DATABASE_PREPARED_STATEMENTS=false, for a pooler
    in transaction mode that does not keep a connection's prepared statements (docs/operations.md).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or not settings.DATABASE_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    raw = connection.connection
    if raw not in _PREPARED_ON:
        cursor.execute(f"PREPARE {_PREPARED_NAME} AS {_numbered(sql)}")
        _PREPARED_ON.add(raw)
    placeholders = ", ".join(["%s"] * len(params))
    try:
        cursor.execute(f"EXECUTE {_PREPARED_NAME} ({placeholders})", params)
    except (ProgrammingError, NotSupportedError):
        # Prepared, then gone (a DISCARD ALL, a pooler handing over another connection), or its
        # result type changed under it (a migration): prepare again, once. In autocommit (outside a
        # transaction) the failed EXECUTE changed nothing.
        _PREPARED_ON.discard(raw)
        if _is_prepared(cursor):
            cursor.execute(f"DEALLOCATE PREPARE {_PREPARED_NAME}")
        cursor.execute(f"PREPARE {_PREPARED_NAME} AS {_numbered(sql)}")
        _PREPARED_ON.add(raw)
        cursor.execute(f"EXECUTE {_PREPARED_NAME} ({placeholders})", params)


def _is_prepared(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [_PREPARED_NAME])
    return cursor.fetchone() is not None


@cache
def _numbered(sql: str) -> str:
    """The statement's %s placeholders as PostgreSQL's $1, $2, ... (the statement has no other %)."""
    parts = sql.split("%s")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


def _json(value) -> list:
    # psycopg parses json itself; SQLite hands back text; json_agg of no rows is NULL.
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value


def _instant(text: str) -> datetime:
    # PostgreSQL writes "2026-06-09T13:00:00+00:00"; SQLite stores naive UTC "2026-06-09 13:00:00".
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def rebook_page_read(*, token_hash: str, now: datetime, days: int) -> RebookPage | None:
    """The rebooking link with this hash and everything its page shows, in one statement.

    1. The link (purpose rebook), its missed session, appointment, practice and client, by the
       unique index on the hash.
    2. Beside them: whether the miss was already made up (a session holding time with
       `rescheduled_from` = it), and whom a make-up is with: the missed session's clinician while
       an active member of the practice, else the client's clinician now.
    3. That clinician's weekly windows, only while an active member (as `open_slots_for`).
    4. That clinician's sessions holding time that end after `now` and start before `now + days + 2`
       days: a bound past the last local midnight of the offered range in any zone; the caller
       cuts at that midnight (appointments.selectors.open_slots_from), as the ORM path does.

    None for an unknown hash. Reads only, nothing locked: the POST reads and checks again under
    the link's lock (aftercare.services.client_reschedule).
    """
    sql, converters = _statement(connection.vendor)
    ops = connection.ops
    params = [
        *Appointment.BLOCKING_STATUSES,
        token_hash,
        ClientLink.Purpose.REBOOK,
        *Appointment.BLOCKING_STATUSES,
        ops.adapt_datetimefield_value(now + timedelta(days=days + 2)),
        ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for n, found in enumerate(converters):
        for converter, expression in found:
            values[n] = converter(values[n], expression, connection)
    instances, start = {}, 0
    for alias, model in _MODELS:
        fields = model._meta.concrete_fields
        instances[alias] = model.from_db(
            connection.alias, [f.attname for f in fields], values[start : start + len(fields)]
        )
        start += len(fields)
    link, event, missed = instances["l"], instances["e"], instances["a"]
    missed.practice = instances["p"]
    missed.client = instances["c"]
    event.appointment = missed
    link.missed_session = event
    rebooked, clinician_id, windows, busy = values[start + 1 :]
    rows = [
        _WindowRow(weekday, time.fromisoformat(start_time), time.fromisoformat(end_time), *minutes)
        for weekday, start_time, end_time, *minutes in _json(windows)
    ]
    return RebookPage(
        link=link,
        rebooked=bool(rebooked),
        clinician_id=clinician_id,
        windows=[
            Window(row.weekday, row.start_time, row.end_time, *Availability.effective(row, missed.practice))
            for row in rows
        ],
        busy=[(_instant(begins), _instant(ends)) for begins, ends in _json(busy)],
    )
