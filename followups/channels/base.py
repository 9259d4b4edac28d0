from dataclasses import dataclass


class TransientError(Exception):
    """Worth another try later."""


class ChannelAway(TransientError):
    """The channel itself could not be reached (a mail server down), not this message's fault."""


class PermanentError(Exception):
    """Trying again will not help."""


@dataclass(frozen=True)
class Outgoing:
    to: str
    subject: str
    text: str
    html: str
    from_name: str
    # Deterministic per outbox row, so a retry after a lost acknowledgement
    # carries the same id and mail systems can drop the duplicate.
    message_id: str
    # Where the client's reply goes (the practice's reply-to address), or "".
    # Email sets the Reply-To header; SMS has no such thing and ignores it.
    reply_to: str = ""
    # Which wording version the text came from (the outbox row records it).
    template_version: int | None = None
    # SMS only: the number to send from ("" for the shared TWILIO_FROM_NUMBER or messaging service),
    # and "<outbox id>.<generation>", which the status callback URL carries back to us.
    sender: str = ""
    ref: str = ""
