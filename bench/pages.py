"""Staff pages against Django's own admin, in one run (issue 11): `make bench-pages`.

1. A fresh PostgreSQL database (`bench_pages` unless BENCH_PAGES_DATABASE_URL names
   another `bench_*` one), migrated, with a realistic practice (bench/pages_seed.py).
2. gunicorn with 2 sync workers and production settings over plain http. The only
   bench-only setting is SECURE_SSL_REDIRECT=false (no TLS proxy in front of it here);
   idle timeout, two-factor session state, CSRF and the audit of views all stay on.
3. A real sign-in as the practice admin: password, then a TOTP code from the device.
4. The floors from Django itself: its admin login page (anonymous) and its admin index
   for the same signed-in practice admin. Then each page, in two rounds, with a small load
   generator: threads + http.client, keep-alive off, concurrency 4, for a fixed time per
   page. Within a round the page and the logged-in floor take turns in short slices
   (`--slices`), so each page is compared with the floor measured beside it, not minutes
   earlier: the machine's speed drifts by a third within a run.
5. Prints and writes `bench/results/pages-<date>.md`: req/s, p50, p99, bytes, the CPU
   each request cost the server, PostgreSQL and the load generator (/proc), and the
   ratio of each page's req/s to both floors' (above 1 means slower than the floor).

Others may use the machine at the same time: the ratios come from the same run, and
the load average at the start and end is written with them.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import statistics
import struct
import sys
import threading
import time
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from bench.faults.stack import free_port  # noqa: E402
from bench.webstack import ServerCpu, gunicorn_running, manage, server_env  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_pages"
CONCURRENCY = 4


def totp_now(key_hex: str, step: int = 30, digits: int = 6) -> str:
    """RFC 6238, as django-otp computes it (SHA-1, 30 s, 6 digits)."""
    counter = struct.pack(">Q", int(time.time()) // step)
    digest = hmac.new(bytes.fromhex(key_hex), counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{code:0{digits}d}"


class Session:
    """Cookies and CSRF for a sign-in; then a frozen Cookie header the load threads share."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, fields: dict | None = None) -> tuple[int, dict, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        body = None
        if method == "POST":
            body = urlencode({**(fields or {}), "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            for header in response.msg.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                for name, morsel in cookie.items():
                    self.cookies[name] = morsel.value
            return response.status, dict(response.getheaders()), text
        finally:
            conn.close()

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def sign_in(self, username: str, password: str, totp_key: str) -> None:
        self.request("GET", "/accounts/login/")
        status, headers, _ = self.request("POST", "/accounts/login/", {"username": username, "password": password})
        if status != 302:
            raise RuntimeError(f"password step answered {status}")
        status, _, _ = self.request("GET", "/accounts/two-factor/verify/")
        status, headers, text = self.request("POST", "/accounts/two-factor/verify/", {"code": totp_now(totp_key)})
        if status != 302:
            raise RuntimeError(f"two-factor step answered {status}")
        status, _, _ = self.request("GET", "/")
        if status != 200:
            raise RuntimeError(f"Today after sign-in answered {status}")


def load(port: int, path: str, cookie: str, seconds: float, extra_headers: dict | None = None) -> dict:
    """Concurrency 4, keep-alive off, for `seconds`: req/s, p50 and p99 in ms, bytes, statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sizes: list[int] = []
    lock = threading.Lock()
    headers = {"Host": f"127.0.0.1:{port}", "Connection": "close", **(extra_headers or {})}
    if cookie:
        headers["Cookie"] = cookie
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status, body = 0, b""
            finally:
                conn.close()
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                statuses[status] = statuses.get(status, 0) + 1
                sizes.append(len(body))

    elapsed = threads_run([threading.Thread(target=worker) for _ in range(CONCURRENCY)])
    return {
        **latency_figures(latencies, elapsed),
        "bytes": int(statistics.median(sizes)) if sizes else 0,
        "statuses": statuses,
        "latencies": latencies,
        "elapsed": elapsed,
    }


def merged(results: list[dict]) -> dict:
    """Several slices of one page's load as one result: their requests over their summed time."""
    latencies = [took for result in results for took in result["latencies"]]
    elapsed = sum(result["elapsed"] for result in results)
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    cpu = {kind: sum(result.get("cpu", {}).get(kind, 0.0) for result in results) for kind in ServerCpu.KINDS}
    return {
        **latency_figures(latencies, elapsed),
        "bytes": max(result["bytes"] for result in results),
        "statuses": statuses,
        "latencies": latencies,
        "elapsed": elapsed,
        "cpu": cpu,
    }


class Meter:
    """`load` with the CPU each kind of process spent during it (bench/webstack.py's ServerCpu)."""

    def __init__(self, port: int, server_pid: int, database_url: str) -> None:
        self.port, self.cpu = port, ServerCpu(server_pid, database_url)

    def load(self, path: str, cookie: str, seconds: float) -> dict:
        return self.cpu.measure(lambda: load(self.port, path, cookie, seconds))


def threads_run(threads: list[threading.Thread]) -> float:
    """Start the load threads together, wait for all; the seconds they took."""
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def latency_figures(latencies: list[float], elapsed: float) -> dict:
    """Requests, req/s, p50 and p99 in ms from the requests' latencies in seconds (0 when none)."""
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0,
    }


def measure(meter: Meter, pages: list, args) -> dict[str, list[dict]]:
    """Each page in every round, after a short warm-up of both workers, measured next to the floor.

    The machine's speed drifts by up to a third within a run (other work, CPU frequency), so a
    page is not compared with a floor measured minutes earlier: in each round the logged-in floor
    and the page take turns in `args.slices` short slices each, and the page's ratio is
    the floor's requests per second in those slices ÷ the page's. The anonymous floor is measured
    once a round. results[label][round] is the page's load; results[PAIRED][label][round] the
    floor's in the slices beside it."""
    anon, signed = pages[0], pages[1]
    for _, path, page_cookie in pages:  # cached templates, imports, connections
        load(meter.port, path, page_cookie, 0.5)
    results: dict = {label: [] for label, _, _ in pages}
    results[PAIRED] = {label: [] for label, _, _ in pages[2:]}
    slice_seconds = args.seconds / args.slices
    for number in range(args.rounds):
        result = meter.load(anon[1], anon[2], args.seconds)
        results[anon[0]].append(result)
        _print(number, anon[0], result)
        floor_round = []
        for label, path, page_cookie in pages[2:]:
            floor_slices, page_slices = [], []
            for _ in range(args.slices):
                floor_slices.append(meter.load(signed[1], signed[2], slice_seconds))
                page_slices.append(meter.load(path, page_cookie, slice_seconds))
            floor, page = merged(floor_slices), merged(page_slices)
            floor_round.extend(floor_slices)
            results[label].append(page)
            results[PAIRED][label].append(floor)
            _print(number, label, page, floor)
        results[signed[0]].append(merged(floor_round) if floor_round else meter.load(signed[1], signed[2], 1.0))
    return results


PAIRED = "floor beside each page"


def ratio(results: dict, label: str, number: int) -> float:
    """× the logged-in floor in round `number`: the floor's req/s beside the page ÷ the page's."""
    page = results[label][number]
    floor = results[PAIRED][label][number] if label in results[PAIRED] else page
    return floor["rps"] / page["rps"] if page["rps"] else float("inf")


def cpu_per_request(result: dict) -> dict[str, float]:
    """Milliseconds of CPU per request, by kind of process."""
    requests = result["requests"] or 1
    return {kind: result["cpu"].get(kind, 0.0) * 1000 / requests for kind in ServerCpu.KINDS}


def _print(number: int, label: str, result: dict, floor: dict | None = None) -> None:
    cpu = cpu_per_request(result)
    beside = ""
    if floor:
        floor_cpu = cpu_per_request(floor)
        beside = (
            f"  floor beside it {floor['rps']:6.1f} req/s (CPU ms/req {floor_cpu['server']:.1f} /"
            f" {floor_cpu['postgres']:.1f})  × {floor['rps'] / result['rps']:.2f}"
        )
    print(
        f"round {number + 1}  {label:<40} {result['rps']:7.1f} req/s  p50 {result['p50']:6.1f} ms"
        f"  p99 {result['p99']:6.1f} ms  {result['bytes'] / 1024:6.1f} KB  CPU ms/req server {cpu['server']:5.1f}"
        f" db {cpu['postgres']:4.1f} load {cpu['load']:4.1f}  {result['statuses']}{beside}",
        flush=True,
    )


def database_fresh(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"bench_[a-z0-9_]+", name):
        raise SystemExit(f"the page bench uses a database named bench_*, not {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 6)))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--slices",
        type=int,
        default=int(os.environ.get("BENCH_SLICES", 3)),
        help="in each round, the page and the logged-in floor take turns this many times (seconds split between them)",
    )
    parser.add_argument("--keep", action="store_true", help="reuse the bench database as it is (no rebuild)")
    parser.add_argument(
        "--large",
        type=int,
        nargs="?",
        const=1_000_000,
        default=0,
        help="then add 1,000 practices with this many appointments (default 1M) and measure again",
    )
    parser.add_argument("--out", default=None, help="Markdown file (default bench/results/pages-<date>.md)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="PAGE",
        help="measure only these pages (labels as in the table, e.g. Today Fees), with both floors",
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DATABASE)
    port = free_port()
    env = server_env(
        environ=dict(os.environ),
        database_url=database_url,
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
        port=port,
    )
    python = sys.executable
    logs = ROOT / "var" / "bench-pages"
    logs.mkdir(parents=True, exist_ok=True)

    def run(*argv: str) -> str:
        return manage(env, *argv[1:])

    seed_file = logs / "seed.json"
    if not args.keep or not seed_file.exists():
        print("building the bench database ...", flush=True)
        database_fresh(database_url)
        run(python, "manage.py", "migrate", "--noinput")
        seed_file.write_text(run(python, "-m", "bench.pages_seed").strip().splitlines()[-1])
    run(python, "manage.py", "collectstatic", "--noinput", "-v", "0")
    seed = json.loads(seed_file.read_text())

    with gunicorn_running(env, port, logs / "gunicorn.log") as gunicorn:
        meter = Meter(port, gunicorn.pid, database_url)
        session = Session(port)
        session.sign_in(seed["admin"], seed["password"], seed["totp_key"])
        cookie = session.cookie_header()
        pages = [
            ("floor: Django admin login (anonymous)", "/admin/login/", ""),
            ("floor: Django admin index (signed in)", "/admin/", cookie),
            ("Today", "/", cookie),
            ("Week", "/week/", cookie),
            ("Needs outcome", "/needs-outcome/", cookie),
            ("Client page (60 sessions)", f"/clients/{seed['client_id']}/", cookie),
            ("Clients (500)", "/clients/", cookie),
            ("Messages", "/messages/", cookie),
            ("Fees", "/fees/", cookie),
            ("Policies", "/policies/", cookie),
        ]
        if args.only:
            unknown = set(args.only) - {label for label, _, _ in pages[2:]}
            if unknown:
                raise SystemExit(f"no such page: {', '.join(sorted(unknown))}")
            pages = pages[:2] + [page for page in pages[2:] if page[0] in args.only]
        load_before = os.getloadavg()
        results = measure(meter, pages, args)
        load_after = os.getloadavg()
        large = None
        if args.large:
            print(f"growing the database by {args.large} appointments and their rows ...", flush=True)
            began = time.monotonic()
            print(run(python, "manage.py", "bench_build_large", "--appointments", str(args.large)).strip(), flush=True)
            large = {"seconds": time.monotonic() - began, "results": measure(meter, pages, args)}

    report = render(results, pages, seed, args, load_before, load_after)
    if large is not None:
        report += render_large(results, large, pages, args)
    report += verdicts(results, large, pages)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"pages-{datetime.now(UTC).date()}.md"
    out.write_text(report)
    print(report)
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def render(results, pages, seed, args, load_before, load_after) -> str:
    anon, signed = pages[0][0], pages[1][0]
    lines = [
        f"# Staff pages against Django's own admin ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`make bench-pages` (bench/pages.py): gunicorn, 2 sync workers, production settings over plain http "
        f"(SECURE_SSL_REDIRECT=false, bench only), PostgreSQL, Redis; concurrency {CONCURRENCY}, keep-alive off, "
        f"{args.seconds:g} s per page per round, {args.rounds} rounds. Signed in for real as a practice "
        "admin (password + TOTP); idle timeout, two-factor session state and the audit of views on.",
        f"Data: Today {seed['today']} sessions, Week ~140 rows, a client with 60 sessions, 500 clients, "
        f"{seed['missed']} missed sessions with fees and messages.",
        f"Machine: {os.cpu_count()} cores; load average {load_before[0]:.2f} at the start, "
        f"{load_after[0]:.2f} at the end (above the core count, something else was running). Compare ratios "
        "(same run), not absolute figures.",
        "",
        f"In each round the logged-in floor and the page take turns, {args.slices} slices each, and the page's "
        "ratio is the floor's req/s in those slices ÷ the page's (1.0 = as fast as the floor; higher = slower). "
        "The anonymous floor is measured once a round. CPU ms/req: CPU time per request of the gunicorn "
        "processes, of PostgreSQL's backends for the bench database, and of this load generator, from /proc.",
        "",
        "Target (issue 11): at least as fast as the logged-in floor (× ≤ 1.00); Week within 2× of it.",
        "",
        "| page | round | req/s | p50 ms | p99 ms | KB | CPU ms/req server / db / load | × logged-in floor "
        "| × anonymous floor | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, _, _ in pages:
        for number, result in enumerate(results[label]):
            signed_ratio = ratio(results, label, number) if label != signed else 1.0
            anon_ratio = results[anon][number]["rps"] / result["rps"] if result["rps"] else float("inf")
            bad = {s: c for s, c in result["statuses"].items() if s != 200}
            cpu = cpu_per_request(result)
            lines.append(
                f"| {label}{' (non-200: ' + str(bad) + ')' if bad else ''} | {number + 1} | {result['rps']:.1f} | "
                f"{result['p50']:.1f} | {result['p99']:.1f} | {result['bytes'] / 1024:.1f} | "
                f"{cpu['server']:.1f} / {cpu['postgres']:.1f} / {cpu['load']:.1f} | {signed_ratio:.2f} | "
                f"{anon_ratio:.2f} | {_verdict(label, signed_ratio)} |"
            )
    return "\n".join(lines) + "\n"


# Issue 11's targets: × the logged-in floor's req/s (median of the rounds' ratios).
WITHIN_FLOOR = {"Week": 2.0}
MAX_KB = 200
MAX_LARGE_RATIO = 1.3


def verdicts(small, large, pages) -> str:
    """Each page against its target, printed and recorded for the suite (bench/summary.py)."""
    lines = ["", "## Targets (issue 11)", ""]

    def verdict(figure: str, value: float, target: float, text: str = "") -> None:
        met = value <= target
        lines.append(
            "- "
            + summary.record(
                bench="pages", figure=figure, value=text or f"{value:.2f}", target=f"≤ {target:g}", met=met
            )
        )

    for label, _, _ in pages[2:]:
        times = statistics.median(ratio(small, label, number) for number in range(len(small[label])))
        verdict(f"{label}: × the logged-in floor", times, WITHIN_FLOOR.get(label, 1.0))
        if large is not None:
            change = statistics.median(r["p50"] for r in large["results"][label]) / statistics.median(
                r["p50"] for r in small[label]
            )
            verdict(f"{label}: p50 large ÷ small database", change, MAX_LARGE_RATIO)
    heaviest = max(pages[2:], key=lambda page: max(r["bytes"] for r in small[page[0]]))[0]
    kb = max(r["bytes"] for r in small[heaviest]) / 1024
    verdict(f"largest page's HTML ({heaviest}) in KB", kb, MAX_KB, f"{kb:.0f}")
    return "\n".join(lines) + "\n"


def _verdict(label: str, ratio: float) -> str:
    """Whether a page meets issue 11's target against the logged-in floor, said plainly."""
    if label.startswith("floor:"):
        return "—"
    limit = WITHIN_FLOOR.get(label, 1.0)
    return f"{'met' if ratio <= limit else 'NOT met'} (≤ {limit:g})"


def render_large(small, large, pages, args) -> str:
    lines = [
        "",
        f"## The same practice in a database of 1,000 more practices ({args.large} more appointments, missed "
        f"sessions, fees and messages; built in {large['seconds']:.0f} s by `manage.py bench_build_large`)",
        "",
        "Target: every page's p50 within 1.3× of the small database's (same run, same server). The machine's "
        "load moves between the two halves too, so the last column divides by the logged-in floor's own "
        "large ÷ small (Django admin's index reads none of the grown tables).",
        "",
        "| page | p50 small ms | p50 large ms | large ÷ small | req/s small | req/s large | ÷ the floor's change "
        "| target ≤ 1.3 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    signed = pages[1][0]
    floor_change = statistics.median(r["p50"] for r in large["results"][signed]) / statistics.median(
        r["p50"] for r in small[signed]
    )
    for label, _, _ in pages:
        p50_small = statistics.median(r["p50"] for r in small[label])
        p50_large = statistics.median(r["p50"] for r in large["results"][label])
        rps_small = statistics.median(r["rps"] for r in small[label])
        rps_large = statistics.median(r["rps"] for r in large["results"][label])
        raw, adjusted = p50_large / p50_small, p50_large / p50_small / floor_change
        verdict = "met" if raw <= 1.3 else ("met once the load is divided out" if adjusted <= 1.3 else "NOT met")
        lines.append(
            f"| {label} | {p50_small:.1f} | {p50_large:.1f} | {raw:.2f} | {rps_small:.1f} | "
            f"{rps_large:.1f} | {adjusted:.2f} | {'—' if label.startswith('floor:') else verdict} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
