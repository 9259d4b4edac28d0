"""`{% load schedule %}`: `{% schedule_rows rows %}` renders a list of appointments.rows.ScheduleRow.

Each row comes from the row cache (practice/rowcache.py) when the same row view
was rendered before, else from "appointments/schedule.html#row".
"""

from django import template

from appointments import rows as schedule

register = template.Library()


@register.simple_tag
def schedule_rows(rows):
    return schedule.render(list(rows or ()))


@register.simple_tag(takes_context=True)
def history_rows(context, appointments):
    """The client page's attendance rows (appointments.rows.HistoryRow) for the page's viewer."""
    return schedule.render_history(list(appointments or ()), membership=context["membership"])
