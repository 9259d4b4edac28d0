"""Shared by the row view tests (schedule, message and fee rows): the checks that a cached row
partial reads only its row view (practice/rowcache.py)."""

from django.template import Context


def changed(value):
    """Another value of the same type: a flipped flag, the next id, a longer text."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value + "~"


class Recording(Context):
    """A Context that notes every name a template looks up in it."""

    def __init__(self, *args, **kwargs):
        self.looked_up: set[str] = set()
        super().__init__(*args, **kwargs)

    def __getitem__(self, key):
        self.looked_up.add(key)
        return super().__getitem__(key)

    def get(self, key, otherwise=None):
        self.looked_up.add(key)
        return super().get(key, otherwise)

    def __contains__(self, key):
        self.looked_up.add(key)
        return super().__contains__(key)


def assert_reads_only_row(template_name: str, row, fresh_html: str, poison: dict) -> None:
    """The partial looks up nothing but `row`, and a page's context full of other values (`poison`,
    each containing "POISON") changes nothing: the row view is the whole input, hence the cache key."""
    from practice import rowcache

    template = rowcache._template(template_name)
    alone = Recording({"row": row})
    html = template.render(alone)
    assert alone.looked_up <= {"row"}, alone.looked_up - {"row"}
    poisoned = template.render(Context({**poison, "row": row}))
    assert poisoned == html == fresh_html
    assert "POISON" not in html
