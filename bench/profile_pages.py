"""In-process profiles of the staff pages (issue 11): the profiles behind docs/decisions.md, "rows".

Runs Django's test client against a bench database built by `bench/pages.py` or
`python -m bench.pages_seed`, with production settings, signed in for real as the
bench's practice admin (password, then a TOTP code). No server, so the figures
are the pages' own time (no HTTP, no gunicorn); compare pages within one run.

    export DJANGO_SETTINGS_MODULE=practice.settings.production DATABASE_URL=postgres://…/bench_rows_prof \\
        SECRET_KEY=… ALLOWED_HOSTS=testserver,127.0.0.1 SECURE_SSL_REDIRECT=false REDIS_URL=…
    python -m bench.pages_seed | tail -1 > seed.json
    python bench/profile_pages.py --seed seed.json time admin today week needs   # ms per request
    python bench/profile_pages.py --seed seed.json cprofile today                # cProfile, --sort tottime
    python bench/profile_pages.py --seed seed.json pyinstrument today            # call tree
    python bench/profile_pages.py --seed seed.json plans today                   # each query: plan + run time
    python bench/profile_pages.py --seed seed.json dbcpu today   # PostgreSQL CPU per request, per query

`ROW_CACHE_SIZE=0` in the environment turns the row cache off (every row rendered, as on
a cold process).
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {
    "admin": "/admin/",
    "today": "/",
    "week": "/week/",
    "needs": "/needs-outcome/",
    "client": "/clients/{client_id}/",
    "clients": "/clients/",
    "messages": "/messages/",
    "fees": "/fees/",
    "policies": "/policies/",
}


def signed_in(seed: dict):
    from django.test import Client

    from bench.pages import totp_now

    client = Client(HTTP_HOST="127.0.0.1")
    client.post("/accounts/login/", {"username": seed["admin"], "password": seed["password"]})
    for _ in range(3):  # a code used once is refused again: wait for the next one
        response = client.post("/accounts/two-factor/verify/", {"code": totp_now(seed["totp_key"])})
        if response.status_code == 302 and "verify" not in response.headers.get("Location", ""):
            return client
        time.sleep(31 - time.time() % 30)
    raise SystemExit("could not sign in")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["time", "cprofile", "pyinstrument", "plans", "dbcpu"])
    parser.add_argument("pages", nargs="+", choices=list(PAGES))
    parser.add_argument("--seed", required=True, help="the JSON line bench.pages_seed printed")
    parser.add_argument("-n", type=int, default=40, help="requests per page")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=50)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.production")
    import django

    django.setup()
    seed = json.loads(Path(args.seed).read_text())
    client = signed_in(seed)
    for name in args.pages:
        path = PAGES[name].format(**seed)
        for _ in range(3):  # templates compiled, connections open, rows cached
            assert client.get(path).status_code == 200, path
        if args.mode == "time":
            began, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.n):
                client.get(path)
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            print(
                f"{name:10s} {wall / args.n * 1000:7.2f} ms/request  {cpu / args.n * 1000:7.2f} ms CPU/request",
                flush=True,
            )
        elif args.mode == "cprofile":
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.n):
                client.get(path)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.lines)
            print(out.getvalue())
        elif args.mode == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(args.n):
                client.get(path)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, time="percent_of_total"))
        elif args.mode == "dbcpu":
            dbcpu(client, name, path, args.n)
        else:
            plans(client, name, path)


def plans(client, name: str, path: str) -> None:
    """Every query one request runs, with PostgreSQL's planning and execution time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    planning = execution = 0.0
    for query in ctx.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            print(f"  (write) {sql[:100]}")
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, SUMMARY) " + sql)
            text = "\n".join(row[0] for row in cursor.fetchall())
        plan = float(re.search(r"Planning Time: ([\d.]+)", text).group(1))
        run = float(re.search(r"Execution Time: ([\d.]+)", text).group(1))
        planning, execution = planning + plan, execution + run
        print(f"  plan {plan:6.3f} ms  run {run:6.3f} ms  {sql[:100]}")
    print(f"{name}: {len(ctx.captured_queries)} queries, planning {planning:.2f} ms, execution {execution:.2f} ms")


def backend_cpu_ns() -> int:
    """CPU time so far of this connection's PostgreSQL backend, in ns (/proc/<pid>/schedstat: same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def dbcpu(client, name: str, path: str, n: int) -> None:
    """PostgreSQL's CPU per request (parse, plan, run, commit), then each query's alone, replayed `n` times.

    The backend's own CPU clock, so what the database costs the machine, not what the page waits."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)
    began = backend_cpu_ns()
    for _ in range(n):
        client.get(path)
    whole = (backend_cpu_ns() - began) / n / 1e6
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    print(f"{name}: PostgreSQL CPU {whole:.2f} ms per request ({len(ctx.captured_queries)} statements)")
    for query in ctx.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "(SELECT", "WITH")):
            print(f"  (not replayed) {sql[:100]}")
            continue
        with connection.cursor() as cursor:
            began = backend_cpu_ns()
            for _ in range(n):
                cursor.execute(sql)
                cursor.fetchall()
            spent = (backend_cpu_ns() - began) / n / 1e6
        print(f"  {spent:6.3f} ms  {len(sql):5d} chars  {sql[:90]}")


if __name__ == "__main__":
    main()
