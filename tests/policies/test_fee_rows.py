"""Fee rows from the row cache (issue 11): a cached row is always the row a fresh render would give.

The same argument as tests/appointments/test_rows.py, for policies.rows.FeeRow:
the row view is flat and immutable, the partial reads nothing but `row`, a
cached render equals a fresh one for any row state, and a change to any field
is a new key with its own HTML. Plus the one per-request value of a fee row, the
CSRF token of its form: never in the cache, always the request's own on the page.
"""

import dataclasses
import re

import pytest
from django.template.loader import get_template
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import rows as fee_rows
from policies import services
from policies.models import FeeAssessment
from policies.rows import CSRF_SLOT, TEMPLATE, FeeRow
from practice import rowcache
from tests.policies.test_fee_pages import miss, row
from tests.rowviews import assert_reads_only_row
from tests.rowviews import changed as _changed

State = FeeAssessment.State

text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['<b>"x"</b>', "a&b", "{{ row.pk }}", "'", "", "O'Brien", CSRF_SLOT, "<!--", "—"]),
)
row_views = st.builds(
    FeeRow,
    pk=st.integers(min_value=1, max_value=2**31),
    state=st.sampled_from([*State.values, "unknown"]),
    **{f.name: text for f in dataclasses.fields(FeeRow) if f.type is str and f.name != "state"},
)


@pytest.fixture(autouse=True)
def _empty_row_cache():
    rowcache.clear()
    yield
    rowcache.clear()


def _fresh(row_view: FeeRow) -> str:
    """The partial rendered directly, without the row cache's code."""
    return get_template(TEMPLATE).render({"row": row_view})


def _forms(row_view: FeeRow) -> int:
    """How many forms (each with one CSRF slot) the row shows."""
    return int(row_view.sees_whole_practice and row_view.state in ("proposed", "due", "waived"))


def test_a_row_view_is_flat_frozen_and_hashable():
    """Nothing mutable can hide inside a key: every field is an int, a str or a bool."""
    assert dataclasses.fields(FeeRow)
    assert {f.type for f in dataclasses.fields(FeeRow)} <= {int, str, bool}
    assert FeeRow.__dataclass_params__.frozen
    row_view = FeeRow(**{f.name: _changed(f.type()) for f in dataclasses.fields(FeeRow)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        row_view.state = "paid"  # type: ignore[misc]
    assert hash(row_view) == hash(dataclasses.replace(row_view))


@settings(max_examples=150, deadline=None)
@given(row_view=row_views)
def test_a_cached_row_is_what_a_fresh_render_gives(row_view):
    first = rowcache.render_row(TEMPLATE, row_view)
    again = rowcache.render_row(TEMPLATE, row_view)  # a hit
    assert first == again == _fresh(row_view)
    assert f'<tr id="fee-{row_view.pk}"' in first
    # Escaped text can never make a CSRF slot: there is one per form, and only there.
    assert first.count(CSRF_SLOT) == _forms(row_view)


@settings(max_examples=60, deadline=None)
@given(row_view=row_views, field=st.sampled_from([f.name for f in dataclasses.fields(FeeRow)]))
def test_changing_any_field_is_a_new_key_with_its_own_html(row_view, field):
    other = dataclasses.replace(row_view, **{field: _changed(getattr(row_view, field))})
    assert other != row_view
    rowcache.render_rows(TEMPLATE, [row_view])  # cached
    shown = rowcache.render_rows(TEMPLATE, [row_view, other])
    assert shown == _fresh(row_view) + _fresh(other)


POISON = {
    # What the Fees page's and the client page's contexts hold, with values that would show if read.
    "fee": "POISON-fee",
    "fees": "POISON-fees",
    "membership": "POISON-membership",
    "show_client": "POISON-show-client",
    "next": "POISON-next",
    "request": "POISON-request",
    "user": "POISON-user",
    "csrf_token": "POISON-csrf",
    "perms": "POISON-perms",
    "messages": "POISON-messages",
    "page": "POISON-page",
    "query": "POISON-query",
}


@settings(max_examples=100, deadline=None)
@given(row_view=row_views)
def test_the_row_partial_reads_nothing_but_row(row_view):
    assert_reads_only_row(TEMPLATE, row_view, _fresh(row_view), POISON)


def test_render_puts_the_token_in_each_form_and_never_in_the_cache():
    base = FeeRow(**{f.name: f.type() for f in dataclasses.fields(FeeRow)})
    rows = [
        dataclasses.replace(base, pk=1, state="due", sees_whole_practice=True, action_url="/fees/1/action/"),
        dataclasses.replace(base, pk=2, state="waived", sees_whole_practice=True, action_url="/fees/2/action/"),
        dataclasses.replace(base, pk=3, state="paid", sees_whole_practice=True),
        dataclasses.replace(base, pk=4, state="due", sees_whole_practice=False),
    ]
    asked = []

    def token(value):
        return lambda: asked.append(value) or f'<input type="hidden" name="csrfmiddlewaretoken" value="{value}">'

    first = fee_rows.render(rows, csrf_input=token("TOKEN-A"))
    second = fee_rows.render(rows, csrf_input=token("TOKEN-B"))  # all hits
    assert first.count('value="TOKEN-A"') == 2 and "TOKEN-B" not in first and CSRF_SLOT not in first
    assert second == first.replace("TOKEN-A", "TOKEN-B")
    assert asked == ["TOKEN-A", "TOKEN-B"]
    assert rowcache.stats()["entries"] == 4
    assert not any("TOKEN" in html for html in rowcache._entries.values())
    # No form, no token asked for (the csrf_token tag is not evaluated either, as before).
    fee_rows.render(rows[2:], csrf_input=token("TOKEN-C"))
    assert "TOKEN-C" not in asked


pytestmark_db = pytest.mark.django_db


def _token_of(page: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page))


@pytestmark_db
def test_each_visitor_gets_their_own_token_in_cached_rows(front_desk, therapist, practice, client_of_therapist):
    """The second visitor's rows come from the cache; their forms carry the second visitor's token,
    and it is one the CSRF check accepts."""
    from django.test import Client

    from tests.factories import make_policy

    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    fee = miss(client_of_therapist, therapist)
    assert fee.state == State.PROPOSED
    pages = []
    for user in (front_desk, front_desk):
        visitor = Client(enforce_csrf_checks=True)
        visitor.force_login(user)
        page = visitor.get(reverse("policies:fees")).content.decode()
        pages.append((visitor, page))
    assert rowcache.stats()["entries"] >= 1
    (first, page1), (second, page2) = pages
    assert _token_of(page1) and _token_of(page2) and _token_of(page1) != _token_of(page2)
    assert CSRF_SLOT not in page1 + page2
    # The second visitor's cached row posts with the second visitor's token.
    form = re.search(rf'<tr id="fee-{fee.pk}".*?</tr>', page2, re.S).group(0)
    action = re.search(r'<form method="post" action="([^"]+)"', form).group(1)
    token = _token_of(form).pop()
    response = second.post(action, {"csrfmiddlewaretoken": token, "action": "paid", "note": "", "reason_code": ""})
    assert response.status_code == 302
    fee.refresh_from_db()
    assert fee.state == State.PAID


@pytestmark_db
def test_the_fees_page_shows_the_fee_as_it_is_now_not_the_cached_row(
    client, front_desk, therapist, practice, client_of_therapist
):
    from tests.factories import make_policy

    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    fee = miss(client_of_therapist, therapist)
    client.force_login(front_desk)
    before = row(client.get(reverse("policies:fees")).content.decode(), fee)
    assert 'data-state="proposed"' in before and ">Waive</button>" in before
    services.fee_waive(fee=fee, actor=front_desk, reason_code="hardship", note="Lost their job")
    after = row(client.get(reverse("policies:fees")).content.decode(), fee)
    assert 'data-state="waived"' in after and "Waived: Financial hardship — “Lost their job”" in after
    assert ">Waive</button>" not in after and 'value="void"' in after
    # The same fee on the client page: no client column, the same state.
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert "Waived: Financial hardship" in row(page, fee) and 'data-label="Client"' not in row(page, fee)
    # Another page of the list is another row view: its form comes back to that page.
    filtered = row(client.get(reverse("policies:fees"), {"state": "waived"}).content.decode(), fee)
    assert 'name="next" value="/fees/?state=waived"' in filtered


@pytestmark_db
@pytest.mark.parametrize("show_client", [True, False])
def test_a_row_view_shows_what_the_fee_says(show_client, front_desk, therapist, practice, client_of_therapist):
    from django.utils import timezone

    from practice.models import Membership
    from tests.factories import make_policy

    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    fee = services.fee_waive(
        fee=miss(client_of_therapist, therapist), actor=front_desk, reason_code="illness", note="Flu"
    )
    fee = FeeAssessment.objects.select_related("client", "clinician", "missed_session").get(pk=fee.pk)
    membership = Membership.objects.select_related("practice").get(user=front_desk)
    with timezone.override(practice.time_zone):
        (view,) = fee_rows.fee_rows([fee], membership=membership, show_client=show_client, next_url="/fees/")
        assert view.session_start == timezone.localtime(fee.session_start).strftime("%a %-d %b %Y %H:%M")
    assert (view.state, view.state_display, view.kind_display) == (
        "waived",
        fee.get_state_display(),
        fee.missed_session.get_kind_display(),
    )
    assert view.amount == "$60.00" and view.charged_under == "1" and view.in_force == "1"
    assert (view.closed, view.closing_reason, view.closing_note) == (True, "Illness or medical reason", "Flu")
    assert view.action_url == reverse("policies:fee_action", args=[fee.pk]) and view.next_url == "/fees/"
    if show_client:
        assert (view.client_name, view.client_url) == (
            client_of_therapist.full_name,
            client_of_therapist.get_absolute_url(),
        )
        assert view.clinician_name == (therapist.get_full_name() or therapist.username)
    else:
        assert view.client_name == view.client_url == view.clinician_name == ""


@pytestmark_db
def test_the_fees_pages_values_give_the_rows_the_fee_instances_gave(
    front_desk, therapist, therapist2, practice, client_of_therapist
):
    """fees_page (values, SQL compiled once per shape) against the fees as instances through
    fees_filtered and Django's paginator, row view by row view, for every filter and page."""
    from datetime import timedelta
    from decimal import Decimal

    from django.core.paginator import Paginator
    from django.utils import timezone

    from policies import selectors
    from practice.models import Membership
    from tests.factories import ClientFactory, make_policy

    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    # A newer version in force for the last 30 days: "Charged under v1 (v2 in force)" on those rows.
    make_policy(practice, effective_at=timezone.now() - timedelta(days=30), no_show_fee=Decimal("80.00"))
    other = ClientFactory(practice=practice, clinician=therapist2, first_name="Ann <b>", last_name="O'Brien & Co")
    fees = [miss(client_of_therapist, therapist, hours_ago=24 * n + 1) for n in range(56)]
    fees += [miss(other, therapist2, hours_ago=24 * n + 3) for n in range(4)]
    services.fee_waive(fee=fees[0], actor=front_desk, reason_code="illness", note="Flu")
    services.fee_waive(fee=fees[1], actor=front_desk, reason_code="hardship", note=fees[1].rule_detail)
    services.fee_waive(fee=fees[2], actor=front_desk, reason_code="hardship")
    services.fee_void(fee=services.fee_waive(fee=fees[3], actor=front_desk, reason_code="illness"), actor=front_desk)
    services.fee_void(fee=fees[4], actor=front_desk, note="Booked in error", reason_code="practice_error")
    services.fee_mark_paid(fee=fees[5], actor=front_desk)
    membership = Membership.objects.select_related("practice").get(user=front_desk)
    local = timezone.localdate(timezone.now(), practice.time_zone)
    filters = [
        {},
        *({"state": state} for state in State.values),
        {"clinician_id": therapist2.pk},
        {"clinician_id": therapist.pk, "state": State.WAIVED},
        {"date_from": local - timedelta(days=10)},
        {"date_to": local - timedelta(days=3)},
        {"date_from": local - timedelta(days=20), "date_to": local - timedelta(days=1), "state": State.PROPOSED},
    ]
    seen = set()
    with timezone.override(practice.time_zone):
        for chosen in filters:
            for number in (None, "1", "2", "3", "abc", "0", "-1", "999"):
                page = selectors.fees_page(membership=membership, number=number, **chosen)
                expected = Paginator(selectors.fees_filtered(membership=membership, **chosen), 50).get_page(number)
                assert (page.number, page.paginator.count, page.paginator.num_pages) == (
                    expected.number,
                    expected.paginator.count,
                    expected.paginator.num_pages,
                ), (chosen, number)
                for show_client in (True, False):
                    got = fee_rows.fee_rows(page, membership=membership, show_client=show_client, next_url="/f/")
                    want = fee_rows.fee_rows(expected, membership=membership, show_client=show_client, next_url="/f/")
                    assert got == want, (chosen, number)
                    seen.update((view.state, view.closed, bool(view.closing_note)) for view in got)
    assert len(seen) >= 7  # waived with and without a note of its own, voided, paid, proposed, ...
