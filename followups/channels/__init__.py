"""Channels deliver a rendered message and say how it went.

`get_channel(name)` returns the channel for an outbox row's `channel`.
A channel raises TransientError for failures worth retrying (a server
that is down) and PermanentError for ones that are not (an address the
server refuses).
"""

from .base import ChannelAway, Outgoing, PermanentError, TransientError


def get_channel(name: str):
    if name == "email":
        from .email import EmailChannel

        return EmailChannel()
    if name == "sms":
        from .sms import SmsChannel

        return SmsChannel()
    raise PermanentError(f"unknown channel {name!r}")


__all__ = ["ChannelAway", "Outgoing", "PermanentError", "TransientError", "get_channel"]
