"""The client's rebooking page against django-appointment's available-slots endpoint (issue 11).

`make bench-rebooking`. Target: our GET /r/<token>/ does at least 3x the requests per second of
django-appointment's `available_slots_ajax`, same server settings, same run.

1. `var/bench-django-appointment/`: a virtualenv with django-appointment (pinned below) and the
   same Django, gunicorn and psycopg as ours, and a minimal Django project that this script writes
   there from the text below (nothing of django-appointment is committed here).
2. Two fresh PostgreSQL databases. Ours (`bench_rebooking`): bench/pages_seed.py's practice, its
   first clinician's weekly availability (Mon-Fri 09:00-17:00, the practice's 50-minute sessions,
   10-minute buffer, half-hour grid) and a real rebooking link (ClientLink) for one of that
   clinician's client's missed sessions. Theirs (`bench_rebooking_appt`): ten staff members with the
   same working week, hourly slots and a 50-minute service, and the same booked sessions per staff
   member (09:00 and 11:00 every weekday from six weeks back to two weeks ahead).
3. Both served by gunicorn with 2 sync workers, DEBUG off, PostgreSQL with persistent connections,
   the Redis cache (db 11), the cached template loader (DEBUG off) and an access log to stdout.
   Ours runs production settings over plain http (bench/webstack.py's `server_env`): CSRF, CSP, the
   bad-link rate limit, sessions and the rest stay on.
4. Interleaved rounds (theirs, then ours, in every round) with bench/pages.py's load generator:
   concurrency 4, keep-alive off. Prints and writes `bench/results/rebooking-<date>.md`: req/s,
   p50, p99, KB and ours ÷ theirs per round, and says whether the 3x target is met.

What each request does: ours renders the whole page (14 days of open times as radio buttons, the
form, CSRF token); theirs answers JSON for one date (the widget asks once per date clicked).
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from bench.faults.stack import free_port, wait_for_port  # noqa: E402
from bench.pages import database_fresh, load  # noqa: E402
from bench.webstack import gunicorn_start, gunicorn_stop, server_env  # noqa: E402

DJANGO_APPOINTMENT = "django-appointment==3.12.0"
APPT_DIR = ROOT / "var" / "bench-django-appointment"
OURS_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_rebooking"
THEIRS_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_rebooking_appt"
REDIS_URL = "redis://127.0.0.1:6379/11"
TARGET = 3.0


# ------------------------------------------------------------------ django-appointment's side

APPT_SETTINGS = '''\
"""Written by bench/rebooking.py: the smallest project that serves django-appointment, with the
server settings Reconnect runs in production (DEBUG off, PostgreSQL with persistent connections,
Redis cache, cached template loader, the same security headers)."""
import os
from urllib.parse import urlsplit

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "phonenumber_field",
    "appointment",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,  # with DEBUG off, Django wraps these in the cached loader
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
_db = urlsplit(os.environ["DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "",
        "PORT": _db.port or "",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}
MIGRATION_MODULES = {"appointment": "appt_migrations"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/New_York"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = 31536000
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
APPOINTMENT_WEBSITE_NAME = "Bench"
'''

APPT_URLS = """\
from django.urls import include, path

urlpatterns = [path("appointment/", include("appointment.urls"))]
"""

APPT_WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
application = get_wsgi_application()
"""

APPT_MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

# Our gunicorn.conf.py logs every request to stdout; so does theirs, in gunicorn's own format.
APPT_GUNICORN_CONF = """\
accesslog = "-"
"""

APPT_SEED = '''\
"""Ten staff members with Reconnect's bench clinicians' week; prints the request to measure as JSON."""
import datetime
import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from appointment.models import Appointment, AppointmentRequest, Service, StaffMember, WorkingHours

if not connection.settings_dict["NAME"].startswith("bench_"):
    raise SystemExit("the seed writes only to a database named bench_*")
User = get_user_model()
with transaction.atomic():
    service = Service.objects.create(name="Session", duration=datetime.timedelta(minutes=50), price=0)
    client = User.objects.create_user("bench-client", "bench-client@example.com", "x", first_name="Client")
    staff = []
    for i in range(10):
        user = User.objects.create_user(f"bench-staff{i}", f"staff{i}@example.org", "x", first_name=f"Staff{i}")
        member = StaffMember.objects.create(
            user=user, slot_duration=60, lead_time=datetime.time(9), finish_time=datetime.time(17)
        )
        member.services_offered.add(service)
        # django-appointment numbers days from Sunday (0); Monday to Friday are 1-5.
        WorkingHours.objects.bulk_create(
            WorkingHours(staff_member=member, day_of_week=day, start_time=datetime.time(9), end_time=datetime.time(17))
            for day in range(1, 6)
        )
        staff.append(member)
    today = timezone.localdate()
    requests = []
    for offset in range(-42, 14):
        day = today + datetime.timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for member in staff:
            for hour in (9, 11):
                requests.append(
                    AppointmentRequest(
                        date=day,
                        start_time=datetime.time(hour),
                        end_time=datetime.time(hour, 50),
                        service=service,
                        staff_member=member,
                        id_request=f"bench{len(requests)}",
                    )
                )
    # bulk_create: AppointmentRequest.save() refuses past dates, and history is part of the data.
    requests = AppointmentRequest.objects.bulk_create(requests)
    Appointment.objects.bulk_create(
        Appointment(client=client, appointment_request=r, id_request=f"appt{r.pk}", amount_to_pay=0) for r in requests
    )
# The first weekday at least two days ahead: a whole working day, as our page offers.
day = today + datetime.timedelta(days=2)
while day.weekday() >= 5:
    day += datetime.timedelta(days=1)
print(json.dumps({"date": day.isoformat(), "staff_member": staff[0].pk, "service": service.pk}))
'''


def theirs_prepare(database_url: str) -> dict:
    """The virtualenv (once), the project (every run), a fresh database; the request to measure."""
    python = APPT_DIR / "bin" / "python"
    # The same server stack as ours (our venv's versions); django-appointment's own pins for the rest.
    pins = [f"{name}=={version(name)}" for name in ("Django", "gunicorn", "psycopg", "psycopg-binary", "redis")]
    stamp = APPT_DIR / f".installed-{hashlib.sha256(' '.join([DJANGO_APPOINTMENT, *pins]).encode()).hexdigest()[:12]}"
    if not stamp.exists():
        print(f"creating {APPT_DIR.relative_to(ROOT)} with {DJANGO_APPOINTMENT} {' '.join(pins)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(APPT_DIR)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", DJANGO_APPOINTMENT, *pins],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"pip could not install {DJANGO_APPOINTMENT}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        stamp.touch()
    project = APPT_DIR / "project"
    (project / "appt_migrations").mkdir(parents=True, exist_ok=True)
    (project / "appt_migrations" / "__init__.py").touch()
    for name, text in {
        "settings.py": APPT_SETTINGS,
        "urls.py": APPT_URLS,
        "wsgi.py": APPT_WSGI,
        "manage.py": APPT_MANAGE,
        "gunicorn.conf.py": APPT_GUNICORN_CONF,
        "seed.py": APPT_SEED,
    }.items():
        (project / name).write_text(text)
    env = theirs_env(database_url)
    database_fresh(database_url)

    def run(*argv: str) -> str:
        done = subprocess.run([str(python), *argv], cwd=project, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    run("manage.py", "makemigrations", "appointment", "-v", "0")
    run("manage.py", "migrate", "--noinput", "-v", "0")
    return json.loads(run("seed.py").strip().splitlines()[-1])


def theirs_env(database_url: str) -> dict:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "settings",
        "SECRET_KEY": f"bench-only-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }


# ------------------------------------------------------------------ our side


def seed_link() -> None:
    """Inside Django (`python bench/rebooking.py --seed-link`): availability and a rebooking link.

    The first bench clinician gets Mon-Fri 09:00-17:00 with the practice's defaults; a fresh
    link is made, through the service the follow-up uses, for the latest missed session of one of
    that clinician's clients. Prints the token and the clinician as JSON.
    """
    import django

    django.setup()
    from datetime import time as wall

    from django.contrib.auth import get_user_model
    from django.db import connection

    from appointments.models import NoShowEvent
    from appointments.services import availability_add
    from followups.services import reschedule_link_create
    from practice.models import Practice

    if not str(connection.settings_dict["NAME"]).startswith("bench_"):
        raise SystemExit("the seed writes only to a database named bench_*")
    practice = Practice.objects.get(name="Bench Practice")
    clinician = get_user_model().objects.get(username="bench-clin0")
    for weekday in range(5):
        availability_add(
            practice=practice, clinician=clinician, weekday=weekday, start_time=wall(9), end_time=wall(17), actor=None
        )
    event = (
        NoShowEvent.objects.select_related("appointment__client")
        .filter(appointment__clinician=clinician, undone_at=None)
        .latest("recorded_at")
    )
    url = reschedule_link_create(event=event, days=14)
    print(json.dumps({"token": urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1], "clinician": clinician.pk}))


def ours_prepare(database_url: str, env: dict) -> dict:
    def run(*argv: str) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    database_fresh(database_url)
    run(sys.executable, "manage.py", "migrate", "--noinput")
    run(sys.executable, "-m", "bench.pages_seed")
    run(sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0")
    return json.loads(run(sys.executable, "bench/rebooking.py", "--seed-link").strip().splitlines()[-1])


# ------------------------------------------------------------------ the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 6)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse both bench databases as the last run left them")
    parser.add_argument("--out", default=None, help="Markdown file (default bench/results/rebooking-<date>.md)")
    parser.add_argument(
        "--before",
        default=None,
        help="another checkout (e.g. /work/main) served too, on the same database: before/after",
    )
    parser.add_argument("--seed-link", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_link:
        seed_link()
        return

    logs = ROOT / "var" / "bench-rebooking"
    logs.mkdir(parents=True, exist_ok=True)
    ours_database = os.environ.get("BENCH_REBOOKING_DATABASE_URL", OURS_DATABASE)
    theirs_database = os.environ.get("BENCH_REBOOKING_APPT_DATABASE_URL", THEIRS_DATABASE)
    ours_port, theirs_port = free_port(), free_port()
    ours_env = server_env(environ=dict(os.environ), database_url=ours_database, redis_url=REDIS_URL, port=ours_port)

    seed_file = logs / "seed.json"
    if args.keep and seed_file.exists():
        theirs_seed, ours_seed = json.loads(seed_file.read_text())
    else:
        print("building both bench databases ...", flush=True)
        theirs_seed = theirs_prepare(theirs_database)
        ours_seed = ours_prepare(ours_database, ours_env)
        seed_file.write_text(json.dumps([theirs_seed, ours_seed]))

    theirs_path = (
        f"/appointment/ajax/available_slots/?selected_date={theirs_seed['date']}"
        f"&staff_member={theirs_seed['staff_member']}&service_id={theirs_seed['service']}"
    )
    targets = [
        # (label, port, path, extra headers): the endpoint answers only what its widget sends.
        ("django-appointment available_slots_ajax", theirs_port, theirs_path, {"X-Requested-With": "XMLHttpRequest"}),
        ("Reconnect GET /r/<token>/", ours_port, f"/r/{ours_seed['token']}/", {}),
        # For reference, not a target: our stack's own floor (middleware, one SELECT 1, gunicorn).
        ("reference: Reconnect /healthz/", ours_port, "/healthz/", {}),
    ]
    if args.before:
        before_port = free_port()
        targets.append((f"before: {args.before} GET /r/<token>/", before_port, f"/r/{ours_seed['token']}/", {}))
    log = (logs / "gunicorn.log").open("ab")
    servers = [
        gunicorn_start(
            env=theirs_env(theirs_database),
            port=theirs_port,
            log=log,
            app="wsgi",
            cwd=APPT_DIR / "project",
            python=str(APPT_DIR / "bin" / "python"),
        ),
        gunicorn_start(env=ours_env, port=ours_port, log=log),
    ]
    ports = [theirs_port, ours_port]
    if args.before:
        before = Path(args.before)
        servers.append(
            gunicorn_start(
                env={**ours_env, "SITE_URL": f"http://127.0.0.1:{before_port}"},
                port=before_port,
                log=log,
                cwd=before,
                python=str(before / ".venv" / "bin" / "python"),
            )
        )
        ports.append(before_port)
    try:
        for server, port in zip(servers, ports, strict=True):
            wait_for_port(port, 60, server)
        shown = check_responses(targets)
        for _label, port, path, headers in targets:  # imports, cached templates, connections
            load(port, path, "", 1.0, headers)
        load_before = os.getloadavg()
        results: dict[str, list[dict]] = {label: [] for label, *_ in targets}
        for number in range(args.rounds):
            for label, port, path, headers in targets:
                result = load(port, path, "", args.seconds, headers)
                results[label].append(result)
                print(
                    f"round {number + 1}  {label:<42} {result['rps']:7.1f} req/s  p50 {result['p50']:6.1f} ms"
                    f"  p99 {result['p99']:6.1f} ms  {result['bytes'] / 1024:6.1f} KB  {result['statuses']}",
                    flush=True,
                )
        load_after = os.getloadavg()
    finally:
        for server in servers:
            gunicorn_stop(server)
        log.close()

    report = render(results, targets, shown, args, load_before, load_after)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"rebooking-{datetime.now(UTC).date()}.md"
    out.write_text(report)
    print(report)
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def check_responses(targets) -> dict[str, str]:
    """One request each before measuring: both must answer 200 with open times, or the figures mean nothing."""
    import http.client

    shown = {}
    for label, port, path, headers in targets:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **headers})
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"{label} answered {response.status}:\n{body[:2000]}")
        if path == "/healthz/":
            shown[label] = "one SELECT 1 (JSON)"
        elif "X-Requested-With" in headers:
            data = json.loads(body)
            if not data.get("success") or not data.get("available_slots"):
                raise SystemExit(f"{label} offered no slots: {body[:1000]}")
            shown[label] = f"{len(data['available_slots'])} open times on one date (JSON)"
        else:
            count = body.count('name="slot"')
            if not count:
                raise SystemExit(f"{label} offered no open times:\n{body[:2000]}")
            shown[label] = f"{count} open times over 14 days (HTML page)"
    return shown


def render(results, targets, shown, args, load_before, load_after) -> str:
    theirs, ours = targets[0][0], targets[1][0]
    reference = targets[2][0]
    ratios = [o["rps"] / t["rps"] for o, t in zip(results[ours], results[theirs], strict=True) if t["rps"]]
    median_ratio = statistics.median(ratios)
    met = "MET" if min(ratios) >= TARGET else ("met on the median only" if median_ratio >= TARGET else "NOT MET")
    summary.record(
        bench="rebooking",
        figure="the rebooking page's req/s ÷ django-appointment's available-slots endpoint (every round)",
        value=" / ".join(f"{r:.2f}" for r in ratios),
        target=f"≥ {TARGET:g} in every round",
        met=min(ratios) >= TARGET,
    )
    lines = [
        f"# The client's rebooking page against django-appointment ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`make bench-rebooking` (bench/rebooking.py). Both: gunicorn, 2 sync workers, DEBUG off, PostgreSQL "
        f"(persistent connections), Redis cache, cached template loader, access log on; concurrency 4, keep-alive "
        f"off, {args.seconds:g} s per target per round, {args.rounds} interleaved rounds. Ours: production settings "
        "over plain http (SECURE_SSL_REDIRECT=false, bench only), the bad-link rate limit, CSRF and CSP on. "
        f"Theirs: {DJANGO_APPOINTMENT} in its own virtualenv under var/.",
        f"What each answers: ours {shown[ours]}; theirs {shown[theirs]}; the reference (our /healthz/, through "
        f"every middleware) {shown[reference]}.",
        f"Machine: {os.cpu_count()} cores; load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at "
        "the end (other work shares the machine; compare the ratios, which come from the same rounds).",
        "",
        "| target | round | req/s | p50 ms | p99 ms | KB | ours ÷ theirs (req/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, *_ in targets:
        for number, result in enumerate(results[label]):
            bad = {s: c for s, c in result["statuses"].items() if s != 200}
            ratio = f"{result['rps'] / results[theirs][number]['rps']:.2f}" if label != theirs else ""
            lines.append(
                f"| {label}{' (non-200: ' + str(bad) + ')' if bad else ''} | {number + 1} | {result['rps']:.1f} | "
                f"{result['p50']:.1f} | {result['p99']:.1f} | {result['bytes'] / 1024:.1f} | {ratio} |"
            )
    lines += [
        "",
        f"Ours ÷ theirs: {', '.join(f'{r:.2f}' for r in ratios)} (median {median_ratio:.2f}). "
        f"Target ≥ {TARGET:g}× in every round: **{met}**.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
