"""`make faults`: break the running system in the ways issue 8 names and count what it cost.

Starts the whole system on 127.0.0.1 (bench/faults/stack.py), runs each
scenario (bench/faults/scenarios.py) on a practice of its own, waits until
everything has settled, and prints one table; the same table goes to
bench/results/faults-<date>.md. Exits 1 if any scenario misses a target.

Environment:
  FAULTS_SCALE          1.0 (default) runs the issue's counts; 0.05 a quick run
  FAULTS_ONLY           scenario names, comma-separated (kill, redis, concurrent,
                        undo-0, undo-1, smtp, link, slot, burst,
                        steady)
  FAULTS_DATABASE_URL   postgres://postgres@127.0.0.1:5432/reconnect_faults
                        (created at the start, dropped at the end)
  FAULTS_REDIS_PORT     6390 (a redis-server started here; the port must be free)
  FAULTS_KEEP_DB        1 keeps the database for a look afterwards
"""

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.faults.stack import Stack, database_create, port_is_free  # noqa: E402

COLUMNS = (
    "scenario",
    "marks",
    "fees",
    "delivered",
    "lost",
    "doubled",
    "same-ID dup",
    "wrong",
    "500s",
    "deadlocks",
    "fee >5 s",
    "swept",
    "settled (s)",
    "targets",
)


def row(result) -> list[str]:
    settled = "not settled" if result.settled is None else f"{result.settled:.0f}"
    return [
        result.name,
        *(
            str(value)
            for value in (
                result.marks,
                result.fees,
                result.delivered,
                result.lost,
                result.doubled,
                result.same_id,
                result.wrong,
                result.errors,
                result.deadlocks,
                result.fee_late,
                result.skipped,
            )
        ),
        settled,
        "met" if result.met else "MISSED",
    ]


def table(results) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(result)) + " |" for result in results]
    return "\n".join(lines)


def main() -> int:
    scale = float(os.environ.get("FAULTS_SCALE", "1.0"))
    if not 0 < scale <= 1:
        raise SystemExit("FAULTS_SCALE takes a number above 0 and at most 1")
    only = [name.strip() for name in os.environ.get("FAULTS_ONLY", "").split(",") if name.strip()]
    redis_port = int(os.environ.get("FAULTS_REDIS_PORT", "6390"))
    if not port_is_free(redis_port):
        raise SystemExit(f"127.0.0.1:{redis_port} is in use: set FAULTS_REDIS_PORT to a free port")
    base_url = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reconnect_faults")
    started = datetime.now(UTC)
    logs = ROOT / "var" / "faults" / started.strftime("%Y%m%d-%H%M%S")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=redis_port, logs=logs)
    os.environ.update({**stack.env, "LOG_LEVEL": "WARNING"})

    import django

    django.setup()
    from django.core.management import call_command

    from bench.faults import scenarios

    unknown = set(only) - set(scenarios.SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario {sorted(unknown)}; the names are {', '.join(scenarios.SCENARIOS)}")
    chosen = [name for name in scenarios.SCENARIOS if not only or name in only]
    print(f"fault suite: scale {scale}, scenarios {', '.join(chosen)}; logs in {logs}", flush=True)
    call_command("migrate", verbosity=0)
    results = []
    try:
        stack.start()
        for name in chosen:
            print(f"  {name} ...", flush=True)
            began = time.monotonic()
            result = scenarios.SCENARIOS[name](stack, scale)
            stack.ensure_workers()
            results.append(result)
            print(
                f"    {'met' if result.met else 'MISSED'} in {time.monotonic() - began:.0f} s: "
                + "; ".join(result.notes),
                flush=True,
            )
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        if os.environ.get("FAULTS_KEEP_DB") != "1":
            drop_database()
    output = table(results)
    print()
    print(output)
    missed = [result.name for result in results if not result.met]
    print("\nall targets met" if not missed else f"\ntargets missed: {', '.join(missed)}")
    command = f"FAULTS_SCALE={scale} " + (f"FAULTS_ONLY={','.join(only)} " if only else "") + "make faults"
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"faults-{started:%Y-%m-%d}.md"
    notes = "\n".join(f"- {result.name}: " + "; ".join(result.notes) for result in results)
    with path.open("a", encoding="utf-8") as f:
        f.write(
            f"\n## {started:%Y-%m-%d %H:%M} UTC: `{command}`\n\n{output}\n\n{notes}\n\n"
            + ("All targets met.\n" if not missed else f"Targets missed: {', '.join(missed)}.\n")
        )
    print(f"written to {path.relative_to(ROOT)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
