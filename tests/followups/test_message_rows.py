"""Message log rows from the row cache (issue 11): a cached row is always the row a fresh render would give.

The same argument as the schedule's rows (tests/appointments/test_rows.py): the
row partial reads only `row`, a flat frozen MessageRow, and the row is the key.
Here also: the rows show exactly what the page's former per-message markup
showed, for messages of every purpose and state, and the CSRF input the rows'
forms need is the page's own, put in after the cache.
"""

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F
from django.template import Context, Template
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import get_template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare import services as aftercare
from followups import rows as message
from followups import selectors
from followups.models import OutboxMessage
from followups.rows import CSRF_SLOT, TEMPLATE, MessageRow
from practice import rowcache
from practice.models import Membership
from tests.factories import AppointmentFactory, ClientFactory, make_policy
from tests.rowviews import assert_reads_only_row
from tests.rowviews import changed as _changed


def message_log_rows(messages):
    """The reference for followups.selectors.message_log_page: the same messages in the same order, as
    OutboxMessage instances with only the columns a row shows and what else it shows as annotations
    (`log_*`) over the joins (what the page read until issue 11 split them into reads by id)."""
    return (
        messages.only(*selectors.MESSAGE_LOG_FIELDS)
        .annotate(
            waits_for_first=selectors._waits_for_first(),
            log_client_first_name=F("client__first_name"),
            log_client_last_name=F("client__last_name"),
            log_missed_start=F("missed_session__appointment__start"),
            log_policy_number=F("policy_version__number"),
            log_session_start=F("appointment__start"),
            log_session_response=F("appointment__client_response"),
            log_session_confirmed_at=F("appointment__confirmed_at"),
        )
        .order_by("-due_at", "-id")
    )


text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['<b>"x"</b>', "a&b", "{{ row.pk }}", "'", "", "O'Brien", CSRF_SLOT]),
)
CHOSEN = {
    "status": st.sampled_from([*OutboxMessage.Status.values, "unknown"]),
    "purpose": st.sampled_from([*OutboxMessage.Purpose.values, "other"]),
    "answer": st.sampled_from(["", "cant_make_it", "moved", "confirmed", "other"]),
}
row_views = st.builds(
    MessageRow,
    pk=st.integers(min_value=1, max_value=2**31),
    attempts=st.integers(min_value=0, max_value=2**15),
    **CHOSEN,
    **{f.name: text for f in dataclasses.fields(MessageRow) if f.type is str and f.name not in CHOSEN},
)


@pytest.fixture(autouse=True)
def _empty_row_cache():
    rowcache.clear()
    yield
    rowcache.clear()


def _fresh(row: MessageRow) -> str:
    """The partial rendered directly, without the row cache's code."""
    return get_template(TEMPLATE).render({"row": row})


def _blank(**fields) -> MessageRow:
    return MessageRow(**{**{f.name: f.type() for f in dataclasses.fields(MessageRow)}, **fields})


def test_a_row_view_is_flat_frozen_and_hashable():
    assert {f.type for f in dataclasses.fields(MessageRow)} <= {int, str, bool}
    assert MessageRow.__dataclass_params__.frozen
    row = _blank(pk=7, status="pending")
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "sent"  # type: ignore[misc]
    assert hash(row) == hash(dataclasses.replace(row)) and row == dataclasses.replace(row)


@settings(max_examples=150, deadline=None)
@given(row=row_views)
def test_a_cached_row_is_what_a_fresh_render_gives(row):
    rowcache.clear()  # the fixture's clear is per test, not per example
    first = rowcache.render_row(TEMPLATE, row)
    again = rowcache.render_row(TEMPLATE, row)  # a hit
    assert rowcache.stats()["entries"] == 1
    assert first == again == _fresh(row)
    assert f'id="message-{row.pk}"' in first


@settings(max_examples=80, deadline=None)
@given(row=row_views, field=st.sampled_from([f.name for f in dataclasses.fields(MessageRow)]))
def test_changing_any_field_is_a_new_key_with_its_own_html(row, field):
    other = dataclasses.replace(row, **{field: _changed(getattr(row, field))})
    assert other != row
    rowcache.render_rows(TEMPLATE, [row])  # cached
    assert rowcache.render_rows(TEMPLATE, [row, other]) == _fresh(row) + _fresh(other)


POISON = {
    # What the page's context holds, with values that would show if the partial read them.
    "m": "POISON-m",
    "page": "POISON-page",
    "form": "POISON-form",
    "rows": "POISON-rows",
    "request": "POISON-request",
    "user": "POISON-user",
    "csrf_token": "POISON-csrf",
    "perms": "POISON-perms",
    "messages": "POISON-messages",
    "membership": "POISON-membership",
    "TIME_ZONE": "POISON-zone",
}


@settings(max_examples=100, deadline=None)
@given(row=row_views)
def test_the_row_partial_reads_nothing_but_row(row):
    assert_reads_only_row(TEMPLATE, row, _fresh(row), POISON)


def _csrf(token):
    """What the page's tag passes: Django's own {% csrf_token %} for this token."""
    return lambda: CsrfTokenNode().render(Context({"csrf_token": token}))


def test_the_page_csrf_input_goes_into_each_form_after_the_cache():
    cancel = _blank(pk=1, status="pending", cancel_url="/messages/1/cancel/")
    again = _blank(pk=2, status="failed", send_again_url="/messages/2/send-again/")
    none = _blank(pk=3, status="sent", client_name=CSRF_SLOT)  # a name that looks like the slot
    field = '<input type="hidden" name="csrfmiddlewaretoken" value="Tk&lt;1">'
    for _ in range(2):  # a miss, then hits: the token is never in the cache
        html = message.render([cancel, again, none], csrf_input=_csrf("Tk<1"))
        assert html.count(field) == 2 and CSRF_SLOT not in html
        assert "&lt;!--row-csrf-token--&gt;" in html  # the name, escaped, is not a slot
        assert "Tk" not in "".join(rowcache._entries.values()) and rowcache.stats()["entries"] == 3
    other = message.render([cancel], csrf_input=_csrf("another"))
    assert 'value="another"' in other and "Tk" not in other
    # As {% csrf_token %}: nothing without a token, or with Django's "NOTPROVIDED".
    for token in (None, "", "NOTPROVIDED"):
        html = message.render([cancel], csrf_input=_csrf(token))
        assert "csrfmiddlewaretoken" not in html and CSRF_SLOT not in html and "Cancel</button>" in html


def test_the_cache_keeps_at_most_its_size(settings):
    settings.ROW_CACHE_SIZE = 2
    rowcache.render_rows(TEMPLATE, [_blank(pk=n) for n in range(1, 5)])
    assert [key[1].pk for key in rowcache._entries] == [3, 4]


# --------------------------------------------------------------- the page's rows, from the database

# The message log's row markup before the row cache (one OutboxMessage `m` of selectors.messages_for),
# kept beside this file: the rows must show what it showed.
FORMER_ROW = (Path(__file__).parent / "former_message_row.html").read_text()

S, D, C = OutboxMessage.Status, OutboxMessage.DeliveryStatus, OutboxMessage.CancelCode
# (status, delivery status, handed over, cancel code, template version, attempts, detail, reason, error)
STATES = [
    (S.PENDING, D.NONE, False, "", None, 0, "", "", ""),
    (S.PENDING, D.NONE, False, "", None, 2, "", "", "SMTP 451 <try later> & again"),
    (S.SENDING, D.NONE, False, "", 0, 1, "", "", ""),
    (S.SENDING, D.NONE, True, "", 0, 1, "", "", ""),
    (S.SENT, D.NONE, False, "", 0, 1, "", "", ""),
    (S.SENT, D.DELIVERED, False, "", 3, 1, "", "", ""),
    (S.SENT, D.COMPLAINED, False, "", 3, 1, "spam", "", ""),
    (S.SENT, D.BOUNCED, False, "", 12, 1, '5.1.1 "hard"', "", ""),
    (S.SENT, D.UNDELIVERED, False, "", 1, 1, "30003", "", ""),
    (S.FAILED, D.NONE, False, "", 1, 5, "", "", "Refused"),
    (S.CANCELLED, D.NONE, False, C.STAFF, None, 0, "", "Cancelled by staff", ""),
    (S.CANCELLED, D.NONE, False, C.UNDONE, None, 0, "", "The missed-session mark was undone", ""),
    (S.CANCELLED, D.NONE, False, C.NO_CONSENT_EMAIL, 0, 0, "", "No consent to email", ""),
]


def _set_state(message_: OutboxMessage, state) -> None:
    status, delivery, handed, code, version, attempts, detail, reason, error = state
    now = timezone.now()
    OutboxMessage.objects.filter(pk=message_.pk).update(
        status=status,
        delivery_status=delivery,
        handed_over_at=now if handed else None,
        sent_at=now - timedelta(minutes=3) if status == S.SENT else None,
        cancel_code=code,
        template_version=version,
        attempts=attempts,
        delivery_detail=detail,
        cancel_reason=reason,
        last_error=error,
    )


def _messages(practice, therapist):
    """Messages of every purpose: follow-ups (first and second) of a miss, reminders with each
    answer, an acknowledgement request and a waitlist offer, to clients with awkward names."""
    made = []
    now = timezone.now()
    client = ClientFactory(practice=practice, clinician=therapist, first_name="Ann <b>", last_name="O'Brien & Co")
    appointment = AppointmentFactory(client=client, start=now - timedelta(hours=3))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    common = {"practice": practice, "client": client, "channel": "email"}
    for step in ("first", "second"):  # those the miss wrote, if it did (the plan), else written here
        made.append(
            OutboxMessage.objects.filter(missed_session=event, step=step).first()
            or OutboxMessage.objects.create(
                **common,
                purpose="followup",
                missed_session=event,
                step=step,
                kind=step,
                idempotency_key=f"t:f:{event.pk}:{step}",
                due_at=now + timedelta(hours=1 if step == "first" else 50),
            )
        )
    for n, (response, moved, confirmed) in enumerate(
        [
            ("", False, False),
            ("cant_make_it", False, False),
            ("cant_make_it", True, False),  # an answer about another start
            ("moved", True, False),
            ("moved", False, False),
            ("", False, True),
            ("", True, True),  # confirmed, then moved by staff: not this reminder's answer
        ]
    ):
        start = now + timedelta(days=2 + n)
        session = AppointmentFactory(client=client, start=start, client_response=response)
        reminded = start - timedelta(hours=2) if moved else start
        if confirmed:
            session.confirmed_at = now
            session.save(update_fields=["confirmed_at"])
        made.append(
            OutboxMessage.objects.create(
                **{**common, "channel": "sms"},
                purpose="reminder",
                appointment=session,
                appointment_start=reminded,
                reminder_number=1,
                kind="reminder",
                idempotency_key=f"t:r:{session.pk}",
                due_at=reminded - timedelta(days=1),
            )
        )
    version = make_policy(practice)
    made.append(
        OutboxMessage.objects.create(
            **common,
            purpose="ack_request",
            policy_version=version,
            kind="ack_request",
            idempotency_key=f"t:a:{version.pk}",
            due_at=now - timedelta(days=1),
        )
    )
    made.append(
        OutboxMessage.objects.create(
            **common, purpose="waitlist_offer", kind="waitlist_offer", idempotency_key="t:w", due_at=now
        )
    )
    return made


def _rows_of(html: str) -> dict[int, str]:
    return {int(pk): row.strip() for pk, row in re.findall(r'(?s)(?=<tr id="message-(\d+)")(.*?</tr>)', html)}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["practice_admin", "therapist"])
def test_the_rows_show_what_the_former_markup_showed_in_every_state(
    request, practice, therapist, who, django_assert_num_queries
):
    made = _messages(practice, therapist)
    membership = Membership.objects.select_related("practice").get(user=request.getfixturevalue(who))
    former = Template(FORMER_ROW)
    compared = 0
    with timezone.override(str(practice.time_zone)):
        for state in STATES:
            for m in made:
                _set_state(m, state)
            log = message_log_rows(selectors.messages_visible(membership=membership)).filter(
                pk__in=[m.pk for m in made]
            )
            with django_assert_num_queries(1):  # the row views read nothing the log's query did not
                rows = message.message_rows(log)
            shown = _rows_of(message.render(rows, csrf_input=_csrf("tok")))
            messages = list(selectors.messages_for(membership=membership).filter(pk__in=[m.pk for m in made]))
            assert len(messages) == len(rows) == len(made)
            for m in messages:
                assert shown[m.pk] == former.render(Context({"m": m, "csrf_token": "tok"})).strip(), (state, m.purpose)
                compared += 1
    assert compared == len(STATES) * len(made)


@pytest.mark.django_db
def test_the_page_shows_a_cancelled_row_not_the_cached_pending_one(client, practice, therapist):
    pending = _messages(practice, therapist)[0]
    client.force_login(therapist)
    url = reverse("followups:messages")
    before = _rows_of(client.get(url).content.decode())[pending.pk]
    assert 'data-status="pending"' in before and ">Cancel</button>" in before
    assert 'name="csrfmiddlewaretoken"' in before and CSRF_SLOT not in before
    response = client.post(reverse("followups:cancel", args=[pending.pk]))
    assert response.status_code == 302
    after = _rows_of(client.get(url).content.decode())[pending.pk]
    assert 'data-status="cancelled"' in after and ">Cancel</button>" not in after
    assert after != before


@pytest.mark.django_db
def test_the_log_is_empty_without_messages(client, therapist):
    client.force_login(therapist)
    page = client.get(reverse("followups:messages")).content.decode()
    assert "No messages yet." in page and '<tr id="message-' not in page


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["practice_admin", "therapist", "therapist2"])
def test_the_log_page_compiled_once_gives_the_rows_and_pages_the_queryset_gave(
    request, practice, therapist, who, django_assert_num_queries
):
    """message_log_page (values through SQL compiled once per scope and filter, practice/sqlonce.py)
    against message_log_rows and Django's paginator, for every status filter, page number and viewer
    (therapist2 sees none of these: the scope), in every state of the same messages."""
    from django.core.paginator import Paginator

    made = _messages(practice, therapist)
    membership = Membership.objects.select_related("practice").get(user=request.getfixturevalue(who))
    statuses = ["", *OutboxMessage.Status.values]
    compared = 0
    with timezone.override(str(practice.time_zone)):
        for state in STATES:
            for m in made:
                _set_state(m, state)
            for status in statuses:
                scoped = selectors.messages_with_status(selectors.messages_visible(membership=membership), status)
                for number in (None, "2", "abc"):
                    # The count and the page, then by id what the rows show (missed sessions' starts,
                    # reminded sessions, other messages' policy versions), each only when a row shows it.
                    with CaptureQueriesContext(connection) as ctx:
                        page = selectors.message_log_page(membership=membership, status=status, number=number)
                    P = OutboxMessage.Purpose
                    purposes = {m.purpose for m in page}
                    shown = [P.FOLLOWUP in purposes, P.REMINDER in purposes, bool(purposes - {P.FOLLOWUP, P.REMINDER})]
                    assert len(ctx.captured_queries) <= 2 + sum(shown), (state, status, number)
                    paginator = Paginator(message_log_rows(scoped), selectors.MESSAGE_LOG_PAGE_SIZE)
                    expected = paginator.get_page(number)
                    assert (page.number, page.paginator.count) == (expected.number, expected.paginator.count)
                    with django_assert_num_queries(0):  # the row views read nothing the page's query did not
                        rows = message.message_rows(page)
                    assert rows == message.message_rows(expected), (state, status, number)
                    compared += len(rows)
    assert (compared > 0) == (who != "therapist2")
