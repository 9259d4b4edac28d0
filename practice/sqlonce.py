"""Queries whose SQL is the same on every request but for a few values: compiled by the ORM once per process.

Issue 11: on the client page, turning querysets into SQL cost more than running
them (the engagement strip's four subqueries, the seven parts of what the
client told us: about 3 and 5 ms of Python per request, the database 0.2 ms).
The queryset is still written with the ORM, in the selector that owns it. It is
built with sentinel values, compiled, and the SQL kept; each call then passes
its own values in the sentinels' places.

What may vary between calls, and how:
- `**values`: ids (int), text (str) and aware datetimes. Each must reach the
  query's parameters as itself, or, for a datetime, shifted by a fixed amount
  (`now - timedelta(days=90)` is `now`'s parameter minus 90 days).
- A tuple of ids, for `pk__in=ids` (the related rows of a page, read by their
  ids instead of joined: PostgreSQL plans a join of six tables in ~2 ms, a
  table read by ids in ~0.1). It is padded to a size of a few fixed ones by
  repeating its last id, which changes nothing for IN, so that the SQL is
  compiled once per size; every one of its places must reach the parameters.
- `*shape`: anything that changes the query's structure (a role, which
  filters are on). It is part of the cache key, so it must come from a small
  fixed set, never from what a request sends.
- `limit`/`offset`: a page of a query that has no slice of its own; added to
  the SQL as parameters (Django writes a slice's numbers into the SQL).

Compiling builds the query twice, with two different sets of sentinels, and
refuses it (ValueError) unless the SQL is the same both times (no value was
written into the SQL) and every parameter that differs is one of the values,
as itself or shifted by the same amount in both builds (so `now` rounded to the
day, or an id turned into text, is refused, not replayed wrongly), and every
value reaches at least one parameter (a value the query dropped is a bug in
the selector, e.g. a scope that does not apply), but those named in
`may_ignore`: a value some shapes use and others do not (a clinician's own
id, which an admin's query has no use for). Ignoring a value is never a wrong
answer for another value: the SQL and its parameters do not depend on it.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

from django.db import connection, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql import UpdateQuery

_SENTINEL_BASE = -7_310_000_000  # no real id or constant in our queries is near it
# Two builds: their datetimes differ by an amount no rounding keeps (a day, an hour, a minute,
# a second and a microsecond), and are far from any constant or real time.
_TIME_A = datetime(2101, 3, 5, 7, 11, 13, 170_000, tzinfo=UTC)
_TIME_STEP = timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1)
_KINDS = {int: "int", str: "str", datetime: "datetime"}
_IDS_SIZES = (8, 64, 512)  # a tuple of ids is padded to the first that holds it
_IDS_STEP = 100_000  # its sentinels: far from the others (which step by 1 and 1000)


def _plain(value):
    """An id, text, aware datetime or tuple of ids as its plain type (a TextChoices member is its text);
    a tuple of ids padded to one of _IDS_SIZES."""
    if isinstance(value, tuple):
        ids = tuple(_plain(item) for item in value)
        if not ids or not all(type(item) is int for item in ids):
            raise TypeError("sqlonce takes a tuple of ids only with at least one id, and only ids")
        size = next((size for size in _IDS_SIZES if size >= len(ids)), None)
        if size is None:
            raise ValueError(f"sqlonce takes at most {_IDS_SIZES[-1]} ids, not {len(ids)}")
        return ids + (ids[-1],) * (size - len(ids))
    if isinstance(value, bool):
        raise TypeError("sqlonce values are ids, text or aware datetimes, not bool (a bool is a shape)")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)
    if type(value) is datetime and value.tzinfo is not None:
        return value
    raise TypeError(f"sqlonce values are ids, text or aware datetimes, not {value!r}")


def _kind(value) -> str:
    """A plain value's kind: int, str, datetime, or ids<size> for a padded tuple of ids."""
    return f"ids{len(value)}" if isinstance(value, tuple) else _KINDS[type(value)]


def _sentinels(names: tuple[str, ...], kinds: tuple[str, ...], build: int) -> dict:
    sentinels = {}
    for n, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind.startswith("ids"):
            base = _SENTINEL_BASE - 1000 * build - n
            sentinels[name] = tuple(base - _IDS_STEP * (i + 1) for i in range(int(kind[3:])))
        elif kind == "int":
            sentinels[name] = _SENTINEL_BASE - 1000 * build - n
        elif kind == "str":
            sentinels[name] = f"sqlonce-{build}-{n}"
        else:
            sentinels[name] = _TIME_A + build * _TIME_STEP + timedelta(days=400 * n)
    return sentinels


def _adapt(value: datetime):
    """A datetime as the database's parameters carry it (text on SQLite, the datetime on PostgreSQL)."""
    return connection.ops.adapt_datetimefield_value(value)


def _source(a, b, sentinels_a: dict, sentinels_b: dict, kinds: dict) -> tuple[str, timedelta | int | None] | None:
    """Which value a parameter that differs between the two builds is (its name, and a datetime's shift
    or the place in a tuple of ids)."""
    for name, sentinel_a in sentinels_a.items():
        sentinel_b = sentinels_b[name]
        if kinds[name].startswith("ids"):
            if isinstance(a, int) and a in sentinel_a and b == sentinel_b[sentinel_a.index(a)]:
                return name, sentinel_a.index(a)
            continue
        if kinds[name] != "datetime":
            # isinstance: psycopg's Int8 (a BigIntegerField's parameter) is an int too, as before.
            if isinstance(a, type(sentinel_a)) and a == sentinel_a and b == sentinel_b:
                return name, None
            continue
        if isinstance(a, datetime) and a.tzinfo is not None:
            shift = a - sentinel_a
        elif isinstance(a, str):
            try:
                shift = datetime.fromisoformat(a).replace(tzinfo=UTC) - sentinel_a
            except ValueError:
                continue
        else:
            continue
        if abs(shift) < timedelta(days=200) and _adapt(sentinel_a + shift) == a and _adapt(sentinel_b + shift) == b:
            return name, shift
    return None


def _sources(build, built_a: tuple, built_b: tuple, names: tuple, kinds: tuple, may_ignore: tuple) -> dict:
    """Which value each varying parameter is, from the two builds' (sql, params, sentinels); refused
    (ValueError) unless the SQL is the same and every value reaches the parameters as itself."""
    (sql, params, sentinels_a), (sql_b, params_b, sentinels_b) = built_a, built_b
    kind_of = dict(zip(names, kinds, strict=True))
    refused = f"{build.__qualname__}: every value must reach the query's parameters as itself"
    if sql != sql_b or len(params) != len(params_b):
        raise ValueError(f"{refused} (a value was written into the SQL)")
    sources = {}
    for position, (a, b) in enumerate(zip(params, params_b, strict=True)):
        if a == b and type(a) is type(b):
            continue  # a constant of the query
        source = _source(a, b, sentinels_a, sentinels_b, kind_of)
        if source is None:
            raise ValueError(f"{refused} (parameter {position} is derived from one in another way)")
        sources[position] = source
    if set(names) - {name for name, _ in sources.values()} - set(may_ignore):
        raise ValueError(f"{refused} (a value does not reach it)")
    for name, kind in kind_of.items():
        if kind.startswith("ids") and len({place for n, place in sources.values() if n == name}) != int(kind[3:]):
            raise ValueError(f"{refused} (not every place of the ids {name!r} does)")
    return sources


@cache
def _compiled(
    build: Callable[..., QuerySet],
    shape: tuple,
    names: tuple[str, ...],
    kinds: tuple[str, ...],
    paged: bool,
    may_ignore: tuple[str, ...],
):
    sentinels_a, sentinels_b = _sentinels(names, kinds, 0), _sentinels(names, kinds, 1)
    query_a, query_b = build(*shape, **sentinels_a).query, build(*shape, **sentinels_b).query
    compiler = query_a.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    sql_b, params_b = query_b.get_compiler(connection=connection).as_sql()
    sources = _sources(build, (sql, params, sentinels_a), (sql_b, params_b, sentinels_b), names, kinds, may_ignore)
    if paged:
        if query_a.low_mark or query_a.high_mark is not None:
            raise ValueError(f"{build.__qualname__}: a paged query must not be sliced itself")
        sql += " LIMIT %s OFFSET %s"
    # Django's own converters for the selected columns, as a queryset applies them: on SQLite a
    # datetime comes back as text (an aware datetime only through its converter), a boolean as 0/1.
    converters = compiler.get_converters([column for column, _, _ in compiler.select[: compiler.col_count]])
    return sql, tuple(params), sources, converters, compiler


def _sql(
    build: Callable[..., QuerySet],
    shape: tuple,
    values: dict,
    page: tuple[int, int] | None = None,
    may_ignore: tuple[str, ...] = (),
) -> tuple[str, list, dict]:
    values = {name: _plain(value) for name, value in values.items()}
    names = tuple(sorted(values))
    kinds = tuple(_kind(values[name]) for name in names)
    sql, params, sources, converters, compiler = _compiled(
        build, shape, names, kinds, page is not None, tuple(may_ignore)
    )
    params = _filled(params, sources, values, names, kinds)
    if page is not None:
        params.extend(page)
    return sql, params, converters, compiler


def _filled(params: tuple, sources: dict, values: dict, names: tuple, kinds: tuple) -> list:
    params = list(params)
    for position, (name, shift) in sources.items():
        kind = kinds[names.index(name)]
        if kind == "datetime":
            params[position] = _adapt(values[name] + shift)
        elif kind.startswith("ids"):
            params[position] = values[name][shift]
        else:
            params[position] = values[name]
    return params


def update(build: Callable[..., tuple[QuerySet, dict]], *shape, **values) -> int:
    """Run the UPDATE that `build(*shape, **values)` describes, its SQL compiled once; the rows it changed.

    `build` returns a queryset of one table (no joins: Django would then update through a subquery of
    ids) and the fields to set, as `queryset.update(**fields)` takes them; the values may be in both.
    Same rules as the reads: every value reaches the parameters as itself (or a datetime shifted by a
    fixed amount), nothing written into the SQL. A row-at-a-time writer (the outbox's claims and sends)
    paid more for Django building the UPDATE than for running it (issue 11, pipe3).
    """
    values = {name: _plain(value) for name, value in values.items()}
    names = tuple(sorted(values))
    kinds = tuple(_kind(values[name]) for name in names)
    sql, params, sources = _compiled_update(build, shape, names, kinds)
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, _filled(params, sources, values, names, kinds))
        return cursor.rowcount


def _update_sql(build, shape: tuple, sentinels: dict) -> tuple[str, tuple]:
    rows, fields = build(*shape, **sentinels)
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(fields)
    query.clear_select_clause()
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    if query.related_updates or query.count_active_tables() != 1:
        raise ValueError(f"{build.__qualname__}: an UPDATE of one table, without joins")
    return sql, tuple(params)


@cache
def _compiled_update(build, shape: tuple, names: tuple[str, ...], kinds: tuple[str, ...]):
    sentinels_a, sentinels_b = _sentinels(names, kinds, 0), _sentinels(names, kinds, 1)
    sql, params = _update_sql(build, shape, sentinels_a)
    sql_b, params_b = _update_sql(build, shape, sentinels_b)
    sources = _sources(build, (sql, params, sentinels_a), (sql_b, params_b, sentinels_b), names, kinds, ())
    return sql, params, sources


def rows(
    build: Callable[..., QuerySet],
    *shape,
    limit: int | None = None,
    offset: int = 0,
    may_ignore: tuple[str, ...] = (),
    **values,
) -> list[tuple]:
    """The rows of `build(*shape, **values)` (a values_list queryset), its SQL compiled once, converted as the
    ORM would; with `limit`, `offset`, that page of them."""
    page = (limit, offset) if limit is not None else None
    sql, params, converters, _ = _sql(build, shape, values, page, may_ignore)
    return _fetch(sql, params, converters)


def _fetch(sql: str, params: list, converters: dict) -> list[tuple]:
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


def instances(model: type[Model], build: Callable[..., QuerySet], *shape, **values) -> list[Model]:
    """The model instances of `build(*shape, **values)` (annotations become attributes), its SQL compiled once."""
    sql, params, _, _ = _sql(build, shape, values, None)  # a raw queryset converts the model's columns itself
    return list(model.objects.raw(sql, params))


def objects(
    build: Callable[..., QuerySet],
    *shape,
    limit: int | None = None,
    offset: int = 0,
    may_ignore: tuple[str, ...] = (),
    **values,
) -> list[Model]:
    """The model instances of `build(*shape, **values)` as iterating the queryset gives them: its
    `select_related` objects attached, its annotations set, each column converted, but its SQL compiled
    once. `prefetch_related` is not applied (call `prefetch_related_objects` on the result)."""
    page = (limit, offset) if limit is not None else None
    sql, params, converters, compiler = _sql(build, shape, values, page, may_ignore)
    start, end, init_list, populators, annotations = _object_plan(compiler)
    model = compiler.klass_info["model"]
    found = []
    for row in _fetch(sql, params, converters):
        obj = model.from_db(connection.alias, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in annotations:
            setattr(obj, name, row[position])
        found.append(obj)
    return found


@cache
def _object_plan(compiler) -> tuple:
    """What Django's ModelIterable works out from a compiled query before its first row, once."""
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, connection.alias)
    return start, end, init_list, populators, tuple(compiler.annotation_col_map.items())
