"""Reading a CSV export and checking each row, with no database.

The file's bytes become a `Table` (headers and rows of strings) or a
`FileProblem` with a message for a person. A mapping says which column
feeds which of our fields; `guess_mapping` proposes one from the header
names that SimplePractice and TherapyNotes exports use. `check_client_row`
and `check_session_row` turn one row into values and the list of its
problems. What needs the database (clinicians, duplicates, clashes) is
checked in imports.selectors.
"""

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
NAME_MAX = 100

CLIENTS = "clients"
SESSIONS = "sessions"


class FileProblem(Exception):
    """The whole file cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    # The spreadsheet row number of each row (the header is row 1).
    numbers: list[int]


# Our fields, in the order the mapping form shows them: (name, label, aliases).
# Aliases are compared lower-cased with spaces, underscores and dashes removed.
CLIENT_FIELDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("external_id", "Client ID", ("clientid", "accountnumber", "account", "patientid", "id", "chartnumber", "mrn")),
    ("first_name", "First name", ("firstname", "clientfirstname", "patientfirstname", "legalfirstname", "first")),
    ("last_name", "Last name", ("lastname", "clientlastname", "patientlastname", "legallastname", "last", "surname")),
    ("email", "Email", ("email", "emailaddress", "clientemail", "patientemail", "primaryemail", "e-mail")),
    (
        "phone",
        "Phone",
        ("mobilephone", "phone", "cellphone", "mobile", "phonenumber", "cell", "primaryphone", "homephone"),
    ),
    ("clinician", "Clinician", ("clinician", "primaryclinician", "provider", "assignedclinician", "therapist")),
    ("consent_email", "Consents to email", ("consenttoemail", "emailconsent", "oktoemail", "emailoptin")),
    (
        "consent_sms",
        "Consents to text messages",
        ("consenttosms", "smsconsent", "consenttotext", "textconsent", "oktotext", "textmessageconsent", "smsoptin"),
    ),
]

SESSION_FIELDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("external_id", "Client ID", ("clientid", "accountnumber", "account", "patientid", "chartnumber", "mrn")),
    ("client_name", "Client name", ("client", "clientname", "patient", "patientname", "name")),
    ("first_name", "Client first name", ("firstname", "clientfirstname", "patientfirstname")),
    ("last_name", "Client last name", ("lastname", "clientlastname", "patientlastname")),
    ("email", "Client email", ("email", "clientemail", "emailaddress")),
    ("date", "Date", ("date", "appointmentdate", "sessiondate", "dateofservice", "servicedate", "startdate")),
    ("start_time", "Start time", ("starttime", "time", "appointmenttime", "start", "from")),
    ("end_time", "End time", ("endtime", "end", "to")),
    ("duration", "Length (minutes)", ("duration", "length", "minutes", "durationminutes", "durationmin")),
    (
        "clinician",
        "Clinician",
        ("clinician", "provider", "renderingprovider", "therapist", "staff", "practitioner"),
    ),
    ("service", "Session type", ("service", "appointmenttype", "servicetype", "type", "servicecode", "cptcode")),
    ("location", "Where", ("location", "telehealth", "place", "placeofservice", "pos", "modality")),
]

FIELDS = {CLIENTS: CLIENT_FIELDS, SESSIONS: SESSION_FIELDS}
# Columns we recognise and deliberately leave out, so that no one maps them by mistake.
IGNORED = {"dateofbirth", "dob", "birthdate", "ssn", "diagnosis", "insurance"}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _key(header: str) -> str:
    return re.sub(r"[\s_\-./#()]+", "", header.lower())


def read_table(data: bytes, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> Table:
    """Decode and split a CSV file, or raise FileProblem saying what is wrong with it.

    1. Refuse what is too big, empty, a spreadsheet workbook or binary (NUL bytes).
    2. Decode as UTF-8 (with or without a byte-order mark), else Windows-1252,
       which is what Excel on Windows writes for "CSV".
    3. Split with the delimiter the header line uses (comma, semicolon or tab).
    4. The first non-blank row is the header; blank rows are skipped; more
       than `max_rows` data rows, or none, is refused.
    """
    if len(data) > max_bytes:
        raise FileProblem(f"The file is larger than {max_bytes // (1024 * 1024)} MB. Split it into smaller files.")
    if not data.strip():
        raise FileProblem("The file is empty.")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem("This is an Excel workbook, not a CSV file. In Excel choose File › Save As › CSV UTF-8.")
    if b"\x00" in data:
        raise FileProblem(
            "The file contains NUL bytes, so it is not a plain CSV text file "
            "(it may be UTF-16 or a binary file). Save it as CSV UTF-8 and upload it again."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise FileProblem(
                "The file's text encoding was not recognised (tried UTF-8 and Windows-1252). Save it as CSV UTF-8."
            ) from None
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if headers is None:
                headers = _unique_headers(cells)
                continue
            if len(rows) >= max_rows:
                raise FileProblem(
                    f"The file has more than {max_rows:,} rows. Split it into files of {max_rows:,} or fewer."
                )
            cells = [c.strip() for c in cells[: len(headers)]]
            rows.append(cells + [""] * (len(headers) - len(cells)))
            numbers.append(reader.line_num)
    except csv.Error as exc:
        raise FileProblem(f"This does not read as a CSV file (line {reader.line_num}: {exc}).") from None
    if headers is None:
        raise FileProblem("The file is empty.")
    if len(headers) < 2:
        raise FileProblem("Only one column was found. Is this a CSV file with a header row?")
    if not rows:
        raise FileProblem("The file has a header row but no data rows.")
    return Table(headers=headers, rows=rows, numbers=numbers)


def _unique_headers(cells: list[str]) -> list[str]:
    """Header names, blank ones named by position, repeats numbered, so each can be chosen."""
    seen: dict[str, int] = {}
    out = []
    for i, cell in enumerate(cells, start=1):
        name = cell.strip().lstrip("\ufeff")[:80] or f"Column {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def guess_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Our field → the header that feeds it, guessed from the names exports use.

    For each field the earliest alias that matches wins (so "Mobile Phone"
    beats "Home Phone"), and a column feeds at most one field.
    """
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_key(header), header)
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for name, _label, aliases in FIELDS[kind]:
        for alias in aliases:
            header = by_key.get(_key(alias))
            if header is not None and header not in taken and _key(header) not in IGNORED:
                mapping[name] = header
                taken.add(header)
                break
    return mapping


def clean_mapping(kind: str, headers: list[str], raw: dict[str, str]) -> dict[str, str]:
    """Keep only known fields pointing at real headers (what a form may send)."""
    names = {name for name, _label, _aliases in FIELDS[kind]}
    return {k: v for k, v in raw.items() if k in names and v in headers}


# What a row cannot do without: each entry is satisfied by any one of its fields.
REQUIRED = {
    CLIENTS: [(("first_name",), "First name"), (("last_name",), "Last name")],
    SESSIONS: [
        (("external_id", "client_name", "first_name", "last_name", "email"), "Client ID, name or email"),
        (("date", "start_time"), "Date"),
        (("start_time", "date"), "Start time"),
        (("end_time", "duration", "start_time"), "End time or length"),
    ],
}


def missing_columns(kind: str, mapping: dict[str, str]) -> list[str]:
    """What the mapping leaves out that every row needs, to say before every row complains."""
    return [label for names, label in REQUIRED[kind] if not any(mapping.get(n) for n in names)]


@dataclass
class RowCheck:
    number: int
    values: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Set when the row matches something already there: skipped, not a problem.
    duplicate: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.duplicate


def _cell(row: list[str], headers: list[str], mapping: dict[str, str], name: str) -> str:
    header = mapping.get(name)
    if header is None:
        return ""
    return row[headers.index(header)].strip()


def _text(check: RowCheck, label: str, value: str, max_length: int = NAME_MAX) -> str:
    if value.startswith(_FORMULA_START):
        check.problems.append(f"{label} starts with “{value[0]}”, which a spreadsheet would run as a formula.")
    elif len(value) > max_length:
        check.problems.append(f"{label} is longer than {max_length} characters.")
    return value


def parse_phone(value: str, country: str) -> str:
    """E.164 ("+15555550100") for a number written with or without the country code; ValueError if none."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        raise ValueError(value) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_YES = {"yes", "y", "true", "t", "1", "x", "opted in", "opt in", "ok", "consented"}
_NO = {"", "no", "n", "false", "f", "0", "opted out", "opt out", "declined"}


def parse_consent(value: str) -> bool:
    """True only for an explicit yes; ValueError for what is neither yes nor no."""
    v = value.strip().lower()
    if v in _YES:
        return True
    if v in _NO:
        return False
    raise ValueError(value)


def check_client_row(
    *, number: int, row: list[str], headers: list[str], mapping: dict[str, str], country: str
) -> RowCheck:
    """One client row: its values (names, email, E.164 phone, consent) and its problems."""
    check = RowCheck(number=number)

    def cell(name: str) -> str:
        return _cell(row, headers, mapping, name)

    first = _text(check, "First name", cell("first_name"))
    last = _text(check, "Last name", cell("last_name"))
    if not first or not last:
        check.problems.append("First and last name are both needed.")
    email = cell("email")
    if email.startswith(_FORMULA_START):
        _text(check, "Email", email)
    elif email:
        try:
            validate_email(email)
        except ValidationError:
            check.problems.append(f"“{email[:60]}” is not an email address.")
    phone = ""
    if cell("phone"):
        try:
            phone = parse_phone(cell("phone"), country)
        except ValueError:
            check.problems.append(f"“{cell('phone')[:40]}” is not a phone number we can use (country {country}).")
    consent = {}
    for name, label, contact in (("consent_email", "Email consent", email), ("consent_sms", "Text consent", phone)):
        try:
            consent[name] = parse_consent(cell(name))
        except ValueError:
            check.problems.append(f"{label} “{cell(name)[:20]}” is not yes or no.")
            consent[name] = False
        if consent[name] and not contact:
            check.problems.append(
                f"{label} is yes but there is no {'email address' if name == 'consent_email' else 'phone'}."
            )
    external_id = cell("external_id")[:100]
    check.values = {
        "external_id": external_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "clinician": cell("clinician"),
        **consent,
    }
    return check


DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y", "%m-%d-%Y", "%d %b %Y", "%b %d, %Y", "%B %d, %Y", "%a %m/%d/%Y")
TIME_FORMATS = ("%I:%M %p", "%I:%M%p", "%H:%M", "%H:%M:%S", "%I:%M:%S %p", "%I %p", "%I%p")


def parse_date(value: str) -> date:
    """US-style dates as the exports write them (month first), or ISO; ValueError otherwise."""
    v = " ".join(value.split())
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(v, fmt).date()  # noqa: DTZ007 - a calendar date, no instant
        except ValueError:
            continue
    raise ValueError(value)


def parse_time(value: str) -> time:
    v = " ".join(value.upper().replace(".", "").split())
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(v, fmt).time()  # noqa: DTZ007 - a wall-clock time, no instant
        except ValueError:
            continue
    raise ValueError(value)


def split_date_time(value: str) -> tuple[str, str]:
    """ "01/15/2027 9:00 AM" → ("01/15/2027", "9:00 AM"); a date alone keeps "" for the time."""
    v = " ".join(value.replace("T", " ").split())
    m = re.match(r"^(\S+)\s+(\d{1,2}(:\d{2}){0,2}\s*([AaPp]\.?[Mm]\.?)?)$", v)
    if m:
        return m.group(1), m.group(2)
    return v, ""


def parse_minutes(value: str) -> int:
    """ "50", "50 min", "0:50", "1 h", "1.5 hours" → minutes; ValueError otherwise."""
    v = value.strip().lower()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v)
    if m:
        return int(m.group(1)) * 60 + int(m.group(2))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hr|hrs|hours?)?", v)
    if not m:
        raise ValueError(value)
    number = float(m.group(1))
    if (m.group(2) or "m").startswith("h"):
        number *= 60
    return round(number)


def session_type_from(service: str) -> str:
    """Our session type from a service name or CPT code; individual when nothing says otherwise."""
    s = service.lower()
    if "intake" in s or "initial" in s or "90791" in s or "90792" in s:
        return "intake"
    if "couple" in s or "90847" in s:
        return "couples"
    if "family" in s or "90846" in s:
        return "family"
    if "group" in s or "90853" in s:
        return "group"
    return "individual"


_TELEHEALTH = ("tele", "video", "virtual", "online", "zoom", "remote", "02", "10")


def modality_from(location: str) -> str:
    """Telehealth when the location column says so ("Telehealth", "Video", "Yes", POS 02/10)."""
    s = location.strip().lower()
    if s in ("yes", "y", "true", "1") or any(word == s or (len(word) > 2 and word in s) for word in _TELEHEALTH):
        return "telehealth"
    return "in_person"


def local_instant(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant of a wall-clock time in `zone`; ValueError for a time the clocks skip."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError("skipped")
    return aware


def check_session_row(
    *, number: int, row: list[str], headers: list[str], mapping: dict[str, str], zone: zoneinfo.ZoneInfo
) -> RowCheck:
    """One booked-session row: who, when (read in the practice's zone), with whom, and its problems."""
    check = RowCheck(number=number)

    def cell(name: str) -> str:
        return _cell(row, headers, mapping, name)

    name = cell("client_name")
    if not name:
        name = f"{cell('first_name')} {cell('last_name')}".strip()
    if not (cell("external_id") or name or cell("email")):
        check.problems.append("No client ID, name or email says whose session this is.")
    # The date may be alone, or with the time in one cell ("01/15/2027 9:00 AM"), in
    # the date column or in the start column ("Start" holding both).
    day_text, time_text = split_date_time(cell("date") or cell("start_time"))
    start_text = split_date_time(cell("start_time"))[1] or cell("start_time") or time_text
    if start_text:
        # "9:00 AM - 9:50 AM" in one cell: the start is the first half.
        start_text, _sep, range_end = start_text.partition(" - ")
    else:
        range_end = ""
    start = end = None
    try:
        day = parse_date(day_text)
    except ValueError:
        check.problems.append(f"Date “{cell('date')[:30]}” is not a date (e.g. 01/31/2027 or 2027-01-31).")
        day = None
    try:
        at = parse_time(start_text)
    except ValueError:
        check.problems.append(f"Start time “{start_text[:20]}” is not a time (e.g. 9:00 AM or 14:30).")
        at = None
    if day is not None and at is not None:
        try:
            start = local_instant(day, at, zone)
        except ValueError:
            check.problems.append(
                f"{day:%m/%d/%Y} {at:%H:%M} does not exist in {zone.key}: the clocks go forward then."
            )
    end_text = split_date_time(cell("end_time"))[1] or cell("end_time") or range_end
    if start is not None:
        try:
            if end_text:
                end_at = parse_time(end_text)
                end = local_instant(day, end_at, zone)
                if end <= start:
                    check.problems.append("The session ends before it starts.")
            elif cell("duration"):
                minutes = parse_minutes(cell("duration"))
                if not 10 <= minutes <= 480:
                    raise ValueError(minutes)
                end = start + timedelta(minutes=minutes)
            else:
                check.problems.append("No end time or length.")
        except ValueError:
            check.problems.append("The end time or length is not understood (e.g. 9:50 AM, or 50 minutes).")
    check.values = {
        "external_id": cell("external_id")[:100],
        "client_name": name,
        "email": cell("email"),
        "start": start,
        "end": end,
        "clinician": cell("clinician"),
        "session_type": session_type_from(cell("service")),
        "modality": modality_from(cell("location")),
    }
    return check


def name_key(value: str) -> str:
    """A name compared without case, extra spaces or credentials: "Smith, Jane, LCSW" ≈ "jane smith"."""
    v = " ".join(value.lower().split())
    return v


def name_keys(value: str) -> set[str]:
    """The ways a person's name may be written in an export, for matching."""
    v = name_key(value)
    keys = {v}
    parts = [p.strip() for p in v.split(",")]
    if len(parts) >= 2:
        # "Smith, Jane" (last, first) or "Jane Smith, LCSW" (credentials).
        keys.add(f"{parts[1]} {parts[0]}")
        keys.add(parts[0])
    # "Dr. Jane Smith" → "jane smith"
    keys |= {re.sub(r"^(dr|mr|mrs|ms|mx)\.?\s+", "", k) for k in keys}
    return {k for k in keys if k}
