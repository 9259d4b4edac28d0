"""Reads for the message log and the client page, scoped to a membership."""

from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from policies.models import Acknowledgement, PolicyVersion
from policies.selectors import clients_unacknowledged, version_numbers
from practice import sqlonce
from practice.models import Membership

from .models import MissReason, OutboxMessage


def _messages_visible(*, membership: Membership) -> QuerySet:
    """The messages this member may see: a clinician sees follow-ups of their sessions and other messages
    to their clients. No joins for display and no annotation (an EXISTS check or a filter builds only this)."""
    qs = OutboxMessage.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(
            Q(missed_session__appointment__clinician_id=membership.user_id)
            | Q(missed_session=None, client__clinician_id=membership.user_id)
        )
    return qs


def _waits_for_first() -> Exists:
    """ "Send again" is not offered on a second message whose first has not gone out (the only other
    first-step row of the miss is the first itself, hence the exclude on pk)."""
    return Exists(
        OutboxMessage.objects.filter(missed_session=OuterRef("missed_session"), step=OutboxMessage.Step.FIRST)
        .exclude(status=OutboxMessage.Status.SENT)
        .exclude(pk=OuterRef("pk"))
    )


def messages_for(*, membership: Membership) -> QuerySet:
    """The messages a member may see, newest first, whole, with their related rows (actions on one)."""
    return (
        _messages_visible(membership=membership)
        .select_related("client", "missed_session__appointment", "policy_version", "appointment")
        .annotate(waits_for_first=_waits_for_first())
        .order_by("-due_at", "-id")
    )


# The message's own columns a log row shows (followups.rows.message_row).
MESSAGE_LOG_FIELDS = (
    *("status", "delivery_status", "sent_at", "due_at", "purpose", "step", "kind", "appointment_start"),
    *("template_version", "channel", "handed_over_at", "delivery_detail", "cancel_reason", "last_error"),
    *("attempts", "cancel_code", "client_id"),
)


def messages_visible(*, membership: Membership) -> QuerySet:
    """The messages a member may see, unsorted, without joins for display: count or filter this."""
    return _messages_visible(membership=membership)


def messages_with_status(messages: QuerySet, status: str) -> QuerySet:
    """The message log's status filter: "failed" also takes those the provider reported back as
    bounced or undelivered, and "sent" leaves them out."""
    if status == OutboxMessage.Status.FAILED:
        return messages.filter(unreached())
    if status == OutboxMessage.Status.SENT:
        return messages.filter(status=status).exclude(unreached())
    return messages.filter(status=status) if status else messages


MESSAGE_LOG_PAGE_SIZE = 50


def _log_messages(sees_whole_practice: bool, status_mode: str, **values) -> QuerySet:
    membership = Membership.scoped(
        practice_id=values["practice_id"], user_id=values.get("user_id"), whole_practice=sees_whole_practice
    )
    status = values.get("status", status_mode)  # "failed"/"sent" are constants of the query's shape
    return messages_with_status(_messages_visible(membership=membership), status)


# What the page's own query reads of the message, in the model's field order (what Model.from_db
# expects): the columns a row shows, and the ids `_log_related` reads the rest by.
_PAGE_COLUMNS = tuple(
    field.attname
    for field in OutboxMessage._meta.concrete_fields
    if field.primary_key
    or field.name in MESSAGE_LOG_FIELDS
    or field.attname in (*MESSAGE_LOG_FIELDS, "missed_session_id", "appointment_id", "policy_version_id")
)
_PAGE_ANNOTATIONS = ("waits_for_first", "log_client_first_name", "log_client_last_name")


def _message_log_query(sees_whole_practice: bool, status_mode: str, **values) -> QuerySet:
    """The log's messages as values over two tables (the message, its client), for practice/sqlonce.py
    (its shape: the viewer's scope, the filter). What the reference queryset joins
    four more tables for is read by id afterwards (`_log_related`): PostgreSQL took ~3 ms of CPU
    to plan and run the six tables together on every request, ~0.5 ms this way (issue 11)."""
    messages = _log_messages(sees_whole_practice, status_mode, **values)
    return (
        messages.annotate(
            waits_for_first=_waits_for_first(),
            log_client_first_name=F("client__first_name"),
            log_client_last_name=F("client__last_name"),
        )
        .order_by("-due_at", "-id")
        .values_list(*_PAGE_COLUMNS, *_PAGE_ANNOTATIONS)
    )


def _missed_starts_query(*, ids: tuple[int, ...]) -> QuerySet:
    return NoShowEvent.objects.filter(pk__in=ids).values_list("pk", "appointment__start")


def _sessions_query(*, ids: tuple[int, ...]) -> QuerySet:
    return Appointment.objects.filter(pk__in=ids).values_list("pk", "start", "client_response", "confirmed_at")


def _log_related(messages: list[OutboxMessage]) -> None:
    """Set the `log_*` values a row shows (followups.rows.message_row), as the reference annotates them:
    a follow-up's missed session's start, a reminder's session's start and answer, another message's
    policy version's number. One query each by id, compiled once, and only when a row shows it."""
    P = OutboxMessage.Purpose
    missed = {m.missed_session_id for m in messages if m.purpose == P.FOLLOWUP and m.missed_session_id}
    sessions = {m.appointment_id for m in messages if m.purpose == P.REMINDER and m.appointment_id}
    versions = {
        m.policy_version_id for m in messages if m.purpose not in (P.FOLLOWUP, P.REMINDER) and m.policy_version_id
    }
    starts = dict(sqlonce.rows(_missed_starts_query, ids=tuple(sorted(missed)))) if missed else {}
    found = sqlonce.rows(_sessions_query, ids=tuple(sorted(sessions))) if sessions else ()
    session_values = {pk: rest for pk, *rest in found}
    numbers = version_numbers(ids=tuple(sorted(versions))) if versions else {}
    for m in messages:
        m.log_missed_start = starts.get(m.missed_session_id) if m.purpose == P.FOLLOWUP else None
        shown = m.purpose == P.REMINDER and m.appointment_id in session_values
        m.log_session_start, m.log_session_response, m.log_session_confirmed_at = (
            session_values[m.appointment_id] if shown else (None, None, None)
        )
        m.log_policy_number = numbers.get(m.policy_version_id) if m.purpose not in (P.FOLLOWUP, P.REMINDER) else None


def _message_count_query(sees_whole_practice: bool, status_mode: str, **values) -> QuerySet:
    """How many messages the log lists, without its display joins; grouped by the practice (one group)."""
    messages = _log_messages(sees_whole_practice, status_mode, **values)
    return messages.order_by().values("practice_id").annotate(total=Count("pk")).values_list("total")


def message_log_page(*, membership: Membership, status: str, number) -> Page:
    """One page of `messages_with_status(messages_visible(...), status)`, newest due first, as
    `Paginator(..., MESSAGE_LOG_PAGE_SIZE).get_page(number)` pages it: OutboxMessage instances with the
    columns and `log_*` values a row shows. The count and the page are two queries whose SQL is compiled
    once per process, scope and filter (practice/sqlonce.py; issue 11: building and compiling the page's
    query was a quarter of the page); what else a row shows is read by id (`_log_related`).
    tests/followups/test_message_rows.py holds it to a reference queryset of the same rows."""
    fixed = status in ("", OutboxMessage.Status.FAILED, OutboxMessage.Status.SENT)
    shape = (membership.sees_whole_practice, status if fixed else "other")
    values = {"practice_id": membership.practice_id}
    if not fixed:
        values["status"] = status
    if not membership.sees_whole_practice:
        values["user_id"] = membership.user_id
    found = sqlonce.rows(_message_count_query, *shape, **values)
    paginator = Paginator(range(found[0][0] if found else 0), MESSAGE_LOG_PAGE_SIZE)  # counted, not queried
    number = paginator.get_page(number).number  # get_page's answer to "abc", 0, 999
    offset = (number - 1) * MESSAGE_LOG_PAGE_SIZE
    rows = sqlonce.rows(_message_log_query, *shape, limit=MESSAGE_LOG_PAGE_SIZE, offset=offset, **values)
    columns = len(_PAGE_COLUMNS)
    messages = []
    for row in rows:
        message = OutboxMessage.from_db("default", _PAGE_COLUMNS, row[:columns])
        for name, value in zip(_PAGE_ANNOTATIONS, row[columns:], strict=True):
            setattr(message, name, value)
        messages.append(message)
    _log_related(messages)
    return Page(messages, number, paginator)


def ack_outreach(*, practice_id: int, version: PolicyVersion, now: datetime) -> dict[str, int]:
    """For the Policies page, in one query: active clients who have not acknowledged `version`,
    and those of them who consent to email and have not been sent the request yet.

    Its SQL is compiled once per process (practice/sqlonce.py, `now` a parameter): building and
    compiling it was a quarter of the Policies page (issue 11).
    """
    found = sqlonce.rows(_ack_outreach_query, practice_id=practice_id, version_id=version.pk, now=now)
    return dict(zip(ACK_OUTREACH, found[0][1:], strict=True)) if found else dict.fromkeys(ACK_OUTREACH, 0)


ACK_OUTREACH = ("unacknowledged", "to_email")


def _ack_outreach_query(*, practice_id: int, version_id: int, now: datetime) -> QuerySet:
    requested = OutboxMessage.objects.filter(
        client=OuterRef("pk"), purpose=OutboxMessage.Purpose.ACK_REQUEST, policy_version_id=version_id
    )
    reachable = Q(consent_email=True) & ~Q(email="")
    # Grouped by the practice (one group) rather than aggregate(): a queryset sqlonce can keep.
    return (
        clients_unacknowledged(practice_id=practice_id, version=version_id, now=now)
        .order_by()
        .values("practice_id")
        .annotate(unacknowledged=Count("pk"), to_email=Count("pk", filter=reachable & ~Q(Exists(requested))))
        .values_list("practice_id", *ACK_OUTREACH)
    )


def unreached() -> Q:
    """'Could not reach the client': the send failed, or the provider later reported a bounce or failure."""
    S = OutboxMessage.Status
    return Q(status=S.FAILED) | Q(status=S.SENT, delivery_status__in=OutboxMessage.UNREACHED)


def ack_request_progress(*, practice_id: int, version: PolicyVersion) -> dict[str, int]:
    """How the requests for `version` are going, in one query (index outbox_ack_idx).

    Its SQL is compiled once per process (practice/sqlonce.py): on the Policies page,
    compiling it cost more than running it (issue 11).
    """
    found = sqlonce.rows(_ack_progress_query, practice_id=practice_id, version_id=version.pk)
    return dict(zip(ACK_PROGRESS, found[0][1:], strict=True)) if found else dict.fromkeys(ACK_PROGRESS, 0)


ACK_PROGRESS = ("total", "queued", "sent", "failed", "acknowledged")


def _ack_progress_query(*, practice_id: int, version_id: int) -> QuerySet:
    acknowledged = Acknowledgement.objects.filter(client=OuterRef("client_id"), version_id=version_id)
    rows = OutboxMessage.objects.filter(
        practice_id=practice_id, policy_version_id=version_id, purpose=OutboxMessage.Purpose.ACK_REQUEST
    )
    S = OutboxMessage.Status
    # Grouped by the practice (one group) rather than aggregate(): a queryset sqlonce can keep.
    return (
        rows.order_by()
        .values("practice_id")
        .annotate(
            total=Count("pk"),
            queued=Count("pk", filter=Q(status__in=[S.PENDING, S.SENDING])),
            sent=Count("pk", filter=Q(status=S.SENT) & ~unreached()),
            failed=Count("pk", filter=unreached()),
            acknowledged=Count("pk", filter=Q(Exists(acknowledged))),
        )
        .values_list("practice_id", *ACK_PROGRESS)
    )


def messages_failed(*, membership: Membership) -> QuerySet:
    """'Could not reach the client' items for the Today page: the same messages as the log's
    (messages_for) filtered to unreached(), joined only to what Today shows of them, without the
    log's "Send again" annotation. Today first asks EXISTS of it (appointments.views._today_alerts)."""
    return (
        _messages_visible(membership=membership)
        .filter(unreached())
        .select_related("client", "missed_session__appointment")
        .order_by("-due_at", "-id")
    )


def client_messages(*, client: Client) -> QuerySet:
    """The client page's follow-ups table (acknowledgement requests show in the message log)."""
    return _client_messages_query(client_id=client.pk)


def client_messages_latest(*, client: Client, limit: int) -> list[OutboxMessage]:
    """The latest `limit` of `client_messages`, in one query compiled once (practice/sqlonce.py)."""
    return sqlonce.objects(_client_messages_query, client_id=client.pk, limit=limit)


def _client_messages_query(*, client_id: int) -> QuerySet:
    return (
        OutboxMessage.objects.filter(client_id=client_id, purpose=OutboxMessage.Purpose.FOLLOWUP)
        .select_related("missed_session__appointment")
        .order_by("-due_at", "-id")
    )


def client_reasons(*, client: Client) -> QuerySet:
    return _client_reasons_query(client_id=client.pk)


def client_reasons_latest(*, client: Client, limit: int) -> list[MissReason]:
    """The latest `limit` of `client_reasons`, in one query compiled once (practice/sqlonce.py)."""
    return sqlonce.objects(_client_reasons_query, client_id=client.pk, limit=limit)


def _client_reasons_query(*, client_id: int) -> QuerySet:
    return (
        MissReason.objects.filter(appointment__client_id=client_id)
        .select_related("appointment")
        .order_by("-created_at", "-id")
    )


# Today's "not confirmed yet" list: sessions starting within this long, at most this many.
UNCONFIRMED_AHEAD = timedelta(hours=24)
UNCONFIRMED_LIMIT = 50


def unconfirmed_soon_queryset(*, membership: Membership, now: datetime) -> QuerySet:
    """The sessions `unconfirmed_soon` lists, unordered and unbounded (Today asks first whether there are any)."""
    reminded = OutboxMessage.objects.filter(
        purpose=OutboxMessage.Purpose.REMINDER,
        appointment=OuterRef("pk"),
        appointment_start=OuterRef("start"),
        status=OutboxMessage.Status.SENT,
    )
    return (
        Appointment.objects.for_membership(membership)
        .filter(status=Appointment.Status.SCHEDULED, start__gt=now, start__lte=now + UNCONFIRMED_AHEAD)
        .filter(confirmed_at=None)
        .filter(Exists(reminded))
    )


def unconfirmed_soon(*, membership: Membership, now: datetime | None = None) -> list[Appointment]:
    """Sessions starting within 24 hours whose reminder went out and that the client has not confirmed,
    soonest first, so front desk can call them. Practice-scoped; a clinician sees their own. One query."""
    now = now or timezone.now()
    return list(
        unconfirmed_soon_queryset(membership=membership, now=now)
        .select_related("client", "clinician")
        .order_by("start", "pk")[:UNCONFIRMED_LIMIT]
    )
