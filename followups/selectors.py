"""Reads for the message log and the client page, scoped to a membership."""

from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from appointments.models import Appointment, Client
from policies.models import Acknowledgement, PolicyVersion
from policies.selectors import clients_unacknowledged
from practice.models import Membership

from .models import MissReason, OutboxMessage


def messages_for(*, membership: Membership) -> QuerySet:
    """The message log: a clinician sees follow-ups of their sessions and other messages to their clients."""
    qs = OutboxMessage.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(
            Q(missed_session__appointment__clinician_id=membership.user_id)
            | Q(missed_session=None, client__clinician_id=membership.user_id)
        )
    # "Send again" is not offered on a second message whose first has not gone out (the only other
    # first-step row of the miss is the first itself, hence the exclude on pk).
    first_unsent = (
        OutboxMessage.objects.filter(missed_session=OuterRef("missed_session"), step=OutboxMessage.Step.FIRST)
        .exclude(status=OutboxMessage.Status.SENT)
        .exclude(pk=OuterRef("pk"))
    )
    return (
        qs.select_related("client", "missed_session__appointment", "policy_version", "appointment")
        .annotate(waits_for_first=Exists(first_unsent))
        .order_by("-due_at", "-id")
    )


def ack_outreach(*, practice_id: int, version: PolicyVersion, now: datetime) -> dict[str, int]:
    """For the Policies page, in one query: active clients who have not acknowledged `version`,
    and those of them who consent to email and have not been sent the request yet."""
    requested = OutboxMessage.objects.filter(
        client=OuterRef("pk"), purpose=OutboxMessage.Purpose.ACK_REQUEST, policy_version=version
    )
    reachable = Q(consent_email=True) & ~Q(email="")
    return clients_unacknowledged(practice_id=practice_id, version=version, now=now).aggregate(
        unacknowledged=Count("pk"),
        to_email=Count("pk", filter=reachable & ~Q(Exists(requested))),
    )


def unreached() -> Q:
    """'Could not reach the client': the send failed, or the provider later reported a bounce or failure."""
    S = OutboxMessage.Status
    return Q(status=S.FAILED) | Q(status=S.SENT, delivery_status__in=OutboxMessage.UNREACHED)


def ack_request_progress(*, practice_id: int, version: PolicyVersion) -> dict[str, int]:
    """How the requests for `version` are going, in one query (index outbox_ack_idx)."""
    acknowledged = Acknowledgement.objects.filter(client=OuterRef("client_id"), version=version)
    rows = OutboxMessage.objects.filter(
        practice_id=practice_id, policy_version=version, purpose=OutboxMessage.Purpose.ACK_REQUEST
    )
    S = OutboxMessage.Status
    return rows.aggregate(
        total=Count("pk"),
        queued=Count("pk", filter=Q(status__in=[S.PENDING, S.SENDING])),
        sent=Count("pk", filter=Q(status=S.SENT) & ~unreached()),
        failed=Count("pk", filter=unreached()),
        acknowledged=Count("pk", filter=Q(Exists(acknowledged))),
    )


def messages_failed(*, membership: Membership) -> QuerySet:
    """'Could not reach the client' items for the Today page."""
    return messages_for(membership=membership).filter(unreached())


def client_messages(*, client: Client) -> QuerySet:
    """The client page's follow-ups table (acknowledgement requests show in the message log)."""
    return (
        client.messages.filter(purpose=OutboxMessage.Purpose.FOLLOWUP)
        .select_related("missed_session__appointment")
        .order_by("-due_at", "-id")
    )


def client_reasons(*, client: Client) -> QuerySet:
    return MissReason.objects.filter(appointment__client=client).select_related("appointment").order_by("-created_at")


# Today's "not confirmed yet" list: sessions starting within this long, at most this many.
UNCONFIRMED_AHEAD = timedelta(hours=24)
UNCONFIRMED_LIMIT = 50


def unconfirmed_soon(*, membership: Membership, now: datetime | None = None) -> list[Appointment]:
    """Sessions starting within 24 hours whose reminder went out and that the client has not confirmed,
    soonest first, so front desk can call them. Practice-scoped; a clinician sees their own. One query."""
    now = now or timezone.now()
    reminded = OutboxMessage.objects.filter(
        purpose=OutboxMessage.Purpose.REMINDER,
        appointment=OuterRef("pk"),
        appointment_start=OuterRef("start"),
        status=OutboxMessage.Status.SENT,
    )
    return list(
        Appointment.objects.for_membership(membership)
        .filter(status=Appointment.Status.SCHEDULED, start__gt=now, start__lte=now + UNCONFIRMED_AHEAD)
        .filter(confirmed_at=None)
        .filter(Exists(reminded))
        .select_related("client", "clinician")
        .order_by("start", "pk")[:UNCONFIRMED_LIMIT]
    )
