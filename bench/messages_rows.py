"""Messages against the Django admin index, in-process, this tree against a baseline tree (issue 11, "msgrows").

The target: the Messages page (/messages/, 50 rows) at least as fast as the
Django admin index. Like bench/profile_pages.py (same environment, same bench
database, production settings, Django's test client, no server), but each
figure is the CPU time of the request in its own process (time.process_time:
less disturbed by the other work on a shared machine than wall time), and the
variants run in turns, round after round, so that they share the machine's load:

- `baseline`: another checkout (e.g. `git archive <commit>`), with --baseline DIR;
- `this tree`: the row cache on (the warm state of a web process);
- `this tree, cold`: ROW_CACHE_SIZE=0, every row rendered (a process's first view of a page).

    export DJANGO_SETTINGS_MODULE=practice.settings.production DATABASE_URL=postgres://…/bench_msgrows \\
        SECRET_KEY=… ALLOWED_HOSTS=testserver,127.0.0.1 SECURE_SSL_REDIRECT=false REDIS_URL=… \\
        EMAIL_URL=smtp://127.0.0.1:2 SITE_URL=http://127.0.0.1 STATIC_ROOT=var/bench-static
    python -m bench.pages_seed | tail -1 > seed.json      # a database named bench_*
    python manage.py collectstatic --noinput -v 0
    python bench/messages_rows.py --seed seed.json --baseline /tmp/base --out bench/results/msgrows-<date>.md

It prints a Markdown table (median of the rounds, ms of CPU per request and × the
admin index in the same round) and says whether the target is met.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in the variant's checkout: sign in once (the parent passes the session on), or time the pages.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.test import Client
mode, arg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "signin":
    from bench.profile_pages import signed_in
    client = signed_in(json.loads(open(arg).read()))
    print(json.dumps({k: v.value for k, v in client.cookies.items()}))
    raise SystemExit
client = Client(HTTP_HOST="127.0.0.1")
for name, value in json.loads(arg).items():
    client.cookies[name] = value
out = {}
for page, path in (("admin", "/admin/"), ("messages", "/messages/")):
    for _ in range(3):  # templates compiled, connections open, rows cached
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert page != "messages" or response.content.count(b'<tr id="message-') == 50
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        client.get(path)
    out[page] = {"cpu": (time.process_time() - cpu) / n * 1000, "wall": (time.perf_counter() - wall) / n * 1000}
print(json.dumps(out))
"""


def child(cwd: Path, *argv: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{cwd}: {done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, help="the JSON line bench.pages_seed printed")
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with (e.g. the commit before)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=40, help="requests per page and round")
    parser.add_argument("--out", default=None, help="Markdown file to write the table to")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "practice.settings.production"),
    }
    cookies = child(ROOT, "signin", str(Path(args.seed).resolve()), "0", env=env)
    variants = [("this tree", ROOT, {}), ("this tree, cold (ROW_CACHE_SIZE=0)", ROOT, {"ROW_CACHE_SIZE": "0"})]
    if args.baseline:
        variants.insert(0, ("baseline " + str(args.baseline), args.baseline, {}))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    load = [os.getloadavg()[0]]
    for round_ in range(args.rounds):
        for name, cwd, extra in variants:
            runs[name].append(json.loads(child(cwd, "time", cookies, str(args.n), env={**env, **extra})))
        load.append(os.getloadavg()[0])
        print(f"round {round_ + 1}/{args.rounds} done, load average {load[-1]:.2f}", file=sys.stderr, flush=True)

    lines = [
        f"Messages vs Django admin index, in-process (bench/messages_rows.py), {datetime.now(UTC).date()}: "
        f"{args.rounds} rounds × {args.n} requests, medians; load average {min(load):.1f}–{max(load):.1f}.",
        "",
        "| variant | admin index, ms CPU | Messages, ms CPU | Messages × admin | Messages, ms wall | target met? |",
        "|---|---:|---:|---:|---:|---|",
    ]
    verdicts = {}
    for name, _, _ in variants:
        admin = statistics.median(r["admin"]["cpu"] for r in runs[name])
        msgs = statistics.median(r["messages"]["cpu"] for r in runs[name])
        ratio = statistics.median(r["messages"]["cpu"] / r["admin"]["cpu"] for r in runs[name])
        wall = statistics.median(r["messages"]["wall"] for r in runs[name])
        verdicts[name] = ratio <= 1.0
        lines.append(
            f"| {name} | {admin:.2f} | {msgs:.2f} | {ratio:.2f} | {wall:.2f} | {'yes' if ratio <= 1.0 else 'NO'} |"
        )
    if args.baseline:
        base = statistics.median(r["messages"]["cpu"] for r in runs[variants[0][0]])
        now = statistics.median(r["messages"]["cpu"] for r in runs["this tree"])
        lines += ["", f"Messages, this tree against the baseline: {base / now:.2f}× faster (CPU per request)."]
    lines += [
        "",
        "Target (issue 11): Messages at least as fast as the Django admin index (× admin ≤ 1.00): "
        + ("MET" if verdicts["this tree"] else "NOT MET")
        + " with the row cache warm; "
        + ("met" if verdicts["this tree, cold (ROW_CACHE_SIZE=0)"] else "not met")
        + " with every row rendered.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
