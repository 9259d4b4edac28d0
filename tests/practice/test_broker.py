"""The server-less broker: a worker polling the queue never takes a message that is still being written.

kombu's filesystem transport creates a message's file, then writes it; a poll
in between read it empty, lost it and stopped the worker ("Unrecoverable
error: JSONDecodeError"). That was the latency bench's missing follow-up.
"""

import builtins
from dataclasses import dataclass, field
from queue import Empty

from kombu import Connection

from practice.settings.base import FILESYSTEM_BROKER_TRANSPORT, filesystem_broker_options

KOMBU_OWN = "filesystem"


@dataclass
class Polls:
    messages: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def channels(folder, transport):
    options = filesystem_broker_options(folder)
    for key in ("data_folder_in", "control_folder"):
        (folder / options[key].rsplit("/", 1)[-1]).mkdir(exist_ok=True)
    producer = Connection("filesystem://", transport=transport, transport_options=options)
    consumer = Connection("filesystem://", transport=transport, transport_options=options)
    return producer.channel(), consumer.channel()


def poll_before_each_write(monkeypatch, folder, consumer) -> Polls:
    """Whenever a file under `folder` is opened for writing, the consumer polls the queue just before
    the first byte is written: the moment a loaded machine may pause the writer."""
    polls = Polls()
    real_open = builtins.open

    class PollFirst:
        def __init__(self, file):
            self._file = file

        def write(self, data):
            try:
                polls.messages.append(consumer._get("q"))
            except Empty:
                pass
            except Exception as exc:  # noqa: BLE001 - what a worker's poll would die of
                polls.errors.append(type(exc).__name__)
            return self._file.write(data)

        def __getattr__(self, name):
            return getattr(self._file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

    def watching_open(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        if "w" in mode and str(file).startswith(str(folder)):
            return PollFirst(opened)
        return opened

    monkeypatch.setattr(builtins, "open", watching_open)
    return polls


def test_a_poll_while_a_message_is_written_does_not_see_it(tmp_path, monkeypatch):
    producer, consumer = channels(tmp_path, FILESYSTEM_BROKER_TRANSPORT)
    polls = poll_before_each_write(monkeypatch, tmp_path, consumer)

    producer._put("q", {"message_id": 1})

    assert polls == Polls(messages=[], errors=[])
    assert consumer._get("q") == {"message_id": 1}


def test_messages_come_out_whole_and_in_order(tmp_path, monkeypatch):
    producer, consumer = channels(tmp_path, FILESYSTEM_BROKER_TRANSPORT)
    polls = poll_before_each_write(monkeypatch, tmp_path, consumer)

    for n in range(3):
        producer._put("q", {"n": n})

    # Each poll found the messages already written, whole, never the one being written.
    later = []
    for _ in range(3 - len(polls.messages)):
        later.append(consumer._get("q"))
    assert polls.errors == []
    assert polls.messages + later == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_kombus_own_transport_loses_a_message_read_half_written(tmp_path, monkeypatch):
    """Why practice.broker exists; when kombu writes whole, this fails and ours can go."""
    producer, consumer = channels(tmp_path, KOMBU_OWN)
    polls = poll_before_each_write(monkeypatch, tmp_path, consumer)

    producer._put("q", {"message_id": 1})

    assert polls.errors == ["JSONDecodeError"]
    assert not list(tmp_path.joinpath("queue").iterdir())


def test_an_unreadable_message_is_dropped_and_the_next_one_read(tmp_path, caplog):
    producer, consumer = channels(tmp_path, FILESYSTEM_BROKER_TRANSPORT)
    # What kombu's own transport could leave: a message file with nothing in it yet, first in line.
    tmp_path.joinpath("queue", "0_00000000-0000-0000-0000-000000000000.q.msg").touch()
    producer._put("q", {"message_id": 2})

    assert consumer._get("q") == {"message_id": 2}
    assert "broker message unreadable, dropped queue=q" in caplog.text
    assert not list(tmp_path.joinpath("queue").iterdir())
