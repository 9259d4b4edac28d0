"""URLs reversed once per process give what reverse() gives, under any script prefix."""

import re
from pathlib import Path

import pytest
from django.urls import reverse, set_script_prefix

from practice.urlcache import reverse_fixed, reverse_pk

BASE = Path(__file__).resolve().parents[2] / "templates" / "base.html"
NAV = re.findall(r"\{% fixed_url '([a-z_:]+)' %\}", BASE.read_text())


def test_the_navigation_uses_cached_links_for_every_name():
    assert len(NAV) >= 15
    assert "{% url " not in BASE.read_text()


@pytest.mark.parametrize("name", sorted(set(NAV)))
def test_a_cached_link_is_the_reversed_one(name):
    assert reverse_fixed(name) == reverse(name)
    assert reverse_fixed(name) == reverse(name)  # the second, from the cache


def test_links_follow_the_script_prefix():
    try:
        set_script_prefix("/reconnect/")
        assert reverse_fixed("appointments:week") == "/reconnect/week/" == reverse("appointments:week")
        assert reverse_pk("appointments:appointment_edit", 42) == reverse("appointments:appointment_edit", args=[42])
        assert reverse_pk("appointments:appointment_edit", 42).startswith("/reconnect/")
    finally:
        set_script_prefix("/")
    assert reverse_fixed("appointments:week") == "/week/"


def test_a_row_link_is_the_reversed_one_for_any_id():
    for pk in (1, 7, 9087123465, 10**12):
        assert reverse_pk("appointments:appointment_edit", pk) == reverse("appointments:appointment_edit", args=[pk])
