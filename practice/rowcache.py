"""Rendered table rows, cached by what they show (issue 11: "cached fragments keyed on the row's version").

A row partial renders from ONE flat, immutable, hashable row view (a frozen
dataclass such as `appointments.rows.ScheduleRow`) and nothing else: it is
rendered with a plain `Context` holding only `row` (no request, no context
processors). Its HTML is therefore a function of (template, row), and that pair
is the cache key. A row whose session, client, clinician, viewer's rights or
time-dependent state changed is a different row view, so a stale row cannot be
shown and nothing ever needs invalidating; rows nobody asks for again fall out
of the LRU.

1. The key holds the compiled template object itself, not its name: a template
   loaded again (the dev autoreloader resets the loaders after an edit) is a
   new object, hence new keys; the cache's reference keeps the old object alive,
   so its identity cannot be reused.
2. Process-local, bounded (settings.ROW_CACHE_SIZE entries, 0 turns it off), one
   lock around the dict only (rendering happens outside it; two threads rendering
   the same miss store the same HTML). No pickling, no network: entries live only
   in this web process's memory, reachable only by their exact key (a whole row
   view). See docs/decisions.md, "Row fragment cache".
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

from django.conf import settings
from django.template import Context
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

DEFAULT_SIZE = 5000
# Where a row's form takes the request's CSRF input: a per-request value is never cached, so a row
# partial writes this marker where `{% csrf_token %}` would, and `with_csrf` fills it on the way out.
# Escaped row values cannot fake it (it starts with "<").
CSRF_SLOT = "<!--row-csrf-token-->"

_entries: OrderedDict[tuple, str] = OrderedDict()
_lock = threading.Lock()


def _size() -> int:
    return getattr(settings, "ROW_CACHE_SIZE", DEFAULT_SIZE)


def _template(template_name: str):
    """The compiled Django template (for a partial, template_partials' proxy) behind a name."""
    return get_template(template_name).template


def _render(template, row: Hashable) -> str:
    # Only `row`: what the partial shows must come from the row view, or the key would not cover it.
    return template.render(Context({"row": row}))


def render_rows(template_name: str, rows: Iterable[Hashable], *, cache: bool = True) -> SafeString:
    """The rows' HTML, one after another, each from the cache when the same row was rendered before."""
    template = _template(template_name)
    size = _size() if cache else 0
    parts: list[str] = []
    misses: list[tuple[int, tuple]] = []
    with _lock:
        for row in rows:
            key = (template, row)
            html = _entries.get(key) if size else None
            if html is None:
                misses.append((len(parts), key))
                parts.append("")
            else:
                _entries.move_to_end(key)
                parts.append(html)
    for index, (_, row) in misses:
        parts[index] = _render(template, row)
    if misses and size:
        with _lock:
            for index, key in misses:
                _entries[key] = parts[index]
                _entries.move_to_end(key)
            while len(_entries) > size:
                _entries.popitem(last=False)
    return mark_safe("".join(parts))  # noqa: S308 - each part is the autoescaped output of a template


def render_row(template_name: str, row: Hashable, *, cache: bool = True) -> SafeString:
    """One row's HTML (an htmx swap); `cache=False` for a row that shows a one-off message."""
    return render_rows(template_name, [row], cache=cache)


def with_csrf(html: str, csrf_input: Callable[[], str]) -> SafeString:
    """`html` (rendered rows) with each CSRF_SLOT replaced by `csrf_input()`, what Django's
    `{% csrf_token %}` writes for this request; called only when a row has a form."""
    if CSRF_SLOT in html:
        html = html.replace(CSRF_SLOT, str(csrf_input()))
    return mark_safe(html)  # noqa: S308 - rendered rows and the input Django's csrf_token tag writes


def label(labels: dict, value: str) -> str:
    """A choice's label for a row view: `str()` of the lazy translation, in the language active now
    (the language is part of the row view)."""
    return str(labels.get(value, value))


def clear() -> None:
    """Forget every entry (tests; nothing in the app needs it, see the module docstring)."""
    with _lock:
        _entries.clear()


def stats() -> dict[str, int]:
    with _lock:
        return {"entries": len(_entries), "size": _size()}
