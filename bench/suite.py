"""The bench suite of issue 11, in one run: `make bench`.

Runs each bench below one after another (each measures against its own baseline taken in the
same run: Django admin's pages, django-appointment's slots endpoint, a direct SMTP send), then
writes bench/results/suite-<date>.md: every figure, its target and whether it was met, with a link
to each bench's own results file. `--quick` runs the short versions (no 1M-row database, 1,000
reminders instead of 10,000) for a first look; the figures of record come from the full run.

A bench that fails is reported as failed and the suite goes on; it exits non-zero if any failed.
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402


def benches(quick: bool) -> list[tuple[str, list[str]]]:
    return [
        ("Staff pages against Django admin", ["bench/pages.py", *([] if quick else ["--large"])]),
        ("The rebooking page against django-appointment", ["bench/rebooking.py"]),
        ("Marking outcomes over HTTP", ["bench/marking.py"]),
        (
            "The pipeline: missed sessions to fee and first message",
            ["bench/pipeline.py", *(["--count", "1000"] if quick else [])],
        ),
        ("The reminder sweep", ["bench/reminders.py", "--count", "1000" if quick else "10000"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short versions, for a first look")
    parser.add_argument("--only", action="append", default=[], help="run only benches whose script contains this")
    args = parser.parse_args()

    stamp = datetime.now(UTC)
    results = ROOT / "bench" / "results"
    summary_path = ROOT / "var" / f"bench-summary-{stamp:%Y%m%dT%H%M%S}.jsonl"
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BENCH_SUMMARY": str(summary_path)}
    ran, failed = [], []
    for title, argv in benches(args.quick):
        if args.only and not any(part in argv[0] for part in args.only):
            continue
        print(f"\n=== {title}: {' '.join(argv)}", flush=True)
        began = time.monotonic()
        before = {p: p.stat().st_mtime for p in results.glob("*.md")}
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=False)
        written = sorted(p.name for p in results.glob("*.md") if before.get(p) != p.stat().st_mtime)
        minutes = (time.monotonic() - began) / 60
        ran.append((title, argv, done.returncode, minutes, written))
        if done.returncode != 0:
            failed.append(title)

    lines = [
        f"# The bench suite ({stamp:%Y-%m-%d %H:%M} UTC){' — quick' if args.quick else ''}",
        "",
        f"`make bench{'-quick' if args.quick else ''}` (bench/suite.py) on {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} at the end. Every figure is a ratio or a rate against a baseline taken in the "
        "same run; see each bench's own file for its rounds, its machine line and its method.",
        "",
        summary.table(str(summary_path)),
        "| bench | command | exit | minutes | results |",
        "|---|---|---|---|---|",
    ]
    for title, argv, code, minutes, written in ran:
        links = ", ".join(f"[{name}]({name})" for name in written) or "—"
        lines.append(f"| {title} | `python {' '.join(argv)}` | {code} | {minutes:.1f} | {links} |")
    report = "\n".join(lines) + "\n"
    out = results / f"suite-{stamp:%Y-%m-%d}{'-quick' if args.quick else ''}.md"
    out.write_text(report)
    print("\n" + report)
    print(f"written to {out.relative_to(ROOT)}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
