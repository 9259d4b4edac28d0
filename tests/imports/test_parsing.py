"""Reading CSV exports and checking rows, with no database."""

import zoneinfo
from datetime import UTC, date, datetime, time

import pytest

from imports import parsing
from imports.parsing import FileProblem, check_client_row, check_session_row, guess_mapping, read_table

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

SIMPLEPRACTICE_CLIENTS = (
    "Client ID,First Name,Last Name,Email,Home Phone,Mobile Phone,Date of Birth,Clinician\r\n"
    "SP-1,Ana,Alvarez,ana@example.com,(212) 555-0100,(646) 555-0111,01/02/1990,Jane Smith\r\n"
)
THERAPYNOTES_SESSIONS = (
    "Account Number,Patient Name,Date,Start Time,End Time,Rendering Provider,Service,Location\n"
    'A100,Ana Alvarez,03/15/2027,9:00 AM,9:50 AM,"Smith, Jane",Psychotherapy 53 min (90837),Telehealth\n'
)


def test_simplepractice_client_headers_are_guessed_and_date_of_birth_is_left_out():
    table = read_table(SIMPLEPRACTICE_CLIENTS.encode())
    mapping = guess_mapping("clients", table.headers)
    assert mapping == {
        "external_id": "Client ID",
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        # Mobile before home: texts need a mobile.
        "phone": "Mobile Phone",
        "clinician": "Clinician",
    }
    assert "Date of Birth" not in mapping.values()


def test_therapynotes_session_headers_are_guessed():
    table = read_table(THERAPYNOTES_SESSIONS.encode())
    assert guess_mapping("sessions", table.headers) == {
        "external_id": "Account Number",
        "client_name": "Patient Name",
        "date": "Date",
        "start_time": "Start Time",
        "end_time": "End Time",
        "clinician": "Rendering Provider",
        "service": "Service",
        "location": "Location",
    }


def test_utf8_with_byte_order_mark_reads_the_first_header_cleanly():
    table = read_table(b"\xef\xbb\xbf" + "First Name,Last Name\nZoë,Ørsted\n".encode())
    assert table.headers == ["First Name", "Last Name"]
    assert table.rows == [["Zoë", "Ørsted"]]


def test_windows_1252_from_excel_is_read():
    table = read_table("First Name,Last Name\nRenée,Müller\n".encode("cp1252"))
    assert table.rows == [["Renée", "Müller"]]


def test_semicolon_files_from_european_excel_are_split():
    table = read_table(b"First Name;Last Name\nAna;Alvarez\n")
    assert table.rows == [["Ana", "Alvarez"]]


def test_blank_rows_are_skipped_and_row_numbers_are_the_spreadsheets():
    table = read_table(b"First Name,Last Name\n\nAna,Alvarez\n,\nBo,Berg\n")
    assert table.rows == [["Ana", "Alvarez"], ["Bo", "Berg"]]
    assert table.numbers == [3, 5]


def test_short_rows_are_padded_and_long_rows_cut_to_the_header():
    table = read_table(b"First Name,Last Name,Email\nAna\nBo,Berg,b@example.com,extra\n")
    assert table.rows == [["Ana", "", ""], ["Bo", "Berg", "b@example.com"]]


def test_repeated_and_blank_headers_can_each_be_chosen():
    table = read_table(b"Phone,Phone,,Name\n1,2,3,4\n")
    assert table.headers == ["Phone", "Phone (2)", "Column 3", "Name"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \r\n\r\n", "The file is empty."),
        (b"First Name,Last Name\r\n", "header row but no data rows"),
        (b"PK\x03\x04rest-of-a-zip", "Excel workbook, not a CSV"),
        ("First Name,Last Name\nAna,B\n".encode("utf-16"), "NUL bytes"),
        (b"First,Last\nA\x00,B\n", "NUL bytes"),
        (b"First,Last\n\x81\x8d\x8f,B\n", "encoding was not recognised"),
        (b"just some words\nmore words\n", "Only one column"),
    ],
)
def test_bad_files_get_a_clear_message(data, message):
    with pytest.raises(FileProblem, match=message):
        read_table(data)


def test_a_file_over_the_size_limit_says_the_limit():
    with pytest.raises(FileProblem, match="larger than 5 MB"):
        read_table(b"a,b\n" + b"x,y\n" * (5 * 1024 * 1024 // 4 + 1))


def test_a_file_over_the_row_limit_says_the_limit():
    with pytest.raises(FileProblem, match="more than 3 rows"):
        read_table(b"a,b\n1,2\n3,4\n5,6\n7,8\n", max_rows=3)
    assert len(read_table(b"a,b\n1,2\n3,4\n5,6\n", max_rows=3).rows) == 3


def _client(cells: dict, country="US"):
    headers = list(cells)
    mapping = guess_mapping("clients", headers)
    return check_client_row(number=2, row=list(cells.values()), headers=headers, mapping=mapping, country=country)


def test_a_good_client_row_has_an_e164_phone_and_no_consent():
    check = _client(
        {"First Name": "Ana", "Last Name": "Alvarez", "Email": "ana@example.com", "Phone": "(212) 555-0100"}
    )
    assert check.problems == []
    assert check.values["phone"] == "+12125550100"
    assert (check.values["consent_email"], check.values["consent_sms"]) == (False, False)


def test_phones_are_read_with_the_practices_country():
    assert (
        _client({"First Name": "A", "Last Name": "B", "Phone": "020 7946 0958"}, country="GB").values["phone"]
        == "+442079460958"
    )
    check = _client({"First Name": "A", "Last Name": "B", "Phone": "020 7946 0958"}, country="US")
    assert check.problems == ["“020 7946 0958” is not a phone number we can use (country US)."]


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        ({"First Name": "", "Last Name": "Alvarez"}, "First and last name are both needed."),
        ({"First Name": "Ana", "Last Name": "A", "Email": "ana@"}, "“ana@” is not an email address."),
        ({"First Name": "Ana", "Last Name": "A", "Phone": "12"}, "“12” is not a phone number we can use (country US)."),
        ({"First Name": '=HYPERLINK("x")', "Last Name": "A"}, "First name starts with “=”"),
        ({"First Name": "Ana", "Last Name": "@SUM(A1)"}, "Last name starts with “@”"),
        ({"First Name": "Ana", "Last Name": "B", "Email": "=cmd@example.com"}, "Email starts with “=”"),
        ({"First Name": "A" * 101, "Last Name": "B"}, "First name is longer than 100 characters."),
        ({"First Name": "Ana", "Last Name": "B", "Email Consent": "maybe"}, "Email consent “maybe” is not yes or no."),
        ({"First Name": "Ana", "Last Name": "B", "SMS Consent": "yes"}, "Text consent is yes but there is no phone."),
    ],
)
def test_each_client_problem_is_named(cells, problem):
    check = _client(cells)
    assert any(p.startswith(problem) for p in check.problems), check.problems


def test_a_phone_starting_with_plus_is_a_phone_not_a_formula():
    check = _client({"First Name": "Ana", "Last Name": "B", "Mobile Phone": "+44 20 7946 0958"})
    assert check.problems == []
    assert check.values["phone"] == "+442079460958"


def test_consent_only_from_an_explicit_yes():
    check = _client(
        {"First Name": "A", "Last Name": "B", "Email": "a@example.com", "OK to Email": "Yes", "OK to Text": ""}
    )
    assert (check.values["consent_email"], check.values["consent_sms"]) == (True, False)


def _session(cells: dict):
    headers = list(cells)
    mapping = guess_mapping("sessions", headers)
    return check_session_row(number=2, row=list(cells.values()), headers=headers, mapping=mapping, zone=NEW_YORK)


def test_a_session_row_is_read_in_the_practice_zone():
    check = _session(
        {"Client": "Ana Alvarez", "Date": "03/15/2027", "Start Time": "9:00 AM", "Duration": "50", "Service": "Intake"}
    )
    assert check.problems == []
    assert check.values["start"] == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    assert check.values["end"] == datetime(2027, 3, 15, 13, 50, tzinfo=UTC)
    assert check.values["session_type"] == "intake"
    assert check.values["modality"] == "in_person"


def test_a_date_and_time_in_one_cell_and_a_time_range_are_understood():
    check = _session({"Client": "A B", "Date": "2027-01-04 14:30", "End Time": "3:20 PM", "Location": "Video"})
    assert check.problems == []
    assert check.values["start"].astimezone(NEW_YORK).time() == time(14, 30)
    assert check.values["end"].astimezone(NEW_YORK).time() == time(15, 20)
    assert check.values["modality"] == "telehealth"
    check = _session({"Client": "A B", "Date": "1/4/2027", "Time": "9:00 AM - 9:45 AM"})
    assert check.problems == []
    assert check.values["end"] - check.values["start"] == parsing.timedelta(minutes=45)


def test_start_and_end_columns_holding_date_and_time_are_understood():
    check = _session({"Client": "A B", "Start": "01/04/2027 2:30 PM", "End": "01/04/2027 3:20 PM"})
    assert check.problems == []
    assert check.values["start"].astimezone(NEW_YORK) == datetime(2027, 1, 4, 14, 30, tzinfo=NEW_YORK)
    assert check.values["end"] - check.values["start"] == parsing.timedelta(minutes=50)


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        ({"Client": "A B", "Date": "31/31/2027", "Start Time": "9:00", "Duration": "50"}, "Date “31/31/2027”"),
        ({"Client": "A B", "Date": "01/04/2027", "Start Time": "25:00", "Duration": "50"}, "Start time “25:00”"),
        (
            {"Client": "A B", "Date": "03/14/2027", "Start Time": "2:30 AM", "Duration": "50"},
            "03/14/2027 02:30 does not",
        ),
        ({"Client": "A B", "Date": "01/04/2027", "Start Time": "9:00", "End Time": "8:00"}, "The session ends before"),
        (
            {"Client": "A B", "Date": "01/04/2027", "Start Time": "9:00", "Duration": "forever"},
            "The end time or length",
        ),
        ({"Client": "A B", "Date": "01/04/2027", "Start Time": "9:00"}, "No end time or length."),
        ({"Date": "01/04/2027", "Start Time": "9:00", "Duration": "50"}, "No client ID, name or email"),
    ],
)
def test_each_session_problem_is_named(cells, problem):
    check = _session(cells)
    assert any(p.startswith(problem) for p in check.problems), check.problems


@pytest.mark.parametrize(
    ("value", "minutes"), [("50", 50), ("50 min", 50), ("0:50", 50), ("1 hour", 60), ("1.5 hours", 90)]
)
def test_lengths_as_exports_write_them(value, minutes):
    assert parsing.parse_minutes(value) == minutes


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        ("Initial Intake (90791)", "intake"),
        ("Couples therapy", "couples"),
        ("90846 Family w/o patient", "family"),
        ("Group", "group"),
        ("Psychotherapy, 53 min (90837)", "individual"),
        ("", "individual"),
    ],
)
def test_session_type_from_service_names_and_codes(service, kind):
    assert parsing.session_type_from(service) == kind


@pytest.mark.parametrize(
    ("location", "modality"),
    [
        ("Telehealth", "telehealth"),
        ("Yes", "telehealth"),
        ("02", "telehealth"),
        ("Main Office", "in_person"),
        ("", "in_person"),
    ],
)
def test_telehealth_from_the_location_column(location, modality):
    assert parsing.modality_from(location) == modality


def test_dates_in_the_formats_exports_use():
    for value in ("03/15/2027", "3/15/27", "2027-03-15", "Mar 15, 2027", "15 Mar 2027"):
        assert parsing.parse_date(value) == date(2027, 3, 15), value


def test_clinician_names_in_export_forms():
    assert {"jane smith"} <= parsing.name_keys("Smith, Jane")
    assert {"jane smith"} <= parsing.name_keys("Jane Smith, LCSW")
    assert {"jane smith"} <= parsing.name_keys("Dr. Jane Smith")
