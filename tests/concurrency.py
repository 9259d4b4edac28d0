"""Run the same call in several threads at once, each on its own database connection."""

import threading

from django.db import connection


def run_concurrently(func, *, times: int = 2, args_list: list[tuple] | None = None, timeout: float = 30) -> list:
    """Start `func` in `times` threads (or one per entry of `args_list`) released together.

    Returns each call's result, or the exception it raised, in no particular
    order. Each thread closes its own database connection when done.
    """
    args_list = args_list or [()] * times
    barrier = threading.Barrier(len(args_list))
    results = []
    lock = threading.Lock()

    def run(args):
        try:
            barrier.wait(timeout=10)
            outcome = func(*args)
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(args,)) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
