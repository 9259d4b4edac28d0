"""The client page's sections read through SQL compiled once (issue 11, session 6): each gives what its
queryset gives, for every viewer, and the attendance rows are the markup the page had before the row cache."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments import rows, selectors
from engagement import selectors as engagement
from engagement.services import reflection_note_create
from followups import selectors as followups
from policies import rows as fee_rows
from policies import selectors as policies
from policies import services as policy_services
from practice import rowcache
from practice.models import Membership
from tests.factories import AppointmentFactory, ClientFactory, make_policy


def _client_fees(client):
    """The reference for policies.selectors.client_fees_latest: the client's fees as instances, with their
    closing changes prefetched, through the ORM (the page reads them compiled once)."""
    return policies._client_fees_query(client_id=client.pk).prefetch_related(policies._closing_changes())


pytestmark = pytest.mark.django_db

# The attendance row as the client page wrote it before HistoryRow (copied from the template).
FORMER_ROW = Template(
    "{% load localdates rows %}"
    '<tr><td data-label="When">{{ a.start|local:"D j M Y H:i" }}</td>'
    '<td data-label="Clinician">{{ a.clinician.get_full_name|default:a.clinician.username }}</td>'
    '<td data-label="Session">{{ a.get_session_type_display }} · {{ a.get_modality_display }}</td>'
    '<td data-label="Status">{{ a.get_status_display }}'
    "{% if a.initiated_by %} ({{ a.get_initiated_by_display|lower }}){% endif %}</td>"
    '<td>{% if a.status == "scheduled" %}<a href="{% pk_url \'appointments:appointment_edit\' a.pk %}">Move</a>'
    "{% elif a.is_missed %}<a href=\"{% pk_url 'appointments:appointment_makeup' a.pk %}\">Book make-up</a>{% endif %}"
    '{% if a.status == "attended" or a.is_missed %}{% if membership.is_admin or a.clinician_id == membership.user_id %}'
    ' <a href="{% pk_url \'appointments:appointment_correct\' a.pk %}" class="ms-2"'
    " aria-label=\"Correct the outcome of {{ a.start|local:'j M' }}\">Correct…</a>{% endif %}{% endif %}</td></tr>"
)


def _squash(html: str) -> str:
    """The markup without the whitespace between its tags (the row file breaks its lines)."""
    return re.sub(r">\s+<", "><", html.strip())


@pytest.fixture
def history(practice, therapist, therapist2, client_of_therapist):
    """A client seen by two clinicians, in every status, some with who initiated it; one named with markup."""
    therapist2.first_name, therapist2.last_name = "Ann <b>", "O'Brien & Co"
    therapist2.save()
    now = timezone.now()
    made = []
    for n, status in enumerate(
        [
            "scheduled",
            "attended",
            "no_show",
            "late_cancel",
            "cancelled_in_time",
            "cancelled_by_clinician",
            "rescheduled",
        ]
    ):
        for who, initiated in ((therapist, ""), (therapist2, "client")):
            start = now + timedelta(days=3) if status == "scheduled" else now - timedelta(days=n * 2 + 1, hours=n)
            made.append(
                AppointmentFactory(
                    client=client_of_therapist, clinician=who, start=start, status=status, initiated_by=initiated
                )
            )
    return made


@pytest.mark.parametrize("who", ["practice_admin", "therapist", "therapist2", "front_desk"])
def test_attendance_rows_are_the_former_markup_for_every_viewer(request, who, history, client_of_therapist):
    membership = Membership.objects.select_related("practice").get(user=request.getfixturevalue(who))
    timezone.activate(str(membership.practice.time_zone))
    rowcache.clear()
    sessions = list(selectors._history_query(client_id=client_of_therapist.pk))
    page = selectors.client_history_page(client=client_of_therapist, number=1, per_page=50, count=len(sessions))
    assert len(sessions) == len(history) == len(page.object_list)
    for session, facts in zip(sessions, page.object_list, strict=True):
        expected = FORMER_ROW.render(Context({"a": session, "membership": membership}))
        fresh = rows.render_history([facts], membership=membership)
        cached = rows.render_history([facts], membership=membership)  # the second from the cache
        assert _squash(fresh) == _squash(cached) == _squash(expected)
    assert "Ann &lt;b&gt; O&#x27;Brien &amp; Co" in rows.render_history(page.object_list, membership=membership)


def test_a_history_page_is_what_the_paginator_gives(history, client_of_therapist):
    everything = list(selectors._history_query(client_id=client_of_therapist.pk))
    summary = selectors.client_attendance(client=client_of_therapist)
    assert summary.total == len(everything)
    for number in (None, "1", "2", "3", "abc", "0", "-1", "999"):
        from django.core.paginator import Paginator

        expected = Paginator(everything, 5).get_page(number)
        with CaptureQueriesContext(connection) as ctx:
            page = selectors.client_history_page(
                client=client_of_therapist, number=number, per_page=5, count=summary.total
            )
        assert len(ctx.captured_queries) == 1
        assert page.number == expected.number and page.paginator.num_pages == expected.paginator.num_pages
        assert list(page.object_list) == [
            (a.pk, a.start, a.status, a.session_type, a.modality, a.initiated_by, a.clinician_id)
            + (a.clinician.first_name, a.clinician.last_name, a.clinician.username)
            for a in expected.object_list
        ]


def test_attendance_counts_are_a_direct_count(history, client_of_therapist):
    summary = selectors.client_attendance(client=client_of_therapist)
    statuses = [a.status for a in history]
    assert summary.attended == statuses.count("attended")
    assert summary.no_show == statuses.count("no_show")
    assert summary.late_cancel == statuses.count("late_cancel")
    assert summary.cancelled == sum(
        statuses.count(s) for s in ("cancelled_in_time", "cancelled_by_clinician", "rescheduled")
    )
    assert summary.upcoming == statuses.count("scheduled")
    assert summary.cancelled_in_time == statuses.count("cancelled_in_time")
    empty = ClientFactory(practice=client_of_therapist.practice, clinician=client_of_therapist.clinician)
    assert selectors.client_attendance(client=empty) == selectors.AttendanceSummary(0, 0, 0, 0, 0)


@pytest.fixture
def missed(practice, therapist, client_of_therapist, practice_admin):
    """Misses with fees (one waived with a note, one undone), follow-ups, reasons, notes by two authors."""
    version = make_policy(practice)
    policy_services.acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    events = []
    for i in range(4):
        start = timezone.now() - timedelta(days=3 * i + 1, hours=2)
        appointment = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        tasks.process_missed_session(event.pk)
        events.append(event)
    from followups.models import MissReason

    for event in events[:2]:
        MissReason.objects.create(
            practice=practice,
            appointment=event.appointment,
            missed_session=event,
            reason="transport",
            text="The bus <did not> come",
        )
    for author in (therapist, practice_admin):
        membership = Membership.objects.get(user=author)
        reflection_note_create(
            membership=membership, client=client_of_therapist, text=f"By {author}", missed_session=events[0]
        )
    return events


@pytest.mark.parametrize("who", ["practice_admin", "therapist", "therapist2", "front_desk"])
def test_each_section_is_what_its_queryset_gives(request, who, missed, client_of_therapist):
    membership = Membership.objects.select_related("practice").get(user=request.getfixturevalue(who))
    client = client_of_therapist

    def notes(objs):
        return [(n.pk, n.text, n.author.username, n.missed_session.appointment.start) for n in objs]

    assert notes(engagement.client_notes(membership=membership, client=client)) == notes(
        engagement.reflection_notes_for(membership=membership, client=client)
    )

    def tasks_(objs):
        return [(t.pk, t.title, t.done_at, t.missed_session.appointment.start) for t in objs]

    assert tasks_(engagement.client_checkins(membership=membership, client=client)) == tasks_(
        engagement.client_checkin_tasks(membership=membership, client=client)
    )
    if who == "practice_admin":
        assert len(engagement.client_notes(membership=membership, client=client)) == 2
    if who == "therapist":
        assert len(engagement.client_notes(membership=membership, client=client)) == 1
    if who in ("therapist2", "front_desk"):
        assert engagement.client_notes(membership=membership, client=client) == []


def test_fees_messages_reasons_misses_and_acknowledgement_are_what_their_querysets_give(
    missed, client_of_therapist, practice_admin, practice
):
    client = client_of_therapist
    fees = list(_client_fees(client))
    policy_services.fee_waive(fee=fees[1], actor=practice_admin, reason_code="hardship", note="Lost job")
    missed[2].appointment.refresh_from_db()
    membership = Membership.objects.select_related("practice").get(user=practice_admin)
    timezone.activate(str(practice.time_zone))
    for limit in (1, 2, 50):  # the second fee is waived: its row shows the waiver
        latest = policies.client_fees_latest(client=client, limit=limit)
        instances = list(_client_fees(client)[:limit])
        assert len(latest) == len(instances) == min(limit, 4)
        made = {"membership": membership, "show_client": False, "next_url": "/clients/1/"}
        assert fee_rows.fee_rows(latest, **made) == fee_rows.fee_rows(instances, **made)
        assert any(row.closed and row.closing_note == "Lost job" for row in fee_rows.fee_rows(latest, **made)) == (
            limit > 1
        )

        def messages(objs):
            return [(m.pk, m.status, m.step, m.missed_session.appointment.start) for m in objs]

        assert messages(followups.client_messages_latest(client=client, limit=limit)) == messages(
            followups.client_messages(client=client)[:limit]
        )

        def reasons(objs):
            return [(r.pk, r.reason, r.text, r.appointment.start) for r in objs]

        assert reasons(followups.client_reasons_latest(client=client, limit=limit)) == reasons(
            followups.client_reasons(client=client)[:limit]
        )
    assert [(m.pk, m.appointment.start) for m in engagement.misses_for_notes_list(client=client)] == [
        (m.pk, m.appointment.start) for m in engagement.misses_for_notes(client=client)
    ]
    version = policies.policy_current(membership=membership, overrides=False)
    assert version == policies.policy_current(membership=membership)
    ack = policies.client_acknowledgement(client=client, version=version)
    assert ack is not None and ack.version_id == version.pk and ack.version.number == version.number
    other = ClientFactory(practice=practice, clinician=client.clinician)
    assert policies.client_acknowledgement(client=other, version=version) is None


def test_the_page_shows_the_sections_from_the_compiled_reads(client, missed, therapist, client_of_therapist):
    client.force_login(therapist)
    page = client.get(reverse("appointments:client_detail", args=[client_of_therapist.pk])).content.decode()
    assert page.count('id="fee-') == 4
    assert "The bus &lt;did not&gt; come" in page
    assert page.count("Book make-up") == 4 and page.count("Correct…") == 4
    assert "By therapist" in page


@pytest.mark.parametrize("who", ["practice_admin", "therapist", "therapist2", "front_desk", "other_practice_therapist"])
def test_the_client_is_found_exactly_where_for_membership_finds_it(request, who, practice, therapist, therapist2):
    """get_client_for_user, compiled once per scope, answers what `for_membership` answers, a 404 elsewhere."""
    from django.http import Http404
    from django.test import RequestFactory

    from appointments.access import get_client_for_user
    from appointments.models import Client

    own = ClientFactory(practice=practice, clinician=therapist)
    seen_by_both = ClientFactory(practice=practice, clinician=therapist)
    AppointmentFactory(client=seen_by_both, clinician=therapist2)  # a session makes them therapist2's too
    user = request.getfixturevalue(who)
    web = RequestFactory().get("/")
    web.membership = Membership.objects.get(user=user)
    for target in (own, seen_by_both):
        expected = Client.objects.for_membership(web.membership).filter(pk=target.pk).first()
        for related in ((), ("clinician",)):
            if expected is None:
                with pytest.raises(Http404):
                    get_client_for_user(web, target.pk, related=related)
            else:
                found = get_client_for_user(web, target.pk, related=related)
                assert (found.pk, found.full_name, found.clinician_id) == (
                    expected.pk,
                    expected.full_name,
                    expected.clinician_id,
                )
                if related:
                    with CaptureQueriesContext(connection) as ctx:
                        assert found.clinician.username == therapist.username
                    assert ctx.captured_queries == []
    visible = {c.pk for c in Client.objects.for_membership(web.membership)}
    assert (own.pk in visible) == (who in ("practice_admin", "therapist", "front_desk"))
    assert (seen_by_both.pk in visible) == (who != "other_practice_therapist")


def test_the_sections_a_client_has_are_those_whose_reads_find_rows(missed, client_of_therapist, practice, therapist):
    """client_sections says which sections have rows: the page skips the reads of the others."""
    from engagement.models import CheckInTask, ReflectionNote
    from followups.models import MissReason, OutboxMessage
    from policies.models import FeeAssessment

    def direct(client):
        return engagement.ClientSections(
            fees=FeeAssessment.objects.filter(client=client).exists(),
            followups=OutboxMessage.objects.filter(client=client, purpose="followup").exists(),
            misses=client.appointments.filter(missed_events__isnull=False).exists(),
            reasons=MissReason.objects.filter(appointment__client=client).exists(),
            notes=ReflectionNote.objects.filter(client=client).exists(),
            checkins=CheckInTask.objects.filter(client=client).exists(),
        )

    full = engagement.client_sections(client=client_of_therapist)
    assert full == direct(client_of_therapist)
    assert full.fees and full.followups and full.misses and full.reasons and full.notes
    empty = ClientFactory(practice=practice, clinician=therapist)
    AppointmentFactory(client=empty, status="attended")
    assert engagement.client_sections(client=empty) == direct(empty) == engagement.ClientSections(*(False,) * 6)


def test_a_client_with_nothing_but_sessions_reads_none_of_the_empty_sections(client, therapist, practice):
    """No fees, follow-ups, misses, reasons, notes or check-ins: none of their reads run."""
    quiet = ClientFactory(practice=practice, clinician=therapist)
    for days in range(1, 30):
        AppointmentFactory(client=quiet, status="attended", start=timezone.now() - timedelta(days=days))
    client.force_login(therapist)
    url = reverse("appointments:client_detail", args=[quiet.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url).content.decode()
    read = " ".join(q["sql"] for q in ctx.captured_queries)
    for table in (
        "policies_feeassessment",
        "followups_outboxmessage",
        "appointments_noshowevent",
        "engagement_reflectionnote",
        "engagement_checkintask",
    ):
        # The table's own rows (the sections' EXISTS read it under an alias; the reasons are also a
        # part of what the client told us, so their own read is not looked for here).
        assert f'"{table}"."id"' not in read
    assert "No follow-ups" in page or "No automated follow-ups" in page
    assert len(ctx.captured_queries) == 11  # 18 for a client with every section (test_page_query_counts)
