"""`{% load strip %}`: `{% engagement_strip strip engagement %}`, the client page's strip through the row cache."""

from django import template

from engagement import rows

register = template.Library()


@register.simple_tag(takes_context=True)
def engagement_strip(context, strip, engagement):
    return rows.render(list(strip or ()), engagement, zone=str(context["membership"].practice.time_zone))
