"""kombu's filesystem transport, with messages that appear whole or not at all.

kombu 5.7's filesystem `_put` creates `<time>_<uuid>.<queue>.msg` and only
then locks and writes it; `_get` renames any file with that name and reads it
without taking the lock. A poll that lands between the two (a loaded machine
is enough) reads an empty message: the message is lost, and the worker stops
with "Unrecoverable error: JSONDecodeError" and consumes nothing more. So
here a message is written under a name `_get` ignores and renamed into the
queue once complete; a rename inside one folder is atomic.

Used only when no broker server is set (practice.settings.base); production
refuses the filesystem broker altogether.
"""

import logging
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

log = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` on `queue`: written whole under a hidden name, then renamed into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        # "._<name>.part": `_get` takes only names whose text after the first dot is "<queue>.msg".
        partial = os.path.join(self.data_folder_out, f"._{name}.part")
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue):
        """The next message on `queue`; one that cannot be read is dropped, and the worker goes on.

        kombu's `_get` has already taken the file off the queue when its JSON fails to parse, and the
        worker would stop on the error: a message lost is what the minute sweeps are for, a worker
        that consumes nothing more is not.
        """
        while True:
            try:
                return super()._get(queue)
            except ValueError:
                log.warning("broker message unreadable, dropped queue=%s", queue)


class Transport(filesystem.Transport):
    Channel = Channel
