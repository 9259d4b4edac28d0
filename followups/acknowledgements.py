"""Asking clients to acknowledge a policy version: outbox rows out, a single-use link back.

The request is an outbox row of purpose ack_request (key "ack:<client>:<version>"),
so it is sent, retried and checked like every other message; the link in it
is a ClientLink of purpose acknowledge, valid for 30 days, used once.
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appointments.models import Client
from policies import selectors as policy_selectors
from policies import services as policies
from policies.models import Acknowledgement, PolicyVersion
from practice.services import audit_record
from practice.transactions import on_commit_robust

from . import services, timing
from .models import ACK_REQUEST_KIND, ClientLink, OutboxMessage

log = logging.getLogger(__name__)

Status = OutboxMessage.Status


def _wake(message_id: int) -> None:
    from .tasks import send_message  # tasks import services

    send_message.delay(message_id)


def ack_requests_queue(
    *, version: PolicyVersion, actor, client_ids: list[int] | None = None, now: datetime | None = None
) -> int:
    """Write one outbox row per client who should be asked; returns how many were new.

    Without `client_ids`: every active client of the practice who has not
    acknowledged `version` and consents to email. With them: those clients
    (the client page's button), if they consent. One transaction, one bulk
    insert; the unique key makes a second press add nothing. Workers are woken
    after the commit; the minute sweep picks up anything a lost wake-up leaves.
    """
    now = now or timezone.now()
    practice = version.practice
    with transaction.atomic(durable=True):
        if client_ids is None:
            clients = policy_selectors.clients_unacknowledged(practice_id=practice.pk, version=version, now=now)
        else:
            clients = Client.objects.filter(practice_id=practice.pk, pk__in=client_ids, is_archived=False).exclude(
                acknowledgements__version=version
            )
        ids = list(clients.filter(consent_email=True).exclude(email="").values_list("pk", flat=True))
        keys = {services.ack_request_key(client_id=pk, version_id=version.pk): pk for pk in ids}
        existing = set(OutboxMessage.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
        plan = services.plan_for(practice)
        due = timing.next_sendable(now, quiet_start=plan.quiet_start, quiet_end=plan.quiet_end, zone=practice.time_zone)
        rows = [
            OutboxMessage(
                practice=practice,
                purpose=OutboxMessage.Purpose.ACK_REQUEST,
                idempotency_key=key,
                policy_version=version,
                client_id=client_id,
                kind=ACK_REQUEST_KIND,
                channel=OutboxMessage.Channel.EMAIL,
                due_at=due,
            )
            for key, client_id in keys.items()
            if key not in existing
        ]
        # A concurrent press may have written some since the read: those are skipped, not doubled.
        OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        new_keys = [row.idempotency_key for row in rows]
        if new_keys:
            audit_record(
                practice=practice,
                actor=actor,
                action="policy.ack_requests_queued",
                obj=version,
                changes={"count": len(new_keys), "version": version.number},
            )
            if due <= now:
                new_ids = OutboxMessage.objects.filter(idempotency_key__in=new_keys).values_list("pk", flat=True)
                for message_id in new_ids:
                    on_commit_robust(_wake, message_id)
    log.info("ack requests queued practice_id=%s version_id=%s count=%s", practice.pk, version.pk, len(new_keys))
    return len(new_keys)


def ack_request_client(*, client: Client, version: PolicyVersion, actor) -> str:
    """The client page's button: queue the request, or send the earlier one again. Returns what happened."""
    if client.is_archived:
        raise ValidationError("This client is archived: nothing is sent to them.")
    if not (client.email and client.consent_email):
        raise ValidationError("This client has no email address with consent to email.")
    if Acknowledgement.objects.filter(client=client, version=version).exists():
        raise ValidationError("This client has already acknowledged the policy in force.")
    if ack_requests_queue(version=version, actor=actor, client_ids=[client.pk]):
        return "queued"
    key = services.ack_request_key(client_id=client.pk, version_id=version.pk)
    earlier = OutboxMessage.objects.filter(idempotency_key=key).first()
    if earlier is None:  # not asked, and nothing new was queued: nothing to send
        raise ValidationError("Nothing was sent: the client cannot be asked now.")
    services.outbox_send_again(message=earlier, actor=actor)  # refuses, with a message, while it waits
    return "again"


def ack_link_open(*, token: str, now: datetime | None = None) -> ClientLink:
    """The link the client opened, if it can still be accepted. Reads only: mail scanners open links first."""
    now = now or timezone.now()
    link = services.client_link_find(token=token, purpose=ClientLink.Purpose.ACKNOWLEDGE)
    if link is None:
        raise services.LinkUnusable
    if link.used_at is not None or link.expires_at <= now or link.client.is_archived:
        raise services.LinkUnusable(practice=link.practice)
    return link


def ack_link_accept(*, token: str, now: datetime | None = None) -> ClientLink:
    """The client accepts: record the acknowledgement and use the link, in one transaction."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link = services.client_link_find(token=token, purpose=ClientLink.Purpose.ACKNOWLEDGE, lock=True)
        if link is None:
            raise services.LinkUnusable
        if link.client.is_archived or not services.client_link_use(link=link, now=now):
            raise services.LinkUnusable(practice=link.practice)
        version = PolicyVersion.objects.get(pk=link.policy_version_id)
        policies.acknowledgement_record(client=link.client, version=version, method=Acknowledgement.Method.LINK, at=now)
    return link
