"""The open times of one day as radio buttons, for templates/followups/_slot_picker.html."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

BUTTON = (
    '<input type="radio" class="btn-check" name="slot" id="{0}" value="{1}" autocomplete="off" required>\n'
    '<label class="btn btn-outline-primary" for="{0}">{2}</label>\n'
)


@register.simple_tag
def slot_buttons(day: dict) -> str:
    """`day` as followups.views._slot_days makes it. Built here rather than in a template loop: with
    up to a hundred times on the rebooking page, the loop's four variables per time were most of
    the page's rendering (bench/rebooking.py). Every value is escaped, with the standard library's
    `html.escape` (quotes too) rather than format_html_join's per-value SafeString round trips,
    which were still a third of the render (bench/profile_rebooking.py)."""
    return mark_safe(  # noqa: S308 - every value below is escaped
        "".join(
            BUTTON.format(escape(slot["id"]), escape(slot["value"]), escape(slot["label"])) for slot in day["slots"]
        )
    )
