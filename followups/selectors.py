"""Reads for the message log and the client page, scoped to a membership."""

from django.db.models import QuerySet

from appointments.models import Client
from practice.models import Membership

from .models import MissReason, OutboxMessage


def messages_for(*, membership: Membership) -> QuerySet:
    qs = OutboxMessage.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(missed_session__appointment__clinician_id=membership.user_id)
    return qs.select_related("client", "missed_session__appointment").order_by("-due_at", "-id")


def messages_failed(*, membership: Membership) -> QuerySet:
    """'Could not reach the client' items for the Today page."""
    return messages_for(membership=membership).filter(status=OutboxMessage.Status.FAILED)


def client_messages(*, client: Client) -> QuerySet:
    return client.messages.select_related("missed_session__appointment").order_by("-due_at", "-id")


def client_reasons(*, client: Client) -> QuerySet:
    return (
        MissReason.objects.filter(missed_session__appointment__client=client)
        .select_related("missed_session__appointment")
        .order_by("-created_at")
    )
