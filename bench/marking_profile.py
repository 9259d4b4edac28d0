"""One process's view of a mark (`python bench/marking.py --profile`): queries and a pyinstrument profile.

Run inside Django with the bench's environment (bench/marking.py starts it after seeding). Signs a
clinician in for real through Django's test client with CSRF checks on (password, then TOTP), then
marks `--count` of their sessions as the page does (htmx POST with the X-CSRFToken header), and prints
the queries of one mark of each outcome and the profile of them all.
"""

import argparse
import json
import os
import re
import sys

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", required=True, help="the JSON line bench/marking_seed.py printed")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--html", default="", help="also write the profile as HTML here")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.production")
    django.setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from bench.marking import CSRF_IN_PAGE, OUTCOMES
    from bench.pages import totp_now

    seed = json.loads(open(args.seed).read())  # noqa: PTH123, SIM115
    # The last clinician's oldest sessions: the HTTP bench starts from the other end.
    entry = seed["clinicians"][-1]
    client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")

    def post(path: str, data: dict, **headers):
        token = client.cookies["csrftoken"].value
        return client.post(path, data, headers={"X-CSRFToken": token, **headers})

    client.get("/accounts/login/")
    assert post("/accounts/login/", {"username": entry["username"], "password": seed["password"]}).status_code == 302
    client.get("/accounts/two-factor/verify/")
    assert post("/accounts/two-factor/verify/", {"code": totp_now(entry["totp_key"])}).status_code == 302
    page = client.get("/")
    token = CSRF_IN_PAGE.search(page.content.decode()).group(1)
    sessions = list(reversed(entry["sessions"]))[: args.count + len(OUTCOMES)]

    def mark(pk: int) -> None:
        outcome = OUTCOMES[pk % len(OUTCOMES)]
        response = client.post(
            f"/appointments/{pk}/outcome/",
            {"outcome": outcome, "show_date": "0"},
            headers={"X-CSRFToken": token, "HX-Request": "true", "Origin": "http://127.0.0.1"},
        )
        row = re.search(r'data-status="([a-z_]+)"', response.content.decode())
        if response.status_code != 200 or not row or row.group(1) != outcome:
            sys.exit(f"mark {pk} ({outcome}) answered {response.status_code}")

    shown: set[str] = set()
    for pk in sessions[: len(OUTCOMES)]:  # warm up, and show one mark of each outcome's queries
        outcome = OUTCOMES[pk % len(OUTCOMES)]
        with CaptureQueriesContext(connection) as ctx:
            mark(pk)
        if outcome not in shown:
            shown.add(outcome)
            print(f"--- {outcome}: {len(ctx.captured_queries)} queries")
            for query in ctx.captured_queries:
                print(f"  {query['sql'][:220]}")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for pk in sessions[len(OUTCOMES) :]:
        mark(pk)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        with open(args.html, "w") as out:  # noqa: PTH123
            out.write(profiler.output_html())


if __name__ == "__main__":
    main()
