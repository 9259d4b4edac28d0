"""Every figure on Insights against a direct count in Python over the same rows.

Several generated practices (different seeds, zones, sizes, one empty), a period
that spans the spring daylight-saving change in the practice's zone, and a
clinician's own caseload.
"""

import zoneinfo
from collections import Counter
from datetime import date, timedelta

import pytest
import time_machine

from appointments.models import Appointment, NoShowEvent
from followups.models import MissReason, OutboxMessage
from insights import selectors
from insights.selectors import MIN_GROUP, Rate
from policies.models import FeeAssessment
from tests.factories import PracticeFactory

from .history import DST_SPRING, make_history

NOW = DST_SPRING + timedelta(days=50)
OUTCOMES = ("attended", "no_show", "late_cancel")
# A period (with the spring change) whose previous period of the same length also has history.
COMPARED_FIRST = date(2026, 2, 24)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _practices():
    made = []
    for seed, zone, n in [(1, "America/New_York", 300), (2, "Europe/London", 120), (3, "Australia/Sydney", 40)]:
        practice = PracticeFactory(time_zone=zone)
        clinicians = make_history(practice, seed=seed, sessions=n, around=NOW)
        made.append((practice, clinicians))
    return made


def _scope(practice, clinician_id=None, first=date(2026, 1, 20), last=date(2026, 4, 20)):
    return selectors.Scope(
        practice_id=practice.pk,
        zone=zoneinfo.ZoneInfo(str(practice.time_zone)),
        first=first,
        last=last,
        clinician_id=clinician_id,
    )


def _in_scope(scope, appointment) -> bool:
    local = appointment.start.astimezone(scope.zone).date()
    return (
        appointment.practice_id == scope.practice_id
        and scope.first <= local <= scope.last
        and (scope.clinician_id is None or appointment.clinician_id == scope.clinician_id)
    )


def _direct(scope):
    return [a for a in Appointment.objects.all() if _in_scope(scope, a) and a.status in OUTCOMES]


def _views(scope):
    """(scope, figure by key) for the chosen period and for the previous one, as the compared page shows them.

    The previous period's view is built from each row's `previous` rates only (with its own
    label for weeks), so it is checked against a direct count over the previous period's rows.
    """
    now = {f.key: f for f in selectors.insights(scope)}
    compared = {f.key: f for f in selectors.insights(scope, compare=True)}

    def before(key):
        f = compared[key]
        fixed = key in ("reminders", "reengagement", "followups")
        rows = [
            selectors.Row(r.previous_label or r.label, r.previous, r.previous_extra)
            for r in f.rows
            if r.previous is not None and (fixed or any(x.total or x.count for x in r.previous))
        ]
        summary = f.summary.split("Previous period: ", 1)[1] if f.summary else ""
        return selectors.Figure(f.key, f.title, f.measures, rows, summary=summary)

    return [(scope, now.__getitem__), (scope.previous(), before)]


def _rows(figure) -> dict:
    return {row.label: [(r.count, r.total) for r in row.rates] for row in figure.rows}


def _expected_outcomes(groups: dict) -> dict:
    out = {}
    for label, appts in groups.items():
        c = Counter(a.status for a in appts)
        out[label] = [(c[s], len(appts)) for s in OUTCOMES]
    return out


def _group(appts, key) -> dict:
    groups: dict = {}
    for a in appts:
        groups.setdefault(key(a), []).append(a)
    return groups


@pytest.mark.django_db
def test_attendance_figures_match_a_direct_count_in_each_practice_and_caseload():
    for practice, clinicians in _practices():
        for clinician_id in (None, clinicians[0].pk):
            for scope, fig in _views(_scope(practice, clinician_id, first=COMPARED_FIRST)):
                appts = _direct(scope)
                zone = scope.zone
                assert appts, "the generated history has sessions in the period"

                def local(a, zone=zone):
                    return a.start.astimezone(zone)

                week = _group(appts, lambda a, local=local: local(a).date() - timedelta(days=local(a).weekday()))
                expected = {f"Week of {selectors._fmt(k)}": v for k, v in _expected_outcomes(week).items()}
                assert _rows(fig("weekly")) == expected
                weekday = _group(appts, lambda a, local=local: selectors.WEEKDAYS[local(a).weekday()])
                assert _rows(fig("weekday")) == _expected_outcomes(weekday)
                hour = _group(appts, lambda a, local=local: f"{local(a).hour:02d}:00")
                assert _rows(fig("hour")) == _expected_outcomes(hour)
                types = dict(Appointment.SessionType.choices)
                by_type = _group(appts, lambda a, types=types: types[a.session_type])
                assert _rows(fig("session_type")) == _expected_outcomes(by_type)
                modes = dict(Appointment.Modality.choices)
                assert _rows(fig("modality")) == _expected_outcomes(
                    _group(appts, lambda a, modes=modes: modes[a.modality])
                )
                leads = dict(selectors.LEAD_TIMES)

                def lead(a, leads=leads):
                    ahead = a.start - a.created_at
                    days = max((d for d in leads if ahead >= timedelta(days=d)), default=0)
                    return leads[days]

                assert _rows(fig("lead_time")) == _expected_outcomes(_group(appts, lead))
                intake = _group(
                    appts,
                    lambda a: "First sessions (intake)" if a.session_type == "intake" else "Established clients",
                )
                assert _rows(fig("intake")) == _expected_outcomes(intake)
                names = _group(appts, lambda a: a.clinician.get_full_name() or a.clinician.username)
                assert _rows(fig("clinician")) == _expected_outcomes(names)

                # The headline, and the previous period of the same length.
                before = scope.previous()
                earlier = _direct(before)
                figure = selectors.headline(scope, compare=True)
                assert list(_rows(figure).values()) == [
                    _expected_outcomes({"x": appts})["x"],
                    _expected_outcomes({"x": earlier})["x"],
                ]


@pytest.mark.django_db
def test_weeks_start_on_monday_in_the_practice_zone_across_the_dst_change():
    practice = PracticeFactory(time_zone="America/New_York")
    from tests.factories import AppointmentFactory, ClientFactory

    client = ClientFactory(practice=practice)
    # Sunday 8 March 2026, 23:30 EDT is 03:30 UTC on Monday: it belongs to the week of 2 March.
    sunday_late = AppointmentFactory(client=client, status="attended")
    Appointment.objects.filter(pk=sunday_late.pk).update(
        start=DST_SPRING + timedelta(hours=20, minutes=30), end=DST_SPRING + timedelta(hours=21, minutes=20)
    )
    # Monday 9 March 00:15 EDT is 04:15 UTC: the week of 9 March.
    monday_early = AppointmentFactory(client=client, status="no_show")
    Appointment.objects.filter(pk=monday_early.pk).update(
        start=DST_SPRING + timedelta(hours=21, minutes=15), end=DST_SPRING + timedelta(hours=22)
    )
    scope = _scope(practice)
    assert _rows(selectors.weekly(scope)) == {
        "Week of 2 Mar 2026": [(1, 1), (0, 1), (0, 1)],
        "Week of 9 Mar 2026": [(0, 1), (1, 1), (0, 1)],
    }
    assert _rows(selectors.by_hour(scope)) == {"00:00": [(0, 1), (1, 1), (0, 1)], "23:00": [(1, 1), (0, 1), (0, 1)]}
    monday, sunday = [(0, 1), (1, 1), (0, 1)], [(1, 1), (0, 1), (0, 1)]
    assert _rows(selectors.by_weekday(scope)) == {"Monday": monday, "Sunday": sunday}


@pytest.mark.django_db
def test_reasons_reminders_fees_and_reengagement_match_a_direct_count():
    for practice, clinicians in _practices():
        for clinician_id in (None, clinicians[1].pk):
            for scope, fig in _views(_scope(practice, clinician_id, first=COMPARED_FIRST)):
                every = [a for a in Appointment.objects.all() if _in_scope(scope, a)]
                ids = {a.pk for a in every}

                # What got in the way.
                told = [
                    a for a in every if a.status in ("no_show", "late_cancel") or a.client_response == "cant_make_it"
                ]
                said = MissReason.objects.filter(appointment__in=[a.pk for a in told]).exclude(reason="", text="")
                said_ids = {r.appointment_id for r in said}
                figure = fig("reasons")
                assert (
                    figure.summary.startswith(Rate(len(said_ids), len(told), "").text.split(" (")[0]) or len(told) < 5
                )
                assert f"{len(said_ids)} of {len(told)}" in figure.summary
                labels = dict(MissReason.Reason.choices) | {"": "In their own words only"}
                counts = Counter()
                for reason in {(r.appointment_id, r.reason) for r in said}:
                    counts[labels[reason[1]]] += 1
                assert {k: v[0][0] for k, v in _rows(figure).items()} == dict(counts)

                # Reminders.
                reminded_ids = set(
                    OutboxMessage.objects.filter(purpose="reminder", status="sent", appointment__in=ids).values_list(
                        "appointment_id", flat=True
                    )
                )
                reminded = [a for a in every if a.pk in reminded_ids]
                conf = [a for a in reminded if a.confirmed_at and a.status in OUTCOMES]
                unconf = [a for a in reminded if not a.confirmed_at and a.status in OUTCOMES]
                missed = ("no_show", "late_cancel")
                assert list(_rows(fig("reminders")).values()) == [
                    [(sum(1 for a in reminded if a.confirmed_at), len(reminded))],
                    [(sum(1 for a in reminded if a.client_response == "cant_make_it"), len(reminded))],
                    [(sum(1 for a in conf if a.status in missed), len(conf))],
                    [(sum(1 for a in unconf if a.status in missed), len(unconf))],
                ]

                # Fees.
                fees = list(FeeAssessment.objects.filter(missed_session__appointment__in=ids))
                figure = _rows(fig("fees"))
                assert sum(v[0][0] for v in figure.values()) == len(fees)
                charged = sum(1 for f in fees if f.state in ("proposed", "due", "paid"))
                if charged:
                    assert figure["Charged"] == [(charged, len(fees))]
                grace = sum(1 for f in fees if f.state == "not_charged" and f.rule == "grace")
                if grace:
                    assert figure["Not charged: grace"] == [(grace, len(fees))]
                waived_hardship = sum(
                    1 for f in fees if f.state == "waived" and f.changes.filter(reason_code="hardship").exists()
                )
                if waived_hardship:
                    assert figure["Waived: financial hardship"] == [(waived_hardship, len(fees))]

                # Re-engagement: each client's last live miss in the period.
                live = [m for m in NoShowEvent.objects.filter(undone_at=None) if m.appointment_id in ids]
                last: dict = {}
                for m in live:
                    c = m.appointment.client_id
                    if c not in last or m.appointment.start > last[c].appointment.start:
                        last[c] = m
                rows = []
                for days in (30, 60):
                    due = [m for m in last.values() if m.appointment.start <= NOW - timedelta(days=days)]
                    away = [
                        m
                        for m in due
                        if not Appointment.objects.filter(
                            client_id=m.appointment.client_id,
                            status="attended",
                            start__gt=m.appointment.start,
                            start__lte=m.appointment.start + timedelta(days=days),
                        ).exists()
                    ]
                    rows.append([(len(away), len(due))])
                assert list(_rows(fig("reengagement")).values()) == rows


@pytest.mark.django_db
def test_rebooking_shares_match_a_direct_count():
    for practice, _clinicians in _practices():
        for scope, fig in _views(_scope(practice, first=COMPARED_FIRST)):
            ids = {a.pk for a in Appointment.objects.all() if _in_scope(scope, a)}
            live = [m for m in NoShowEvent.objects.filter(undone_at=None) if m.appointment_id in ids]

            def rebooked(m):
                later = (
                    Appointment.objects.filter(client_id=m.appointment.client_id, created_at__gte=m.recorded_at)
                    .exclude(pk=m.appointment_id)
                    .order_by("created_at")
                    .first()
                )
                return later.created_at if later else None

            n7 = [m for m in live if m.recorded_at <= NOW - timedelta(days=7)]
            n30 = [m for m in live if m.recorded_at <= NOW - timedelta(days=30)]
            in7 = [m for m in n7 if (r := rebooked(m)) and r < m.recorded_at + timedelta(days=8)]
            in30 = [m for m in n30 if (r := rebooked(m)) and r < m.recorded_at + timedelta(days=31)]
            figure = fig("followups")
            assert _rows(figure)["All missed sessions"] == [(len(in7), len(n7)), (len(in30), len(n30))]
            sent = OutboxMessage.objects.filter(
                purpose="followup", status="sent", missed_session__in=[m.pk for m in live]
            ).count()
            message_rows = [row for row in figure.rows if row.label != "All missed sessions"]
            assert sum(row.rates[0].total for row in message_rows) <= sent
            assert {row.label.split(",")[0] for row in message_rows} <= {"First message", "Second message"}


@pytest.mark.django_db
def test_an_empty_practice_shows_no_rates_and_every_figure_still_answers():
    practice = PracticeFactory()
    figures = selectors.insights(_scope(practice), compare=True)
    assert [f.key for f in figures][:2] == ["overall", "weekly"]
    assert _rows(figures[0]) == {
        "20 Jan 2026 to 20 Apr 2026": [(0, 0)] * 3,
        "21 Oct 2025 to 19 Jan 2026 (previous period)": [(0, 0)] * 3,
    }
    assert all(rate.too_few for f in figures for row in f.rows for rate in row.rates)
    assert figures[1].rows == []


def test_small_groups_say_too_few_to_tell_and_every_rate_states_its_denominator():
    assert Rate(2, MIN_GROUP - 1).text == "too few to tell (2 of 4 sessions)"
    assert Rate(12, 140).text == "8.6% (12 of 140 sessions)"
    assert Rate(0, 5, "clients").text == "0% (0 of 5 clients)"
