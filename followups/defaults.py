"""The default wording, written with care.

Each first message shows concern, assumes nothing about why the session was
missed, blames no one and never mentions money. Placeholders in braces are
filled in when the message is sent; `templating.PLACEHOLDERS` lists them.
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

If you'd rather talk, call us on {practice_phone}. There's no need to explain anything.
{exercises_note}
Take care,
{practice_name}""",
    ),
    Kind.FIRST_REPEAT: (
        "Checking in",
        """Hi {first_name},

We missed you on {session_time}. We've noticed it's been hard to make it in lately, and that's okay: life gets in the way sometimes, and we're still here for you.

If a different day or time would work better, you can choose one here:
{reschedule_link}

Or call us on {practice_phone} and we can work out together what would make coming in easier.
{exercises_note}
Warmly,
{practice_name}""",
    ),
    Kind.FIRST_INTAKE: (
        "We'd still love to meet you",
        """Hi {first_name},

We were sorry not to see you on {session_time}. Taking the first step can be hard, and it's completely fine to find a time that suits you better.

You can pick a new time here:
{reschedule_link}

If you have questions before you come, call us on {practice_phone}.

Kind regards,
{practice_name}""",
    ),
    Kind.SECOND: (
        "Still here for you",
        """Hi {first_name},

Just a gentle note: if you'd like to book a new session, you can choose a time here whenever it suits you:
{reschedule_link}

And you're always welcome to call us on {practice_phone}.
{exercises_note}
Take care,
{practice_name}""",
    ),
}

EXERCISES_NOTE = "\nIn the meantime, your between-session exercises are there whenever they might help.\n"
