"""`{% load rows %}`: `{% pk_url 'appointments:appointment_edit' appointment.pk %}` for per-row links,
`{% fixed_url 'appointments:today' %}` for links without arguments (the navigation).

The same URLs as `{% url %}`, reversed once per pattern and process instead of once
per row or page (practice/urlcache.py).
"""

from django import template

from practice.urlcache import reverse_fixed, reverse_pk

register = template.Library()


@register.simple_tag
def pk_url(name: str, pk) -> str:
    return reverse_pk(name, pk)


@register.simple_tag
def fixed_url(name: str) -> str:
    return reverse_fixed(name)
