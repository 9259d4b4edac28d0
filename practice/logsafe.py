"""Keep query strings and link tokens out of every log line we write or configure.

A client search is a GET (paging and bookmarks need it), so `?q=alex.adler@…`
would reach access logs; rebooking and acknowledgement links carry a token in
the path. `redact_path` cuts the query and replaces token-like segments.
Used by a logging filter on Django's request loggers and by the gunicorn
access logger (gunicorn.conf.py).
"""

import logging
import re

# A path segment of 20 or more URL-safe characters is a token, not a page name.
_TOKEN = re.compile(r"(?<=/)[A-Za-z0-9_\-]{20,}(?=/|$|\s|\?)")
_QUERY = re.compile(r"\?[^\s\"]*")


def redact_path(text: str) -> str:
    """ "/r/AbC…xyz/?q=alex" → "/r/[token]/?[query]"; anything else is left as it is."""
    text = _QUERY.sub("?[query]", text)
    return _TOKEN.sub("[token]", text)


class RedactRequestPaths(logging.Filter):
    """On django.request and django.server: their messages and arguments carry the request path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        # Django attaches the request itself; a handler that prints it must not get the raw path.
        if hasattr(record, "request"):
            record.request = None
        return True
