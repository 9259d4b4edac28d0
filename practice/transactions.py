from functools import partial, update_wrapper

from django.db import transaction


def on_commit_robust(func, *args) -> None:
    """Call `func(*args)` once the transaction commits; log, never raise, if it fails.

    The change is saved either way: a broker that is down must not undo it or turn it
    into a 500, and the minute sweeps find the work the wake-up would have started.
    Django names a failed robust callback by its `__qualname__`, which a bare `partial`
    lacks (the logging itself raised), hence `update_wrapper`.
    """
    transaction.on_commit(update_wrapper(partial(func, *args), func), robust=True)
