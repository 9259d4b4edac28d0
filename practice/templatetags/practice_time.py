"""`{% load practice_time %}`: name the practice's zone on client pages."""

from django import template

from practice import timefmt

register = template.Library()


@register.filter
def zone_label(practice) -> str:
    """{{ practice|zone_label }} -> "Eastern Time" (or the IANA name)."""
    return timefmt.zone_label(practice)
