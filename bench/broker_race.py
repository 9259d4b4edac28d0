"""How many messages a poll reads half-written on the server-less broker: one producer process, one consumer.

The consumer polls the queue as fast as it can while the producer puts N
messages; a message read before it was whole fails to parse and is lost (in a
Celery worker, the worker stopped). Usage:
`python bench/broker_race.py [--count 3000] [--transport filesystem|practice.broker:Transport]`.
Figures in docs/decisions.md (section "flake").
"""

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def options(folder: str) -> dict:
    return {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder, "polling_interval": 0}


def produce(folder: str, count: int, transport: str) -> None:
    from kombu import Connection

    with Connection("filesystem://", transport=transport, transport_options=options(folder)) as conn:
        channel = conn.channel()
        for n in range(count):
            channel._put("q", {"n": n})


def consume(folder: str, count: int, transport: str, results) -> None:
    from kombu import Connection

    read = broken = 0
    with Connection("filesystem://", transport=transport, transport_options=options(folder)) as conn:
        channel = conn.channel()
        deadline = time.monotonic() + 60
        while read + broken < count and time.monotonic() < deadline:
            try:
                channel._get("q")
                read += 1
            except Empty:
                continue
            except ValueError:
                broken += 1
    results.put((read, broken))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--transport", default="filesystem")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="broker-race-")
    results = multiprocessing.Queue()
    consumer = multiprocessing.Process(target=consume, args=(folder, args.count, args.transport, results))
    consumer.start()
    time.sleep(0.5)
    produce(folder, args.count, args.transport)
    consumer.join(90)
    read, broken = results.get(timeout=5)
    print(f"{args.transport}: {broken} of {args.count} messages read half-written (lost), {read} read whole")


if __name__ == "__main__":
    main()
