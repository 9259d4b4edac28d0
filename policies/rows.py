"""Fee rows (the Fees page, the client page's fees) as flat row views, rendered through the row cache.

`templates/policies/_fee_table.html#row` reads only `row`, a `FeeRow`: every
value it shows is here, already worked out in Python (times as text in the
current zone, which PracticeMiddleware sets to the practice's, the amount as
money, labels, the closing waiver or void, the viewer's rights, every URL). So
the row view is the whole input of the row's HTML and, with the template, its
cache key (practice/rowcache.py): a fee waived, paid, voided or seen by someone
with other rights, or from another page of the list, is a different row view.

The one per-request value in a row, the CSRF token of its waive/charge form, is
not in the row view nor in the cached HTML: the partial writes CSRF_SLOT where
`{% csrf_token %}` was, and `render` puts the request's token there on the way
out. No escaped value can contain CSRF_SLOT (it starts with "<").
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from appointments.models import NoShowEvent
from practice import rowcache
from practice.models import Membership
from practice.templatetags.localdates import local
from practice.urlcache import reverse_pk

from .models import FeeAssessment
from .selectors import FeeFacts
from .templatetags.policy_terms import money

TEMPLATE = "policies/_fee_table.html#row"
CSRF_SLOT = rowcache.CSRF_SLOT

State = FeeAssessment.State
_STATE = dict(State.choices)
_KIND = dict(NoShowEvent.Kind.choices)
_ACTIONS = (State.PROPOSED, State.DUE, State.WAIVED)


def _label(labels: dict, value: str) -> str:
    return str(labels.get(value, value))  # as get_FOO_display(), in the language active now


def _local(value: datetime | None, fmt: str, zone) -> str:
    """`{{ value|local:fmt }}` in `zone` (the filter's own code, after Django's localtime)."""
    if value is None:
        return ""
    return local(timezone.localtime(value, zone) if timezone.is_aware(value) else value, fmt)


@dataclass(frozen=True, slots=True)
class FeeRow:
    """Everything one fee row shows, and nothing else (hashable: it is the cache key)."""

    pk: int
    state: str
    state_display: str
    session_start: str  # "D j M Y H:i", local
    show_client: bool
    client_name: str  # client and clinician only with show_client
    client_url: str
    clinician_name: str
    kind_display: str
    amount: str  # "$60.00"
    due_at: str  # "j M H:i", local; "" unless proposed with a due date
    rule_detail: str
    # Which policy version: "Charged/Judged under vN (vM in force)" or "Policy vM in force".
    charged_under: str  # its number, "" when none
    charged_verb: str  # "Charged" for an amount, "Judged" for none
    in_force: str  # the number of the version in force at the session, "" when none
    in_force_differs: bool
    # The waiver or void that closed the fee (only for a waived or void fee that has one).
    closed: bool
    closing_reason: str
    closing_note: str  # "" when the note only repeats rule_detail
    # The viewer's rights and the actions' form.
    sees_whole_practice: bool
    action_url: str  # "" unless the row has a form
    next_url: str  # the page to come back to after an action, "" unless the row has a form
    time_zone: str
    language: str


def _facts(fee: FeeAssessment, *, show_client: bool) -> FeeFacts:
    """A fee instance (the client page's fees) as the values a row shows (its client and clinician only
    when the row shows them: the client page's fees are read without them)."""
    change = fee.closing_change if fee.state in (State.WAIVED, State.VOID) else None
    clinician = fee.clinician if show_client and fee.clinician_id else None
    return FeeFacts(
        pk=fee.pk,
        state=fee.state,
        session_start=fee.session_start,
        amount=fee.amount,
        currency=fee.currency,
        due_at=fee.due_at,
        rule_detail=fee.rule_detail,
        client_id=fee.client_id,
        client_name=fee.client.full_name if show_client else "",
        clinician_name=(clinician.get_full_name() or clinician.username) if clinician is not None else "",
        kind=fee.missed_session.kind,
        policy_version_id=fee.policy_version_id,
        policy_number=fee.policy_version.number if fee.policy_version_id else None,
        charged_under_id=fee.charged_under_id,
        charged_under_number=fee.charged_under.number if fee.charged_under_id else None,
        closing_id=change.pk if change is not None else None,
        closing_reason=change.reason_code if change is not None else "",
        closing_note=change.note if change is not None else "",
    )


def fee_row(
    fee: FeeAssessment | FeeFacts, *, sees_whole_practice: bool, show_client: bool, next_url: str, zone=None
) -> FeeRow:
    """The row view of one fee; values a row does not show in its state are left empty,
    so that a row's key changes only when what it shows does."""
    zone = zone or timezone.get_current_timezone()
    if not isinstance(fee, FeeFacts):
        fee = _facts(fee, show_client=show_client)
    state = fee.state
    closed = fee.closing_id is not None and state in (State.WAIVED, State.VOID)
    note = fee.closing_note if closed else ""
    has_form = sees_whole_practice and state in _ACTIONS
    if show_client:
        client_name = fee.client_name
        client_url = reverse_pk("appointments:client_detail", fee.client_id)
        clinician_name = fee.clinician_name
    else:
        client_name = client_url = clinician_name = ""
    charged = fee.charged_under_id is not None
    return FeeRow(
        pk=fee.pk,
        state=state,
        state_display=_label(_STATE, state),
        session_start=_local(fee.session_start, "D j M Y H:i", zone),
        show_client=show_client,
        client_name=client_name,
        client_url=client_url,
        clinician_name=clinician_name,
        kind_display=_label(_KIND, fee.kind),
        amount=money(fee.amount, fee.currency),
        due_at=_local(fee.due_at, "j M H:i", zone) if state == State.PROPOSED else "",
        rule_detail=fee.rule_detail,
        charged_under=str(fee.charged_under_number) if charged else "",
        charged_verb=("Charged" if fee.amount else "Judged") if charged else "",
        in_force=str(fee.policy_number) if fee.policy_version_id is not None else "",
        in_force_differs=charged and fee.policy_version_id != fee.charged_under_id,
        closed=closed,
        closing_reason=fee.closing_reason_label if closed else "",
        closing_note=note if note and note != fee.rule_detail else "",
        sees_whole_practice=sees_whole_practice,
        action_url=reverse_pk("policies:fee_action", fee.pk) if has_form else "",
        next_url=next_url if has_form else "",
        time_zone=str(zone),
        language=get_language() or "",
    )


def fee_rows(
    fees: Iterable[FeeAssessment | FeeFacts], *, membership: Membership | None, show_client: bool, next_url: str
) -> list[FeeRow]:
    sees_whole_practice = bool(membership is not None and membership.sees_whole_practice)
    zone = timezone.get_current_timezone()
    return [
        fee_row(fee, sees_whole_practice=sees_whole_practice, show_client=show_client, next_url=next_url, zone=zone)
        for fee in fees
    ]


def render(rows: list[FeeRow], *, csrf_input: Callable[[], str]) -> SafeString:
    """The rows' HTML, each from the row cache when seen before, with this request's CSRF
    token (`csrf_input()`, called only when a row has a form) put into each form."""
    return rowcache.with_csrf(rowcache.render_rows(TEMPLATE, rows), csrf_input)
