"""Fill a message template's placeholders. Plain substitution: no template language
runs on text that a practice admin typed."""

import re
from dataclasses import dataclass

PLACEHOLDERS = {
    "first_name": "The client's first name",
    "session_time": "The day and time of the missed session, in the practice's time zone",
    "reschedule_link": "The link to pick a new time (no login needed)",
    "practice_phone": "The practice's phone number",
    "practice_name": "The practice's neutral sender name",
    "exercises_note": "A line about between-session exercises, when the plan says so (else nothing)",
}
REQUIRED = {"reschedule_link"}
_FIELD = re.compile(r"\{([a-z_]*)\}")


def placeholders_in(text: str) -> set[str]:
    return set(_FIELD.findall(text))


def check_template(*, subject: str, body: str) -> list[str]:
    """Problems with an edited template, as sentences for the person editing it."""
    problems = []
    unknown = (placeholders_in(subject) | placeholders_in(body)) - set(PLACEHOLDERS)
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        problems.append(f"Unknown placeholder {names}. Use only the ones listed.")
    missing = REQUIRED - placeholders_in(body)
    if missing:
        problems.append("The message must include {reschedule_link}, so the client can pick a new time.")
    if placeholders_in(subject) & {"first_name", "session_time"}:
        problems.append("Keep names and times out of the subject line: it shows on lock screens.")
    return problems


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def render(*, subject: str, body: str, values: dict[str, str]) -> Rendered:
    def fill(text: str) -> str:
        return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    return Rendered(subject=fill(subject).strip(), body=fill(body).strip() + "\n")
