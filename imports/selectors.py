"""The preview: every row of an upload checked against the practice's data, in a fixed number of queries."""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from appointments.models import Appointment, Client
from practice.models import Membership

from . import parsing
from .models import ImportedClientRef, ImportUpload
from .parsing import RowCheck

User = get_user_model()


@dataclass(frozen=True)
class Preview:
    checks: list[RowCheck]

    @property
    def ready(self) -> list[RowCheck]:
        return [c for c in self.checks if c.ok]

    @property
    def with_problems(self) -> list[RowCheck]:
        return [c for c in self.checks if c.problems]

    @property
    def duplicates(self) -> list[RowCheck]:
        return [c for c in self.checks if c.duplicate and not c.problems]

    def counts(self) -> dict[str, int]:
        return {
            "rows": len(self.checks),
            "ready": len(self.ready),
            "duplicates": len(self.duplicates),
            "problems": len(self.with_problems),
        }


def uploads_for(membership: Membership | None) -> QuerySet:
    """Uploads this member may open: their practice's, and only for admins."""
    if membership is None or not membership.is_admin:
        return ImportUpload.objects.none()
    return ImportUpload.objects.filter(practice_id=membership.practice_id)


def clinicians_of(practice) -> QuerySet:
    return User.objects.filter(
        membership__practice=practice, membership__is_clinician=True, membership__is_active=True
    ).order_by("last_name", "first_name", "username")


def _clinician_lookup(practice) -> dict[str, object]:
    """Every way an export may name one of the practice's clinicians → the user (None if two share it)."""
    found: dict[str, object] = {}
    for user in clinicians_of(practice):
        keys = {user.get_username().lower(), (user.email or "").lower()}
        if user.first_name or user.last_name:
            keys |= parsing.name_keys(f"{user.first_name} {user.last_name}")
            keys |= parsing.name_keys(f"{user.last_name}, {user.first_name}")
        for key in keys - {""}:
            found[key] = user if found.get(key, user) == user else None
    return found


def _match_clinician(lookup: dict, value: str):
    """The clinician a cell names, or None; a name two clinicians share matches no one."""
    for key in sorted(parsing.name_keys(value), key=len, reverse=True):
        if lookup.get(key) is not None:
            return lookup[key]
    return None


def _phone_key(phone: str, country: str) -> str:
    try:
        return parsing.parse_phone(phone, country)
    except ValueError:
        return phone.strip()


def preview(*, upload: ImportUpload, mapping: dict | None = None, default_clinician=None) -> Preview:
    """Check every row of the upload with `mapping` (default: the upload's own)."""
    mapping = upload.mapping if mapping is None else mapping
    if upload.kind == ImportUpload.Kind.CLIENTS:
        return _preview_clients(upload, mapping, default_clinician)
    return _preview_sessions(upload, mapping)


def _preview_clients(upload: ImportUpload, mapping: dict, default_clinician) -> Preview:
    practice = upload.practice
    country = practice.country or "US"
    clinicians = _clinician_lookup(practice)
    refs = set(ImportedClientRef.objects.filter(practice=practice).values_list("external_id", flat=True))
    # What identifies a client on file → that client's id.
    emails: dict[str, int] = {}
    name_phones: dict[tuple, int] = {}
    names_without_contact: dict[tuple, int] = {}
    for pk, first, last, email, phone in Client.objects.filter(practice=practice).values_list(
        "pk", "first_name", "last_name", "email", "phone"
    ):
        name = (first.strip().lower(), last.strip().lower())
        if email:
            emails.setdefault(email.lower(), pk)
        if phone:
            name_phones.setdefault((*name, _phone_key(str(phone), country)), pk)
        if not email and not phone:
            names_without_contact.setdefault(name, pk)
    seen: dict[object, int] = {}
    checks = []
    for number, row in zip(upload.numbers, upload.rows, strict=True):
        check = parsing.check_client_row(
            number=number, row=row, headers=upload.headers, mapping=mapping, country=country
        )
        values = check.values
        if values["clinician"]:
            clinician = _match_clinician(clinicians, values["clinician"])
            if clinician is None:
                check.problems.append(f"“{values['clinician'][:60]}” is not a clinician of this practice.")
        else:
            clinician = default_clinician
            if clinician is None:
                check.problems.append("No clinician: choose one for rows without a clinician.")
        values["clinician"] = clinician
        name = (values["first_name"].lower(), values["last_name"].lower())
        keys = []
        # The client on file this row is (None: a new client).
        values["on_file"] = None
        if values["external_id"]:
            keys.append(("id", values["external_id"]))
            if values["external_id"] in refs:
                check.duplicate = f"Client ID {values['external_id']} was imported before"
        if values["email"]:
            keys.append(("email", values["email"].lower()))
            if values["email"].lower() in emails and not check.duplicate:
                check.duplicate = "A client with this email is already on file"
                values["on_file"] = emails[values["email"].lower()]
        if values["phone"]:
            keys.append(("name_phone", *name, values["phone"]))
            if (*name, values["phone"]) in name_phones and not check.duplicate:
                check.duplicate = "A client with this name and phone is already on file"
                values["on_file"] = name_phones[(*name, values["phone"])]
        if not values["email"] and not values["phone"]:
            keys.append(("name", *name))
            if name in names_without_contact and not check.duplicate:
                check.duplicate = "A client with this name and no contact details is already on file"
                values["on_file"] = names_without_contact[name]
        if not check.duplicate:
            for key in keys:
                if key in seen:
                    check.duplicate = f"Same client as row {seen[key]}"
                    break
        if check.ok:
            for key in keys:
                seen.setdefault(key, number)
        checks.append(check)
    return Preview(checks=checks)


def _preview_sessions(upload: ImportUpload, mapping: dict) -> Preview:
    practice = upload.practice
    zone = zoneinfo.ZoneInfo(str(practice.time_zone))
    now = timezone.now()
    clinicians = _clinician_lookup(practice)
    clients = {c.pk: c for c in Client.objects.filter(practice=practice).select_related("clinician")}
    by_ref = dict(ImportedClientRef.objects.filter(practice=practice).values_list("external_id", "client_id"))
    by_email: dict[str, set[int]] = {}
    by_name: dict[str, set[int]] = {}
    for client in clients.values():
        if client.email:
            by_email.setdefault(client.email.lower(), set()).add(client.pk)
        by_name.setdefault(parsing.name_key(client.full_name), set()).add(client.pk)
        by_name.setdefault(parsing.name_key(f"{client.last_name}, {client.first_name}"), set()).add(client.pk)

    checks = [
        parsing.check_session_row(number=n, row=row, headers=upload.headers, mapping=mapping, zone=zone)
        for n, row in zip(upload.numbers, upload.rows, strict=True)
    ]
    starts = [c.values["start"] for c in checks if c.values["start"] is not None]
    # The sessions already holding time around the file's range: one query, checked in memory below
    # with the booking service's rule (Appointment.holding_time, overlapping ranges).
    # (clinician, UTC date of the start) → sessions: a row is compared with three days' worth, not all.
    busy: dict[tuple, list[tuple]] = {}
    if starts:
        existing = Appointment.objects.holding_time().filter(
            practice=practice, start__lt=max(starts) + timedelta(days=1), end__gt=min(starts) - timedelta(days=1)
        )
        for a in existing.values_list("clinician_id", "start", "end", "client_id"):
            busy.setdefault((a[0], a[1].astimezone(UTC).date()), []).append((a[1], a[2], a[3], None))
    for check in checks:
        values = check.values
        client = None
        if values["external_id"]:
            client = clients.get(by_ref.get(values["external_id"]))
        if client is None:
            candidates = set()
            if values["email"]:
                candidates = by_email.get(values["email"].lower(), set())
            if not candidates and values["client_name"]:
                candidates = set()
                for key in parsing.name_keys(values["client_name"]):
                    candidates |= by_name.get(key, set())
            if len(candidates) == 1:
                client = clients[candidates.pop()]
            elif len(candidates) > 1:
                check.problems.append("More than one client matches; add a Client ID column to tell them apart.")
            else:
                check.problems.append("No client on file matches. Import the clients file first.")
        if client is not None and client.is_archived:
            check.problems.append("This client is archived.")
        values["client"] = client
        if values["clinician"]:
            clinician = _match_clinician(clinicians, values["clinician"])
            if clinician is None:
                check.problems.append(f"“{values['clinician'][:60]}” is not a clinician of this practice.")
        else:
            clinician = client.clinician if client is not None else None
        values["clinician"] = clinician
        start, end = values["start"], values["end"]
        if start is not None and start < now:
            check.problems.append("This session is in the past; only upcoming sessions are imported.")
        if check.problems or clinician is None or start is None or end is None:
            continue
        day = start.astimezone(UTC).date()
        nearby = [b for d in (-1, 0, 1) for b in busy.get((clinician.pk, day + timedelta(days=d)), [])]
        for b_start, b_end, b_client, b_row in sorted(nearby, key=lambda b: b[0]):
            if b_start < end and b_end > start:
                if b_start == start and b_client == client.pk:
                    check.duplicate = f"Already booked (row {b_row})" if b_row else "Already booked"
                else:
                    local = timezone.localtime(b_start, zone)
                    where = f"in row {b_row}" if b_row else "on file"
                    check.problems.append(
                        f"Clashes with the clinician's session at {local:%a %m/%d/%Y} "
                        f"{local.strftime('%I:%M %p').lstrip('0')} {where}."
                    )
                break
        if check.ok:
            busy.setdefault((clinician.pk, day), []).append((start, end, client.pk, check.number))
    return Preview(checks=checks)
