"""`{% load message_rows %}`: `{% message_rows rows %}` renders a list of followups.rows.MessageRow.

Each row comes from the row cache (practice/rowcache.py) when the same row view
was rendered before, else from "followups/messages.html#row"; the page's CSRF
input is put into the rows' forms afterwards (followups.rows.render).
"""

from django import template
from django.template.defaulttags import CsrfTokenNode

from followups import rows as message

register = template.Library()


@register.simple_tag(takes_context=True)
def message_rows(context, rows):
    # What {% csrf_token %} would write here, asked for only when a row has a form.
    return message.render(list(rows or ()), csrf_input=lambda: CsrfTokenNode().render(context))
