"""Marking outcomes over HTTP (issue 11: at least 100 marks a second): `make bench-marking`.

1. A fresh PostgreSQL database (`bench_marking` unless BENCH_MARKING_DATABASE_URL names another
   `bench_mark*` one), migrated, with the page bench's practice plus, for each of its 10
   clinicians, `--per-clinician` past sessions still needing an outcome (bench/marking_seed.py).
2. A Redis of its own (redis-server on port 6392; BENCH_REDIS_URL to use another) for the cache
   and the broker. No Celery worker runs: each mark's on-commit wake-ups wait in the queue, which
   is counted at the end (one per miss and per freed time, none lost, none doubled).
3. gunicorn, 2 sync workers, production settings over plain http (bench/webstack.py): idle
   timeout, two-factor session state, CSRF and the audit all stay on.
4. Every clinician signs in for real (password, then a TOTP code from their app), opens Today for
   the page's CSRF token, and marks their own sessions as the row's buttons do: an htmx POST with
   the X-CSRFToken header, HX-Request, Origin and the row's `hx-vals`. Each request marks a
   different session; the outcomes cycle attended 60%, no-show 25%, late cancel 15%.
5. In interleaved rounds: the logged-in floor (Django admin's index for the signed-in practice
   admin, as bench/pages.py measures it), then marks at concurrency 4 and at 8. Then, with
   `--outage`, the same marks while Redis is stopped (a broker outage must not slow marks).
6. Checks every mark in the database: each session in the chosen status, exactly one missed
   session (NoShowEvent) per no-show and late cancel, exactly one audit row per mark; counts
   the broker's connections per mark.
7. Prints and writes `bench/results/marking-<date>.md`, saying whether the target is met.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from bench.faults.stack import free_port, wait_for_port  # noqa: E402
from bench.pages import Session, database_fresh, latency_figures, load, threads_run  # noqa: E402
from bench.webstack import ServerCpu, gunicorn_running, manage, server_env  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_marking"
REDIS_PORT = 6392
TARGET = 100.0  # marks per second
QUIET_FLOOR = 145.0  # the logged-in floor's req/s on this machine alone (issue 11's table: 143-146)
# 20 marks: 12 attended, 5 no-shows, 3 late cancels.
OUTCOMES = ["attended"] * 12 + ["no_show"] * 5 + ["late_cancel"] * 3
CSRF_IN_PAGE = re.compile(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'')
STATUS_IN_ROW = re.compile(r'<tr id="appt-(\d+)" data-status="([a-z_]+)"')


class Marker:
    """One signed-in clinician: their cookies, the page's CSRF token and the sessions left to mark."""

    def __init__(self, port: int, entry: dict, password: str) -> None:
        session = Session(port)
        session.sign_in(entry["username"], password, entry["totp_key"])
        status, _, text = session.request("GET", "/")
        found = CSRF_IN_PAGE.search(text)
        if status != 200 or not found:
            raise RuntimeError(f"Today for {entry['username']} answered {status} without a CSRF token")
        self.cookie = session.cookie_header()
        self.csrf = found.group(1)
        self.sessions = deque(entry["sessions"])
        self.lock = threading.Lock()

    def next_session(self) -> int | None:
        with self.lock:
            return self.sessions.popleft() if self.sessions else None


def mark_load(port: int, markers: list[Marker], concurrency: int, seconds: float, marked: dict) -> dict:
    """`concurrency` threads, thread i marking as clinician i, keep-alive off, for `seconds`."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    wrong_row = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    ran_out = threading.Event()

    def worker(marker: Marker) -> None:
        nonlocal wrong_row
        while time.monotonic() < stop_at:
            pk = marker.next_session()
            if pk is None:
                ran_out.set()
                return
            outcome = OUTCOMES[pk % len(OUTCOMES)]
            body = urlencode({"outcome": outcome, "show_date": "0"})
            headers = {
                "Host": f"127.0.0.1:{port}",
                "Connection": "close",
                "Cookie": marker.cookie,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": marker.csrf,
                "Origin": f"http://127.0.0.1:{port}",
                "HX-Request": "true",
                "HX-Target": f"appt-{pk}",
                "HX-Current-URL": f"http://127.0.0.1:{port}/needs-outcome/",
            }
            began = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("POST", f"/appointments/{pk}/outcome/", body, headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", errors="replace")
                status = response.status
            except (OSError, http.client.HTTPException):
                status, text = 0, ""
            finally:
                conn.close()
            took = time.perf_counter() - began
            row = STATUS_IN_ROW.search(text)
            with lock:
                latencies.append(took)
                statuses[status] += 1
                marked[pk] = outcome
                if status == 200 and not (row and int(row.group(1)) == pk and row.group(2) == outcome):
                    wrong_row += 1

    elapsed = threads_run(
        [threading.Thread(target=worker, args=(markers[i % len(markers)],)) for i in range(concurrency)]
    )
    return {
        **latency_figures(latencies, elapsed),
        "statuses": dict(statuses),
        "errors": sum(c for s, c in statuses.items() if s != 200) + wrong_row,
        "ran_out": ran_out.is_set(),
    }


def redis_start(port: int, logs: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=(logs / "redis.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, 10, process)
    return process


def redis_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def verify(database_url: str, marked: dict[int, str]) -> dict:
    """What the database says about every mark that was sent."""
    import psycopg

    ids = list(marked)
    with psycopg.connect(database_url) as conn:
        status = dict(conn.execute("SELECT id, status FROM appointments_appointment WHERE id = ANY(%s)", [ids]))
        misses = dict(
            conn.execute(
                "SELECT appointment_id, count(*) FROM appointments_noshowevent WHERE appointment_id = ANY(%s) "
                "GROUP BY appointment_id",
                [ids],
            )
        )
        audits = dict(
            conn.execute(
                "SELECT object_id, count(*) FROM practice_auditevent WHERE action = 'appointment.outcome_recorded' "
                "AND object_type = 'appointments.appointment' AND object_id = ANY(%s) GROUP BY object_id",
                [ids],
            )
        )
        outbox = conn.execute(
            "SELECT count(*) FROM followups_outboxmessage o JOIN appointments_noshowevent e "
            "ON e.id = o.missed_session_id WHERE e.appointment_id = ANY(%s)",
            [ids],
        ).fetchone()[0]
    wrong_status = [pk for pk, outcome in marked.items() if status.get(pk) != outcome]
    miss_ids = [pk for pk, outcome in marked.items() if outcome in ("no_show", "late_cancel")]
    return {
        "marks": len(marked),
        "wrong_status": len(wrong_status),
        "misses": len(miss_ids),
        "misses_not_one_record": sum(1 for pk in miss_ids if misses.get(pk, 0) != 1),
        "records_for_attended": sum(misses.get(pk, 0) for pk, o in marked.items() if o == "attended"),
        "audit_not_one": sum(1 for pk in ids if audits.get(pk, 0) != 1),
        "outbox_rows": outbox,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", default="4,8", help="comma-separated thread counts (default 4,8)")
    parser.add_argument(
        "--per-clinician",
        type=int,
        default=2500,
        help="sessions to mark per clinician (enough for the rounds and the outage at ~200 marks/s)",
    )
    parser.add_argument("--outage", type=float, default=6.0, help="seconds of marks with Redis stopped (0: none)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="instead: profile this many marks in one process (bench/marking_profile.py)",
    )
    parser.add_argument("--out", default=None, help="Markdown file (default bench/results/marking-<date>.md)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    database_url = os.environ.get("BENCH_MARKING_DATABASE_URL", DEFAULT_DATABASE)
    if not database_url.rsplit("/", 1)[-1].startswith("bench_mark"):
        raise SystemExit("the marking bench uses a database named bench_mark*")
    logs = ROOT / "var" / "bench-marking"
    logs.mkdir(parents=True, exist_ok=True)
    own_redis = "BENCH_REDIS_URL" not in os.environ
    redis_url = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:{REDIS_PORT}/0")
    redis = redis_start(REDIS_PORT, logs) if own_redis else None
    port = free_port()
    env = server_env(environ=dict(os.environ), database_url=database_url, redis_url=redis_url, port=port)
    try:
        print("building the bench database ...", flush=True)
        database_fresh(database_url)
        manage(env, "manage.py", "migrate", "--noinput")
        seed = json.loads(
            manage(env, "-m", "bench.marking_seed", "--per-clinician", str(args.per_clinician)).strip().splitlines()[-1]
        )
        manage(env, "manage.py", "collectstatic", "--noinput", "-v", "0")
        (logs / "seed.json").write_text(json.dumps(seed))
        if args.profile:
            print(
                manage(
                    env,
                    "-m",
                    "bench.marking_profile",
                    "--seed",
                    str(logs / "seed.json"),
                    "--count",
                    str(args.profile),
                    "--html",
                    str(logs / "profile.html"),
                )
            )
            return
        report, marked = run(args, levels, env, port, seed, redis_url, redis, logs)
    finally:
        if redis is not None and redis.poll() is None:
            redis_stop(redis)

    checked = verify(database_url, marked)
    report += render_checks(checked)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"marking-{datetime.now(UTC).date()}.md"
    out.write_text(report)
    print(report)
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def broker_state(redis_url: str, queue: str) -> tuple[int, int]:
    """(connections the server has accepted so far, messages waiting in the queue)."""
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_url)
    try:
        return client.info("stats")["total_connections_received"], client.llen(queue)
    finally:
        client.close()


def run(args, levels, env, port, seed, redis_url, redis, logs) -> tuple[str, dict]:
    marked: dict[int, str] = {}
    results: dict[str, list[dict]] = {}
    floor_label = "floor: Django admin index (signed in)"
    with gunicorn_running(env, port, logs / "gunicorn.log") as gunicorn:
        cpu = ServerCpu(gunicorn.pid, env["DATABASE_URL"])
        admin = Session(port)
        admin.sign_in(seed["admin"], seed["password"], seed["totp_key"])
        admin_cookie = admin.cookie_header()
        markers = [Marker(port, entry, seed["password"]) for entry in seed["clinicians"]]
        # Warm both workers (imports, cached templates, connections) on the floor and on marks.
        load(port, "/admin/", admin_cookie, 0.5)
        mark_load(port, markers, 4, 0.5, marked)
        connections_before, _ = broker_state(redis_url, "reconnect")
        marks_before = len(marked)
        load_before = os.getloadavg()
        for number in range(args.rounds):
            plan = [(floor_label, None)] + [(f"marks, concurrency {c}", c) for c in levels]
            for label, concurrency in plan:
                if concurrency is None:
                    result = cpu.measure(lambda: load(port, "/admin/", admin_cookie, args.seconds))
                    result["errors"] = sum(c for s, c in result["statuses"].items() if s != 200)
                else:
                    result = cpu.measure(
                        lambda c=concurrency: mark_load(port, markers, c, args.seconds, marked)  # noqa: B023
                    )
                results.setdefault(label, []).append(result)
                print(
                    f"round {number + 1}  {label:<40} {result['rps']:7.1f} req/s  p50 {result['p50']:6.1f} ms"
                    f"  p99 {result['p99']:6.1f} ms  server CPU {result['cpu_ms']:5.1f} ms/req  {result['statuses']}",
                    flush=True,
                )
        load_after = os.getloadavg()
        connections_after, queued = broker_state(redis_url, "reconnect")
        in_rounds = dict(marked)
        broker = {
            "connections": connections_after - connections_before,
            "marks": len(marked) - marks_before,
            "queued": queued,
            # One process_missed_session per miss; past sessions free no time for the waitlist.
            "expected": sum(1 for o in in_rounds.values() if o in ("no_show", "late_cancel")),
        }
        outage = None
        if args.outage and redis is not None:
            redis_stop(redis)
            outage = mark_load(port, markers, levels[0], args.outage, marked)
            print(
                f"Redis stopped  marks, concurrency {levels[0]}  {outage['rps']:7.1f} req/s"
                f"  p50 {outage['p50']:6.1f} ms  p99 {outage['p99']:6.1f} ms  {outage['statuses']}",
                flush=True,
            )
    report = render(results, floor_label, levels, args, seed, load_before, load_after, broker, outage)
    return report, marked


def render(results, floor_label, levels, args, seed, load_before, load_after, broker, outage) -> str:
    lines = [
        f"# Marking outcomes over HTTP ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "`make bench-marking` (bench/marking.py): gunicorn, 2 sync workers, production settings over plain http "
        "(SECURE_SSL_REDIRECT=false, bench only), PostgreSQL, Redis (cache and broker, no Celery worker: the "
        f"wake-ups wait in the queue). {len(seed['clinicians'])} clinicians signed in for real (password + TOTP), "
        "each marking their own sessions with the page's htmx POST (CSRF token, HX-Request); every request marks "
        "a different session (attended 60%, no-show 25%, late cancel 15%). Keep-alive off, "
        f"{args.seconds:g} s per load per round, {args.rounds} interleaved rounds. Idle timeout, two-factor "
        "session state, CSRF and the audit on.",
        f"Machine: {os.cpu_count()} cores; load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at "
        "the end (others share it: compare ratios from the same run, not absolute figures).",
        "",
        "× floor = the floor's req/s ÷ the marks' req/s in the same round (1.0 = as fast as Django admin's index).",
        "",
        "Server CPU = the gunicorn workers' and their PostgreSQL backends' CPU time per request (from /proc): "
        "what a request costs the server, which moves much less with the machine's load than req/s does.",
        "",
        "| load | round | req/s | p50 ms | p99 ms | errors | × logged-in floor (req/s) | server CPU ms/req "
        "| × floor (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rounds in results.items():
        for number, result in enumerate(rounds):
            ratio = results[floor_label][number]["rps"] / result["rps"] if result["rps"] else float("inf")
            cpu_ratio = result["cpu_ms"] / results[floor_label][number]["cpu_ms"]
            note = " (ran out of sessions)" if result.get("ran_out") else ""
            lines.append(
                f"| {label}{note} | {number + 1} | {result['rps']:.1f} | {result['p50']:.1f} | {result['p99']:.1f} | "
                f"{result['errors']} | {ratio:.2f} | {result['cpu_ms']:.1f} | {cpu_ratio:.2f} |"
            )
    lines.append("")
    floor = statistics.median(r["rps"] for r in results[floor_label])
    floor_cpu = statistics.median(r["cpu_ms"] for r in results[floor_label])
    for concurrency in levels:
        rounds = results[f"marks, concurrency {concurrency}"]
        ratio = floor / statistics.median(r["rps"] for r in rounds)
        cpu_ratio = statistics.median(r["cpu_ms"] for r in rounds) / floor_cpu
        lines.append(
            f"- Concurrency {concurrency}: a mark costs {ratio:.2f}× the logged-in floor in req/s and {cpu_ratio:.2f}× "
            f"in server CPU (medians of rounds). On a quiet machine, where the floor did {QUIET_FLOOR:.0f} req/s "
            f"(issue 11), these would be ≈ {QUIET_FLOOR / ratio:.0f} and ≈ {QUIET_FLOOR / cpu_ratio:.0f} marks/s "
            "(estimates, not measurements)."
        )
        worst = min(r["rps"] for r in rounds)
        met = worst >= TARGET and all(r["errors"] == 0 for r in rounds)
        lines.append(
            f"- Target ≥ {TARGET:.0f} marks/s at concurrency {concurrency}: "
            f"**{'met' if met else 'NOT met'}** (slowest round {worst:.1f} marks/s, "
            f"{sum(r['errors'] for r in rounds)} errors)."
        )
        summary.record(
            bench="marking",
            figure=f"marks a second over HTTP, 2 gunicorn workers, concurrency {concurrency} (slowest round)",
            value=f"{worst:.1f} ({ratio:.2f}× the logged-in floor's time)",
            target=f"≥ {TARGET:.0f}, no errors",
            met=met,
        )
    per_mark = broker["connections"] / broker["marks"] if broker["marks"] else 0
    lines.append(
        f"- Broker: {broker['connections']} new Redis connections for {broker['marks']} marks "
        f"({per_mark:.3f} per mark: connections are {'reused' if per_mark < 0.05 else 'NOT reused'}); "
        f"{broker['queued']} wake-ups queued for {broker['expected']} misses (warm-up included; one each): "
        f"{'none lost or doubled' if broker['queued'] == broker['expected'] else 'MISMATCH'}."
    )
    if outage is not None:
        up = results[f"marks, concurrency {levels[0]}"]
        rps_ratio = outage["rps"] / statistics.median(r["rps"] for r in up)
        p50_ratio = outage["p50"] / statistics.median(r["p50"] for r in up)
        # No verdict from no marks: a round that ran out of sessions (or made none) says nothing.
        measured = outage["requests"] > 0 and not outage.get("ran_out")
        slowed = p50_ratio > 1.3 or outage["errors"]
        verdict = "NOT MEASURED: no sessions left to mark" if not measured else "SLOWED" if slowed else "not slowed"
        lines.append(
            f"- Redis stopped (cache and broker away), concurrency {levels[0]}, {args.outage:g} s: "
            f"{outage['rps']:.1f} marks/s, p50 {outage['p50']:.1f} ms, p99 {outage['p99']:.1f} ms, "
            f"{outage['errors']} errors: {rps_ratio:.2f}× the marks/s and {p50_ratio:.2f}× the p50 of the rounds "
            f"with Redis up, just before (**{verdict}**: p50 within 1.3×; a failed "
            "wake-up pauses the broker for 5 s per process, the beat sweeps find the misses whose wake-up was skipped)."
        )
    return "\n".join(lines) + "\n"


def render_checks(checked: dict) -> str:
    ok = (
        checked["wrong_status"] == 0
        and checked["misses_not_one_record"] == 0
        and checked["records_for_attended"] == 0
        and checked["audit_not_one"] == 0
    )
    return (
        f"- In the database, over all {checked['marks']} marks sent (warm-up and outage included): "
        f"{checked['wrong_status']} sessions not in the chosen status; {checked['misses_not_one_record']} of "
        f"{checked['misses']} misses without exactly one missed-session record "
        f"({checked['records_for_attended']} records on attended sessions); {checked['audit_not_one']} marks "
        f"without exactly one audit row; {checked['outbox_rows']} follow-up rows planned. "
        f"**{'All correct' if ok else 'NOT correct'}.**\n"
    )


if __name__ == "__main__":
    main()
