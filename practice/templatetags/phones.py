"""`{% load phones %}`: phone numbers as people write them."""

from django import template

from practice.phones import display_phone

register = template.Library()


@register.filter
def phone_display(e164: str, country: str = "US") -> str:
    """{{ "+12125550100"|phone_display:"US" }} -> "(212) 555-0100"; abroad, the international form."""
    return display_phone(e164, country)
