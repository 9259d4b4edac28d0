"""`{{ fee.amount|money:fee.currency }}`, `{% for line in version|client_terms %}` and `{% waiver_options %}`."""

from functools import cache

from django import template
from django.utils.html import format_html_join

from appointments.models import Appointment
from policies import terms as client_text
from policies.models import FeeAssessment, PolicyVersion

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    if amount is None or amount == "":
        return ""
    return client_text.format_money(amount, currency)


@register.filter
def client_terms(version: PolicyVersion | None) -> list[str]:
    if version is None:
        return []
    return client_text.client_terms(
        version.terms(), currency=version.currency, session_labels=dict(Appointment.SessionType.choices)
    )


@register.simple_tag
@cache
def waiver_options() -> str:
    """The waiver reasons as `<option>`s: built once per process, not once per fee row (issue 11)."""
    return format_html_join("", '<option value="{}">{}</option>', FeeAssessment.WaiverReason.choices)
