"""One line per target for the bench suite (`make bench`, bench/suite.py).

Each bench calls `record(...)` for every target of issue 11 it measures. With BENCH_SUMMARY set
(the suite sets it), the line is appended to that JSON-lines file; the suite then prints one table of
every figure, its target and whether it was met. Run alone, a bench just prints its own verdicts.
"""

import json
import os


def record(*, bench: str, figure: str, value: str, target: str, met: bool) -> str:
    """Append one figure; returns the verdict line the bench prints."""
    path = os.environ.get("BENCH_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(
                json.dumps({"bench": bench, "figure": figure, "value": value, "target": target, "met": met}) + "\n"
            )
    return f"{'MET    ' if met else 'NOT MET'}  {figure}: {value} (target {target})"


def table(path: str) -> str:
    """The Markdown table of every recorded figure, in the order recorded."""
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
    out = ["| bench | figure | value | target | met |", "|---|---|---|---|---|"]
    out += [
        f"| {r['bench']} | {r['figure']} | {r['value']} | {r['target']} | {'yes' if r['met'] else '**no**'} |"
        for r in rows
    ]
    return "\n".join(out) + "\n"
