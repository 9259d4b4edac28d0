"""Queries whose SQL is the same on every request but for a few ids: compiled by the ORM once per process.

Issue 11: on the client page, turning querysets into SQL cost more than running
them (the engagement strip's four subqueries, the seven parts of what the
client told us: about 3 and 5 ms of Python per request, the database 0.2 ms).
The queryset is still written with the ORM, in the selector that owns it. It is
built once with sentinel ids, compiled, and the SQL kept; each call then passes
its own ids in the sentinels' places. Only ids may vary: anything else that
changes between calls (a time, a user's choice) must not be built into such a
query. Compiling refuses a query whose sentinels do not all reach the
parameters (an id inlined into the SQL, or dropped).
"""

from collections.abc import Callable
from functools import cache

from django.db import connection
from django.db.models import Model, QuerySet

_SENTINEL_BASE = -7_310_000_000  # no real id or constant in our queries is near it


@cache
def _compiled(build: Callable[..., QuerySet], names: tuple[str, ...]) -> tuple[str, tuple, dict[int, str], dict]:
    sentinels = {name: _SENTINEL_BASE - n for n, name in enumerate(names)}
    compiler = build(**sentinels).query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    by_value = {value: name for name, value in sentinels.items()}
    used = {by_value[p] for p in params if isinstance(p, int) and p in by_value}
    if used != set(names) or any(str(value) in sql for value in sentinels.values()):
        raise ValueError(f"{build.__qualname__}: every id must reach the query's parameters")
    # Django's own converters for the selected columns, as a queryset applies them: on SQLite a
    # datetime comes back as text (an aware datetime only through its converter), a boolean as 0/1.
    converters = compiler.get_converters([column for column, _, _ in compiler.select[: compiler.col_count]])
    return sql, tuple(params), by_value, converters


def _sql(build: Callable[..., QuerySet], ids: dict[str, int]) -> tuple[str, list, dict]:
    sql, params, by_value, converters = _compiled(build, tuple(sorted(ids)))
    return sql, [ids[by_value[p]] if isinstance(p, int) and p in by_value else p for p in params], converters


def rows(build: Callable[..., QuerySet], **ids: int) -> list[tuple]:
    """The rows of `build(**ids)` (a values_list queryset), its SQL compiled once, converted as the ORM would."""
    sql, params, converters = _sql(build, ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    if not converters:
        return found
    converted = []
    for row in found:
        row = list(row)
        for position, (functions, expression) in converters.items():
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        converted.append(tuple(row))
    return converted


def instances(model: type[Model], build: Callable[..., QuerySet], **ids: int) -> list[Model]:
    """The model instances of `build(**ids)` (annotations become attributes), its SQL compiled once."""
    sql, params, _ = _sql(build, ids)  # a raw queryset converts the model's columns itself
    return list(model.objects.raw(sql, params))
