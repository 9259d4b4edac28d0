"""The Insights page on a large history: p50 of the whole page, and its query count.

Builds (once; a second run reuses it) one practice with 5 years of history in
PostgreSQL with bulk SQL (INSERT ... SELECT generate_series): 50 clinicians,
1,250 clients, 250,000 sessions with their missed-session records, reasons,
follow-ups, reminders and fees. With `--others 999 --other-sessions 750000`
(database bench_insights_big) 999 more practices share 750,000 sessions, so the
same practice can be measured in a database of 1,000 practices and 1,000,000
sessions.

The page is fetched through Django's test client as the practice's front desk
(everything but the network: middleware, sign-in checks, selectors, templates).

Usage:
  python bench/insights.py                                   # bench_insights, 250k
  python bench/insights.py --db bench_insights_big --others 999 --other-sessions 750000
Writes bench/results/insights-<date>.md (appends when the file exists).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_NAME = "Bench Practice"


def setup(db: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "practice.settings.test"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_practice(name: str, *, clinicians: int, clients: int, sessions: int, days: int = 1826):
    """One practice and its history, written by the database itself."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from practice.models import Membership, Practice

    User = get_user_model()
    with transaction.atomic():
        practice = Practice.objects.create(name=name, time_zone="America/New_York")
        users = User.objects.bulk_create(
            [
                User(username=f"{name[:20]}-c{i}-{practice.pk}", first_name="Clin", last_name=f"{i:02d}")
                for i in range(clinicians)
            ]
        )
        Membership.objects.bulk_create(
            [Membership(practice=practice, user=u, role="clinician", is_clinician=True) for u in users]
        )
        pid, ids = practice.pk, [u.pk for u in users]
        with connection.cursor() as cur:
            cur.execute(
                """
                INSERT INTO appointments_client (first_name, last_name, email, phone, preferred_channel, consent_email,
                    consent_sms, needs_safety_check, is_archived, created_at, updated_at, clinician_id, practice_id,
                    mention_exercises, phone_needs_review, reminders_opt_out)
                SELECT 'Client', g::text, '', '', 'email', true, false, false, false, now(), now(),
                       (%s::int[])[1 + g %% %s], %s, false, false, false
                FROM generate_series(1, %s) g
                """,
                [ids, len(ids), pid, clients],
            )
            cur.execute(
                """
                WITH c AS (SELECT id, clinician_id, row_number() OVER (ORDER BY id) - 1 AS k
                           FROM appointments_client WHERE practice_id = %(p)s),
                     s AS (SELECT g, date_trunc('hour', now() - random() * (%(days)s * interval '1 day')) AS start,
                                  random() AS r
                           FROM generate_series(1, %(n)s) g)
                INSERT INTO appointments_appointment (practice_id, client_id, clinician_id, start, "end", session_type,
                    modality, status, initiated_by, reason_code, created_at, client_response, confirmed_at)
                SELECT %(p)s, c.id, c.clinician_id, s.start, s.start + interval '50 minutes',
                       (ARRAY['intake','individual','individual','individual','couples','family','group'])
                           [1 + floor(random() * 7)::int],
                       CASE WHEN random() < 0.3 THEN 'telehealth' ELSE 'in_person' END,
                       CASE WHEN s.r < 0.78 THEN 'attended' WHEN s.r < 0.86 THEN 'no_show'
                            WHEN s.r < 0.91 THEN 'late_cancel' WHEN s.r < 0.96 THEN 'cancelled_in_time'
                            ELSE 'rescheduled' END,
                       '', '', s.start - random() * interval '40 days',
                       CASE WHEN s.r BETWEEN 0.86 AND 0.96 AND random() < 0.3 THEN 'cant_make_it' ELSE '' END,
                       CASE WHEN random() < 0.45 THEN s.start - interval '1 day' END
                FROM s JOIN c ON c.k = s.g %% %(clients)s
                -- In the order a practice writes them (roughly by date), so the table's pages
                -- hold neighbouring weeks together as they would in production.
                ORDER BY s.start
                """,
                {"p": pid, "n": sessions, "days": days, "clients": clients},
            )
            cur.execute(
                """
                INSERT INTO appointments_noshowevent (practice_id, appointment_id, kind, recorded_at, reason,
                    told_by_client, processed_at)
                SELECT practice_id, id, status, start + interval '20 minutes', '', false, start + interval '21 minutes'
                FROM appointments_appointment WHERE practice_id = %s AND status IN ('no_show', 'late_cancel')
                """,
                [pid],
            )
            cur.execute(
                """
                INSERT INTO followups_missreason (practice_id, appointment_id, missed_session_id, reason, text,
                    created_at)
                SELECT practice_id, appointment_id, id,
                       (ARRAY['unwell','transport','forgot','work_childcare','not_up_to_it','other'])
                           [1 + floor(random() * 6)::int],
                       '', recorded_at + interval '2 hours'
                FROM appointments_noshowevent WHERE practice_id = %s AND random() < 0.4
                """,
                [pid],
            )
            outbox_cols = """practice_id, purpose, idempotency_key, missed_session_id, appointment_id,
                appointment_start, reminder_number, client_id, step, kind, template_version, channel, status, due_at,
                attempts, generation, claim_token, claimed_by, provider_message_id, last_error, waiting_for_channel,
                cancel_code, cancel_reason, created_at, sent_at, delivery_detail, delivery_status"""
            cur.execute(
                f"""
                INSERT INTO followups_outboxmessage ({outbox_cols})
                SELECT e.practice_id, 'followup', 'followup:' || e.id || ':' || st.step, e.id, NULL, NULL, NULL,
                       a.client_id, st.step, st.step, 1 + floor(random() * 2)::int, 'email', 'sent',
                       e.recorded_at + interval '1 hour', 1, 0, '', '', '', '', false, '', '', e.recorded_at,
                       e.recorded_at + interval '1 hour', '', ''
                FROM appointments_noshowevent e JOIN appointments_appointment a ON a.id = e.appointment_id
                CROSS JOIN (VALUES ('first'), ('second')) st(step)
                -- random() must name a miss's column, or the planner evaluates it once per step, not per miss.
                WHERE e.practice_id = %s AND (st.step = 'first' OR random() < 0.5 + 0 * e.id)
                """,
                [pid],
            )
            cur.execute(
                f"""
                INSERT INTO followups_outboxmessage ({outbox_cols})
                SELECT practice_id, 'reminder', 'reminder:' || id || ':1', NULL, id, start, 1, client_id, '',
                       'reminder', 1, 'email', 'sent', start - interval '1 day', 1, 0, '', '', '', '', false, '', '',
                       start - interval '2 days', start - interval '1 day', '', ''
                FROM appointments_appointment WHERE practice_id = %s AND random() < 0.7
                """,
                [pid],
            )
            cur.execute(
                """
                INSERT INTO policies_feeassessment (practice_id, missed_session_id, client_id, state, amount, currency,
                    rule, rule_detail, created_at, updated_at)
                SELECT e.practice_id, e.id, a.client_id, f.state, CASE WHEN f.state = 'due' THEN 60 ELSE 0 END, 'USD',
                       f.rule, '', e.recorded_at, e.recorded_at
                FROM appointments_noshowevent e JOIN appointments_appointment a ON a.id = e.appointment_id
                CROSS JOIN LATERAL (SELECT
                    (ARRAY['due','paid','waived','not_charged','not_charged'])[1 + floor(random() * 5)::int] AS state,
                    (ARRAY['charged','grace','not_acknowledged','intake_exemption'])[1 + floor(random() * 4)::int]
                        AS rule, e.id AS _) f
                WHERE e.practice_id = %s
                """,
                [pid],
            )
            cur.execute(
                """
                INSERT INTO policies_feechange (fee_id, at, from_state, to_state, reason_code, note)
                SELECT id, created_at, 'proposed', 'waived',
                       (ARRAY['hardship','illness','emergency','clinical'])[1 + floor(random() * 4)::int], ''
                FROM policies_feeassessment WHERE practice_id = %s AND state = 'waived'
                """,
                [pid],
            )
        front = User.objects.create(username=f"frontdesk-{practice.pk}", first_name="Front", last_name="Desk")
        Membership.objects.create(practice=practice, user=front, role="front_desk")
    return practice


def ensure_data(args) -> "object":
    from django.db import connection

    from practice.models import Practice

    practice = Practice.objects.filter(name=BENCH_NAME).first()
    if practice is None:
        started = time.perf_counter()
        practice = build_practice(BENCH_NAME, clinicians=50, clients=1250, sessions=args.sessions)
        for i in range(args.others):
            build_practice(
                f"Other {i}", clinicians=2, clients=25, sessions=max(args.other_sessions // max(args.others, 1), 1)
            )
        with connection.cursor() as cur:
            # As autovacuum would have by the time anyone looks: statistics, and the visibility map
            # that lets index-only scans skip the table.
            cur.execute("VACUUM ANALYZE")
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return practice


def measure(practice, runs: int) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from appointments.models import Appointment
    from practice.models import Practice

    front = practice.memberships.get(role="front_desk").user
    client = Client()
    client.force_login(front)
    session = client.session
    session["no_second_factor"] = True
    session["last_seen"] = int(time.time())
    session.save()
    today = timezone.localdate()
    cases = [
        ("default (last 90 days)", {}),
        ("last 90 days, compared", {"compare": "on"}),
        ("one clinician, 90 days", {"clinician": practice.memberships.filter(role="clinician").first().user_id}),
        ("5 years", {"first": (today - timedelta(days=1826)).isoformat()}),
    ]
    out = []
    for label, params in cases:
        for _ in range(3):  # warm: connection, caches, plans
            assert client.get("/insights/", params).status_code == 200
        samples = []
        for _ in range(runs):
            client.session["last_seen"] = int(time.time())
            started = time.perf_counter()
            response = client.get("/insights/", params)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as ctx:
            client.get("/insights/", params)
        out.append(
            {
                "case": label,
                "p50": statistics.median(samples),
                "p90": statistics.quantiles(samples, n=10)[-1],
                "queries": len(ctx.captured_queries),
            }
        )
        print(out[-1], flush=True)
    totals = {
        "practices": Practice.objects.count(),
        "sessions": Appointment.objects.count(),
        "practice_sessions": Appointment.objects.filter(practice=practice).count(),
    }
    return out, totals


def main() -> None:
    from django.utils import timezone

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench_insights")
    parser.add_argument("--sessions", type=int, default=250_000)
    parser.add_argument("--others", type=int, default=0)
    parser.add_argument("--other-sessions", type=int, default=0)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    setup(args.db)
    practice = ensure_data(args)
    load_before = os.getloadavg()
    results, totals = measure(practice, args.runs)
    load_after = os.getloadavg()
    path = ROOT / "bench" / "results" / f"insights-{timezone.now():%Y-%m-%d}.md"
    new = not path.exists()
    with path.open("a", encoding="utf-8") as f:
        if new:
            f.write(
                "# Insights page speed\n\n`python bench/insights.py` (see its docstring). Target: p50 under 300 ms "
            )
            f.write("for a practice with 250,000 sessions; within 1.3x in a database of 1,000 practices and 1,000,000 ")
            f.write("sessions; the query count the same for any range.\n")
        f.write(
            f"\n## {args.db}: {totals['practices']} practices, {totals['sessions']:,} sessions "
            f"({totals['practice_sessions']:,} in the measured practice), {args.runs} runs each\n\n"
        )
        f.write(f"Machine: {os.cpu_count()} cores shared with other test runs; load average {load_before[0]:.1f} ")
        f.write(f"before, {load_after[0]:.1f} after.\n\n| case | p50 ms | p90 ms | queries |\n|---|---|---|---|\n")
        for r in results:
            f.write(f"| {r['case']} | {r['p50']:.0f} | {r['p90']:.0f} | {r['queries']} |\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
