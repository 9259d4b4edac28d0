"""`{{ fee.amount|money:fee.currency }}` and `{% for line in version|client_terms %}`."""

from django import template

from appointments.models import Appointment
from policies import terms as client_text
from policies.models import PolicyVersion

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
