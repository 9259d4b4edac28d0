"""The small scripts in scripts/, run as the lead runs them."""

import json
import subprocess
import sys
from pathlib import Path

A11Y_REPORT = Path(__file__).resolve().parent.parent / "scripts" / "a11y-report"

_CLEAN = {"desktop": [], "phone": [], "widest_at_390": {"viewport": 390, "width": 390, "what": "document"}}


def _run(tmp_path, report: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "a11y-report.json"
    path.write_text(json.dumps(report))
    return subprocess.run([sys.executable, str(A11Y_REPORT), str(path)], capture_output=True, text=True, check=False)


def test_a11y_report_prints_one_row_per_page_and_passes_when_all_is_clean(tmp_path):
    result = _run(
        tmp_path,
        {
            "/week/": {"url": "/week/", **_CLEAN},
            "/r/{token}/": {"url": "/r/{token}/", "skipped": "status 404"},
            "/r/{token}/ (booked)": {"url": "/r/{token}/ (booked)", **_CLEAN},
        },
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "| page | axe violations desktop (1280 px) | axe violations phone (390 px) | widest element at 390 px |"
    )
    assert "| `/week/` | none | none | 390 px (document) |" in lines
    assert "| `/r/{token}/` | not re-opened (status 404; checked in 1 states below) | | |" in lines
    assert lines[-1] == "3 kinds of page; 0 with a problem."


def test_a11y_report_names_violations_and_too_wide_pages_and_fails(tmp_path):
    result = _run(
        tmp_path,
        {
            "/fees/": {
                "url": "/fees/",
                "desktop": [{"id": "color-contrast", "impact": "serious", "help": "…", "targets": ["a", "b"]}],
                "phone": [],
                "widest_at_390": {"viewport": 390, "width": 1004, "what": "table.table.fees"},
            }
        },
    )

    assert result.returncode == 1
    assert (
        "| `/fees/` | serious color-contrast (2×) | none | 1004 px (table.table.fees) **too wide** |" in result.stdout
    )


def test_a11y_report_without_a_report_says_how_to_make_one(tmp_path):
    result = subprocess.run(
        [sys.executable, str(A11Y_REPORT), str(tmp_path / "missing.json")], capture_output=True, text=True, check=False
    )

    assert result.returncode == 2
    assert "run the browser tests first" in result.stderr
