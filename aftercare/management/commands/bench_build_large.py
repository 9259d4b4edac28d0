"""Grow a bench database to 1,000 practices with 1M appointments, missed sessions, fees and messages (issue 11).

Bench databases only: PostgreSQL, and a database whose name starts with `bench_`.
It checks free disk space first and refuses below a margin. Every table is
filled by one `INSERT ... SELECT ... FROM generate_series(...)` (or from the
rows just written), with ids chosen here so that the rows point at each other
without lookups; foreign-key triggers are off for the session while it writes
(the ids are consistent by construction), then the sequences are moved past
the new ids and the tables analysed. Columns the statement does not name get
the model field's default, so a new field with a default needs no change here.

The rows are added next to whatever is there (the page bench's practice stays
as it is): `bench/pages.py --large` measures the same practice before and after.
"""

import shutil
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction

from appointments.models import Appointment, Client, NoShowEvent
from followups.models import OutboxMessage
from policies.models import FeeAssessment
from practice.models import Membership, Practice

User = get_user_model()

# What one appointment costs on disk with its missed session, fee, message and their
# indexes, measured on PostgreSQL 15 (about 2.2 KB); rounded up.
BYTES_PER_APPOINTMENT = 3000
MARGIN_BYTES = 5 * 1024**3
CLINICIANS_PER_PRACTICE = 2
CLIENTS_PER_PRACTICE = 50


def _next_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")  # noqa: S608 - a model's table
        return cursor.fetchone()[0]


def insert_select(model, exprs: dict[str, str], from_sql: str) -> int:
    """INSERT INTO model's table SELECT ... FROM from_sql; unnamed columns get their default.

    `exprs` maps field names to SQL expressions over `from_sql`. A field with
    no expression takes its Python default, `now()` for auto_now fields, NULL
    where allowed or the empty string for blank text; anything else is an error
    here rather than a NOT NULL failure halfway through a million rows.
    """
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.name in exprs:
            expr = exprs[field.name].replace("%", "%%")  # `%` is the modulo here, not a placeholder
        elif field.primary_key:
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expr = "now()"
        elif field.has_default():
            expr = "%s"
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.db_default is not models.NOT_PROVIDED:
            continue
        elif field.null:
            expr = "NULL"
        elif isinstance(field, models.CharField | models.TextField) and field.blank:
            expr = "''"
        else:
            raise CommandError(f"bench_build_large has no value for {model.__name__}.{field.name}")
        columns.append(connection.ops.quote_name(field.column))
        values.append(expr)
    from_sql = from_sql.replace("%", "%%")
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {from_sql}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)  # always with params (maybe none), so `%%` means `%`
        return cursor.rowcount


class Command(BaseCommand):
    help = "Bench only: add 1,000 practices with 1M appointments, missed sessions, fees and messages (bench_* DB)."

    def add_arguments(self, parser):
        parser.add_argument("--practices", type=int, default=1000)
        parser.add_argument("--appointments", type=int, default=1_000_000, help="in all, spread over the practices")

    def handle(self, *args, practices: int, appointments: int, **options):
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql" or not name.startswith("bench_"):
            raise CommandError(f"bench_build_large writes only to a PostgreSQL database named bench_*, not {name!r}.")
        if practices < 1 or appointments < practices:
            raise CommandError("Give at least one practice and at least one appointment per practice.")
        self._check_disk(appointments)
        per = appointments // practices
        total = per * practices
        began = time.monotonic()
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Foreign-key triggers off for this transaction: the ids below are consistent by construction.
                cursor.execute("SET LOCAL session_replication_role = replica")
            bases = {m: _next_id(m) for m in (User, Practice, Membership, Client, Appointment, NoShowEvent)}
            bp, bu, bc = bases[Practice], bases[User], bases[Client]
            ba, be = bases[Appointment], bases[NoShowEvent]
            npr = f"generate_series(1, {practices}) AS g"
            insert_select(
                Practice, {"id": f"{bp} + g", "name": "'Large practice ' || g", "sender_name": "'Office ' || g"}, npr
            )
            users = f"generate_series(1, {practices * CLINICIANS_PER_PRACTICE}) AS g"
            insert_select(
                User,
                {
                    "id": f"{bu} + g",
                    "username": f"'bench-large-{bu}-' || g",
                    "password": "'!'",  # unusable: nobody signs in as these
                    "first_name": "'Clin'",
                    "last_name": "'Large ' || g",
                    "date_joined": "now()",
                },
                users,
            )
            insert_select(
                Membership,
                {
                    "user": f"{bu} + g",
                    "practice": f"{bp} + (g - 1) / {CLINICIANS_PER_PRACTICE} + 1",
                    "role": f"'{Membership.Role.CLINICIAN}'",
                    "is_clinician": "true",
                },
                users,
            )
            # Client g of practice p = (g-1) / 50; its clinician alternates between the practice's two.
            insert_select(
                Client,
                {
                    "id": f"{bc} + g",
                    "practice": f"{bp} + (g - 1) / {CLIENTS_PER_PRACTICE} + 1",
                    "clinician": f"{bu} + 2 * ((g - 1) / {CLIENTS_PER_PRACTICE}) + 1 + g % 2",
                    "first_name": "'Client'",
                    "last_name": "'Large ' || g",
                    "email": "'large' || g || '@example.com'",
                    "consent_email": "true",
                },
                f"generate_series(1, {practices * CLIENTS_PER_PRACTICE}) AS g",
            )
            # Appointment g: practice (g-1)/per, client k = g % 50 of that practice, one every 17 hours back.
            client = f"(((g - 1) / {per}) * {CLIENTS_PER_PRACTICE} + g % {CLIENTS_PER_PRACTICE} + 1)"
            start = f"(now() - interval '2 hours' - ((g - 1) % {per}) * interval '17 hours')"
            insert_select(
                Appointment,
                {
                    "id": f"{ba} + g",
                    "practice": f"{bp} + (g - 1) / {per} + 1",
                    "client": f"{bc} + {client}",
                    "clinician": f"{bu} + 2 * ((g - 1) / {per}) + 1 + {client} % 2",
                    "start": start,
                    "end": f"{start} + interval '50 minutes'",
                    "status": f"'{Appointment.Status.NO_SHOW}'",
                    "status_changed_at": f"{start} + interval '1 hour'",
                },
                f"generate_series(1, {total}) AS g",
            )
            insert_select(
                NoShowEvent,
                {
                    "id": f"{be} + a.id - {ba}",
                    "practice": "a.practice_id",
                    "appointment": "a.id",
                    "kind": f"'{NoShowEvent.Kind.NO_SHOW}'",
                    "recorded_at": "a.start + interval '1 hour'",
                    "processed_at": "a.start + interval '1 hour'",
                },
                f"{Appointment._meta.db_table} a WHERE a.id > {ba}",
            )
            joined = (
                f"{NoShowEvent._meta.db_table} e JOIN {Appointment._meta.db_table} a ON a.id = e.appointment_id "
                f"WHERE e.id > {be}"
            )
            insert_select(
                FeeAssessment,
                {
                    "practice": "e.practice_id",
                    "missed_session": "e.id",
                    "client": "a.client_id",
                    "state": f"(ARRAY['{FeeAssessment.State.DUE}', '{FeeAssessment.State.PAID}', "
                    f"'{FeeAssessment.State.PROPOSED}'])[e.id % 3 + 1]",
                    "amount": "60.00",
                    "rule": "'charged'",
                    "rule_detail": "'bench'",
                    "due_at": "e.recorded_at + interval '2 days'",
                    "session_start": "a.start",
                    "clinician": "a.clinician_id",
                },
                joined,
            )
            insert_select(
                OutboxMessage,
                {
                    "practice": "e.practice_id",
                    "idempotency_key": f"'bench-large:' || e.id || ':{OutboxMessage.Step.FIRST}'",
                    "missed_session": "e.id",
                    "client": "a.client_id",
                    "step": f"'{OutboxMessage.Step.FIRST}'",
                    "kind": "'first'",
                    "channel": f"'{OutboxMessage.Channel.EMAIL}'",
                    "status": f"'{OutboxMessage.Status.SENT}'",
                    "due_at": "e.recorded_at + interval '1 hour'",
                    "sent_at": "e.recorded_at + interval '1 hour'",
                    "attempts": "1",
                },
                joined,
            )
            with connection.cursor() as cursor:
                for model in (
                    User,
                    Practice,
                    Membership,
                    Client,
                    Appointment,
                    NoShowEvent,
                    FeeAssessment,
                    OutboxMessage,
                ):
                    table = model._meta.db_table
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
                    )
        with connection.cursor() as cursor:
            for model in (Practice, Client, Appointment, NoShowEvent, FeeAssessment, OutboxMessage):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
        self.stdout.write(
            f"Added {practices} practices, {total} appointments, missed sessions, fees and messages "
            f"in {time.monotonic() - began:.0f} s."
        )

    def _check_disk(self, appointments: int) -> None:
        path = "/"
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SHOW data_directory")
                path = cursor.fetchone()[0]
        except Exception:  # noqa: BLE001, S110 - not a superuser (or not PostgreSQL): measure / instead
            pass
        try:
            free = shutil.disk_usage(path).free
        except OSError:
            free = shutil.disk_usage("/").free
        need = appointments * BYTES_PER_APPOINTMENT + MARGIN_BYTES
        if free < need:
            raise CommandError(
                f"Not enough free disk space at {path}: {free / 1024**3:.1f} GB free, this needs about "
                f"{need / 1024**3:.1f} GB ({appointments} appointments and their rows, plus a "
                f"{MARGIN_BYTES / 1024**3:.0f} GB margin). Free some space or pass a smaller --appointments."
            )
        self.stdout.write(f"Disk: {free / 1024**3:.1f} GB free at {path}, about {need / 1024**3:.1f} GB needed.")
