"""Message log rows (/messages/) as flat row views, rendered through the row cache (issue 11).

`templates/followups/messages.html#row` reads only `row`, a `MessageRow`: every
value the row shows is here, worked out in Python (labels looked up, times as
text in the practice's zone, the reminder's answer, the wording version, which
action the row offers and its URL), with the zone's name and the active
language. So the row view is the whole input of the row's HTML and, with the
template, its cache key (practice/rowcache.py): a message sent, retried,
cancelled, answered, renamed or shown in another zone or language is a
different row view, and nothing is ever invalidated.

The one per-request value a row shows is the CSRF token of its form. It is not
in the row view (it would make every key new on every request): the partial
writes CSRF_SLOT where `{% csrf_token %}` wrote its hidden input, and `render`
puts the request's input there after the rows come out of the cache. The slot
is raw markup no field can produce (every field is autoescaped, so none holds
"<"), and the token is the page's own (the same masked token `{% csrf_token %}`
showed in every form of the page), so the page's HTML is what it was.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from practice import rowcache
from practice.urlcache import reverse_pk

from .models import OUTBOX_KINDS, OutboxMessage

TEMPLATE = "followups/messages.html#row"
CSRF_SLOT = rowcache.CSRF_SLOT

# Labels by value, looked up once: Model.get_FOO_display() rebuilds a dict of the choices on every call.
_STEP = dict(OutboxMessage.Step.choices)
_KIND = dict(OUTBOX_KINDS)
_CHANNEL = dict(OutboxMessage.Channel.choices)


@dataclass(frozen=True, slots=True)
class MessageRow:
    """Everything one message log row shows, and nothing else (hashable: it is the cache key)."""

    pk: int
    status: str
    delivery_status: str
    when: str  # sent, else due, "6 Jul 14:05" in the practice's zone
    client_name: str
    client_url: str
    purpose: str
    step_display: str  # follow-ups only
    kind_display: str
    missed_start: str  # follow-ups: the missed session's start, as shown
    appointment_start: str  # reminders: the start it reminds of, as shown
    answer: str  # reminders: "", "cant_make_it", "moved" or "confirmed"
    moved_to: str  # with "moved": the session's new start, as shown
    policy_version: str  # other purposes: the version's number, "" without one
    wording: str  # "not yet composed", "default" or "v3"
    channel_display: str
    could_not_reach: bool
    status_label: str
    delivery_detail: str
    cancel_reason: str
    last_error: str
    attempts: int
    # The action the row offers (at most one), as the URL its form posts to.
    cancel_url: str
    send_again_url: str
    time_zone: str
    language: str


class _Times:
    """Times as the log shows them ("6 Jul 14:05", the `local` filter's "j M H:i") in one zone,
    with the month names looked up once a page instead of through a lazy translation each time."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self.months: dict[int, str] = {}

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return ""
        d = timezone.localtime(value, self.zone)
        month = self.months.get(d.month)
        if month is None:
            month = self.months[d.month] = MONTHS_3[d.month].title()
        return f"{d.day} {month} {d.hour:02d}:{d.minute:02d}"


def _answer(message: OutboxMessage, when: _Times) -> tuple[str, str]:
    """A reminder's answer as the log shows it: the session's own answer, if it is about this start."""
    start, reminded = message.log_session_start, message.appointment_start
    if start is None:  # no session
        return "", ""
    response = message.log_session_response
    if response == "cant_make_it" and start == reminded:
        return "cant_make_it", ""
    if response == "moved" and start != reminded:
        return "moved", when(start)
    if message.log_session_confirmed_at and start == reminded:
        return "confirmed", ""
    return "", ""


def message_row(message: OutboxMessage, *, when: _Times, language: str) -> MessageRow:
    """The row view of one message of `followups.selectors.message_log_page` (its columns and `log_*` values).

    Fields the row does not show for its purpose or state stay empty, so that a
    row's key changes only when what it shows does.
    """
    purpose = message.purpose
    P = OutboxMessage.Purpose
    followup, reminder = purpose == P.FOLLOWUP, purpose == P.REMINDER
    answer, moved_to = _answer(message, when) if reminder else ("", "")
    version = message.template_version
    status = message.status
    pending = status == OutboxMessage.Status.PENDING
    send_again = not pending and message.can_send_again and not message.waits_for_first
    policy_number = message.log_policy_number if not (followup or reminder) else None
    return MessageRow(
        pk=message.pk,
        status=status,
        delivery_status=message.delivery_status,
        when=when(message.sent_at or message.due_at),
        # Client.full_name, from the two columns.
        client_name=f"{message.log_client_first_name} {message.log_client_last_name}".strip(),
        client_url=reverse_pk("appointments:client_detail", message.client_id),
        purpose=purpose,
        step_display=rowcache.label(_STEP, message.step) if followup else "",
        kind_display=rowcache.label(_KIND, message.kind),
        missed_start=when(message.log_missed_start) if followup else "",
        appointment_start=when(message.appointment_start) if reminder else "",
        answer=answer,
        moved_to=moved_to,
        policy_version=str(policy_number) if policy_number is not None else "",
        wording="not yet composed" if version is None else "default" if version == 0 else f"v{version}",
        channel_display=rowcache.label(_CHANNEL, message.channel),
        could_not_reach=message.could_not_reach,
        status_label=message.status_label,
        delivery_detail=message.delivery_detail,
        cancel_reason=message.cancel_reason,
        last_error=message.last_error,
        attempts=message.attempts,
        cancel_url=reverse_pk("followups:cancel", message.pk) if pending else "",
        send_again_url=reverse_pk("followups:send_again", message.pk) if send_again else "",
        time_zone=str(when.zone),
        language=language,
    )


def message_rows(messages, *, zone: ZoneInfo | None = None) -> list[MessageRow]:
    """Row views for a page of `message_log_page`, in the current time zone (the practice's, PracticeMiddleware)."""
    when = _Times(zone or timezone.get_current_timezone())
    language = get_language() or ""
    return [message_row(message, when=when, language=language) for message in messages]


def render(rows: list[MessageRow], *, csrf_input: Callable[[], str]) -> SafeString:
    """The rows' HTML, with this request's CSRF input (`csrf_input()`, what `{% csrf_token %}`
    writes) in each form."""
    return rowcache.with_csrf(rowcache.render_rows(TEMPLATE, rows), csrf_input)
