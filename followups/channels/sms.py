import logging
from pathlib import Path

from django.conf import settings

from .base import Outgoing

log = logging.getLogger(__name__)


class SmsChannel:
    """Text messages. No provider yet: SMS_BACKEND is "console" (the log) or "file" (one file
    per message under var/sms/). A provider slots in here, behind the same send()."""

    def reachable(self) -> bool:
        # Both backends are local: there is no server to be away.
        return True

    def send(self, message: Outgoing) -> str:
        backend = getattr(settings, "SMS_BACKEND", "console")
        if backend == "file":
            folder = Path(settings.SMS_FILE_PATH)
            folder.mkdir(parents=True, exist_ok=True)
            name = message.message_id.strip("<>").replace("@", "_").replace("/", "_")
            (folder / f"{name}.txt").write_text(f"To: {message.to}\n\n{message.text}", encoding="utf-8")
        else:
            # Ids only in the log: the text goes to the phone, not to log files.
            log.info("sms (console backend) message_id=%s", message.message_id)
        return message.message_id
