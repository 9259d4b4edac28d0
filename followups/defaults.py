"""The default wording, written with care.

Each first message shows concern, assumes nothing about why the session did not
happen, blames no one and never mentions money. Every default except the
no-show's reads true whether or not the session has started yet: a late cancel
can come before the session's start, and an intake or a repeat miss can be a
late cancel. Placeholders in braces are filled in when the message is sent;
`templating.PLACEHOLDERS` lists them. tests/followups/test_wording_check.py
holds every default to the wording checker with no errors and no warnings.
"""

from .models import MessageTemplate

Kind = MessageTemplate.Kind

DEFAULTS: dict[str, tuple[str, str]] = {
    Kind.FIRST: (
        "Checking in",
        """Hi {first_name},

We missed you at your session on {session_time} and wanted to check in. We hope you're okay.

Whenever you're ready, you can pick a new time here:
{reschedule_link}

{contact_line} There's no need to explain anything.
{exercises_note}
Take care,
{practice_name}""",
    ),
    Kind.FIRST_LATE_CANCEL: (
        "Thanks for letting us know",
        """Hi {first_name},

Thank you for letting us know about your session on {session_time}. We hope everything is okay.

Whenever you're ready, you can pick a new time here:
{reschedule_link}

{contact_line} There's no need to explain anything.
{exercises_note}
Take care,
{practice_name}""",
    ),
    Kind.FIRST_REPEAT: (
        "Checking in",
        """Hi {first_name},

We wanted to check in about your session on {session_time}. It's been hard to find times that work lately, and that's okay: life gets in the way sometimes, and we're still here for you.

If a different day or time would suit you better, you can choose one here:
{reschedule_link}

{contact_line} We can work out together what would make coming in easier.
{exercises_note}
Warmly,
{practice_name}""",
    ),
    Kind.FIRST_INTAKE: (
        "We'd still love to meet you",
        """Hi {first_name},

We were looking forward to meeting you on {session_time}. Taking the first step can be hard, and it's completely fine to find a time that suits you better.

You can pick a new time here:
{reschedule_link}

{contact_line} We're glad to answer any questions before you come.

Kind regards,
{practice_name}""",
    ),
    Kind.SECOND: (
        "Still here for you",
        """Hi {first_name},

Just a gentle note: if you'd like to book a new session, you can choose a time here whenever it suits you:
{reschedule_link}

{contact_line} We're always glad to hear from you.
{exercises_note}
Take care,
{practice_name}""",
    ),
    # Terms and amounts may appear in a reminder; this one states the free-until time and nothing else.
    Kind.REMINDER: (
        "See you soon",
        """Hi {first_name},

This is a friendly note about your session on {session_time}: {place}.

{terms}

Please confirm you're coming here:
{confirm_link}

Can't make it? Tell us here, or pick another time: {cancel_link}
To move it to another time: {move_link}

{contact_line}

See you then,
{practice_name}""",
    ),
}

EXERCISES_NOTE = "\nIn the meantime, your between-session exercises are there whenever they might help.\n"
