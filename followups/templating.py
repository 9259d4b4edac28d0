"""Fill a message template's placeholders. Plain substitution: no template language
runs on text that a practice admin typed."""

import re
from dataclasses import dataclass

PLACEHOLDERS = {
    "first_name": "The client's first name",
    "session_time": "The day and time of the session, in the practice's time zone",
    "reschedule_link": "The link to pick a new time (no login needed)",
    "contact_line": "How to reach us: “You can reply to this email or call us on …”, as the practice has a "
    "reply-to address and a phone (a line using it is left out when it has neither)",
    "practice_phone": "The practice's phone number (a line using it is left out when the practice has none)",
    "practice_name": "The practice's neutral sender name",
    "exercises_note": "A line about between-session exercises, when the plan says so (else nothing)",
}
# A reminder says when and where the session is, the terms in plain words, and how to confirm.
REMINDER_KIND = "reminder"
REMINDER_PLACEHOLDERS = {
    "first_name": "The client's first name",
    "session_time": "The day and time of the session, in the practice's time zone (named)",
    "place": "Where: the practice's address, or “video session”",
    "terms": "The cancellation terms in plain words: “Moving or cancelling is free until Tuesday 10:00.”",
    "confirm_link": "The link to confirm the session (no login needed)",
    "cancel_link": "The link to say “I can't make it” (its page also offers other times)",
    "move_link": "The link to move the session to another time (email only: in a text message the line "
    "using it is left out, to keep it short)",
    "contact_line": PLACEHOLDERS["contact_line"],
    "practice_phone": PLACEHOLDERS["practice_phone"],
    "practice_name": PLACEHOLDERS["practice_name"],
}
REQUIRED = {"reschedule_link"}
# A line that uses one of these when it is empty would read "call us on ." : it is left out.
OPTIONAL_LINE = {"contact_line", "practice_phone", "move_link"}


def placeholders_for(kind: str) -> dict[str, str]:
    return REMINDER_PLACEHOLDERS if kind == REMINDER_KIND else PLACEHOLDERS


_FIELD = re.compile(r"\{([a-z_]*)\}")


def placeholders_in(text: str) -> set[str]:
    return set(_FIELD.findall(text))


def check_template(*, subject: str, body: str, kind: str = "") -> list[str]:
    """Problems with an edited template of `kind`, as sentences for the person editing it."""
    problems = []
    if "\r" in subject or "\n" in subject:
        problems.append("Keep the subject on one line.")
    unknown = (placeholders_in(subject) | placeholders_in(body)) - set(placeholders_for(kind))
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        problems.append(f"Unknown placeholder {names}. Use only the ones listed.")
    if kind == REMINDER_KIND:
        missing = {"confirm_link", "session_time"} - placeholders_in(body)
        if missing:
            problems.append(
                "A reminder must include {session_time} and {confirm_link}, so the client knows when and can confirm."
            )
    elif REQUIRED - placeholders_in(body):
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

    empty = {name for name in OPTIONAL_LINE if not values.get(name)}
    lines = [line for line in body.split("\n") if not placeholders_in(line) & empty]
    filled = re.sub(r"\n{3,}", "\n\n", fill("\n".join(lines)))
    # A subject is a mail header: one line, whatever was filled in.
    return Rendered(subject=" ".join(fill(subject).split()), body=filled.strip() + "\n")
