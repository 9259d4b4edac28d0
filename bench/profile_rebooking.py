"""Profile the client's rebooking page in-process (issue 11): pyinstrument over Django's test client.

    .venv/bin/python bench/profile_rebooking.py [--requests 400] [--out var/profile-rebooking.txt]

Production settings (bench/webstack.py's `server_env`: CSRF, CSP, the bad-link limit's Redis GET and the
rest on) against the bench database that `make bench-rebooking` builds (`bench_rebooking`, run it
once first), with the token it seeded (var/bench-rebooking/seed.json). Prints the queries of one
request, the mean time per request over `--requests` and pyinstrument's call tree of those requests.
No server, no network: what is left is Django's and our own work per request.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rebooking import OURS_DATABASE, REDIS_URL  # noqa: E402
from bench.webstack import server_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", default=str(ROOT / "var" / "profile-rebooking.txt"))
    args = parser.parse_args()
    seed = ROOT / "var" / "bench-rebooking" / "seed.json"
    if not seed.exists():
        raise SystemExit("run `make bench-rebooking` once first: it builds the bench database and its link")
    token = json.loads(seed.read_text())[1]["token"]
    database = os.environ.get("BENCH_REBOOKING_DATABASE_URL", OURS_DATABASE)
    os.environ.update(server_env(environ=dict(os.environ), database_url=database, redis_url=REDIS_URL, port=8000))

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1")
    path = f"/r/{token}/"
    response = client.get(path)
    if response.status_code != 200 or b'name="slot"' not in response.content:
        raise SystemExit(f"{path} answered {response.status_code} without open times: rebuild the bench database")
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    print(f"{len(queries.captured_queries)} queries:")
    for query in queries.captured_queries:
        print("   ", query["sql"][:300])
    started = time.perf_counter()
    for _ in range(args.requests):
        client.get(path)
    print(f"{(time.perf_counter() - started) / args.requests * 1000:.2f} ms per request (no profiler)")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(args.requests):
        client.get(path)
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    Path(args.out).write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
