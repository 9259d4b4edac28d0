"""URLs for table rows: reverse a pattern once, then put each row's id into it.

`reverse()` walks the resolver for every call; a schedule row needs six of
them, which was a fifth of the page's time (issue 11, profile in
docs/decisions.md). The result for one id differs from the result for another
only in the id, so the pattern is reversed once per process (per URLconf and
script prefix) with a placeholder id, and each row substitutes its own.
"""

from django.urls import get_script_prefix, get_urlconf, reverse

# An id no row has: larger than any id the bench or a practice makes, and digits only,
# so it survives reverse() unchanged and appears once in the URL.
_PLACEHOLDER = "9087123465"
_parts: dict[tuple, list[str] | None] = {}
_fixed: dict[tuple, str] = {}


def reverse_fixed(name: str) -> str:
    """`reverse(name)` for a URL without arguments (the navigation), reversed once per process
    (per URLconf and script prefix): every page shows seventeen of them."""
    key = (name, get_urlconf(), get_script_prefix())
    url = _fixed.get(key)
    if url is None:
        url = _fixed[key] = reverse(name)
    return url


def reverse_pk(name: str, pk) -> str:
    """`reverse(name, args=[pk])` for an integer id, without walking the resolver each time."""
    if isinstance(pk, bool) or not isinstance(pk, int):
        return reverse(name, args=[pk])  # None or odd values fail (or succeed) exactly as reverse() does
    key = (name, get_urlconf(), get_script_prefix())
    parts = _parts.get(key)
    if parts is None:
        parts = reverse(name, args=[int(_PLACEHOLDER)]).split(_PLACEHOLDER)
        if len(parts) != 2:  # the placeholder also appeared in a fixed part of the pattern
            parts = []
        _parts[key] = parts
    if not parts:
        return reverse(name, args=[pk])
    return f"{parts[0]}{pk}{parts[1]}"
