"""`{% load rows %}`: `{% pk_url 'appointments:appointment_edit' appointment.pk %}` for per-row links.

The same URL as `{% url %}` with one integer argument, reversed once per page
pattern instead of once per row (practice/urlcache.py).
"""

from django import template

from practice.urlcache import reverse_pk

register = template.Library()


@register.simple_tag
def pk_url(name: str, pk) -> str:
    return reverse_pk(name, pk)
