"""`{% load fields %}`: `{% bs_field form.notice_hours %}` draws one field as crispy-bootstrap5 would.

In Python, not through templates (issue 11): see practice/formfields.py.
"""

from django import template
from django.utils.safestring import mark_safe

from practice.formfields import field_html

register = template.Library()


@register.simple_tag
def bs_field(field):
    return field_html(field)


@register.simple_tag
def bs_fields(form):
    """Every visible field of `form` in order, then its hidden ones."""
    return mark_safe("".join(field_html(f) for f in form))  # noqa: S308 (field_html escapes)
