"""Wake-ups after commit: a broker that is down neither undoes the change nor slows the next requests."""

import logging

import pytest
from django.db import transaction

from practice import transactions
from practice.transactions import broker_pause_reset, on_commit_robust

pytestmark = pytest.mark.django_db(transaction=True)


class Broker:
    """Stands in for a `.delay` (Celery's, not ours): records each publish; raises while down."""

    def __init__(self) -> None:
        self.down = False
        self.published: list[int] = []

    def publish(self, row_id: int) -> None:
        if self.down:
            raise OSError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.published.append(row_id)


def _commit_with_wake_up(broker: Broker, row_id: int) -> None:
    with transaction.atomic():
        on_commit_robust(broker.publish, row_id)


def test_after_a_failed_wake_up_the_next_ones_are_left_to_the_sweeps(caplog):
    broker = Broker()
    broker.down = True
    with caplog.at_level(logging.WARNING):
        _commit_with_wake_up(broker, 1)  # fails, is logged, pauses the broker for this process
        broker.down = False
        _commit_with_wake_up(broker, 2)  # skipped: no publish, no wait

    assert broker.published == []
    assert "left to the sweeps" in caplog.text


def test_the_broker_is_tried_again_after_the_pause(monkeypatch):
    monkeypatch.setattr(transactions, "BROKER_PAUSE_SECONDS", 0.0)
    broker = Broker()
    broker.down = True
    _commit_with_wake_up(broker, 1)
    broker.down = False

    _commit_with_wake_up(broker, 2)

    assert broker.published == [2]


def test_wake_ups_go_out_while_the_broker_is_up():
    broker = Broker()
    _commit_with_wake_up(broker, 1)
    _commit_with_wake_up(broker, 2)
    broker_pause_reset()  # a no-op while nothing failed
    _commit_with_wake_up(broker, 3)

    assert broker.published == [1, 2, 3]


def test_a_rolled_back_change_wakes_nothing():
    broker = Broker()
    with pytest.raises(RuntimeError), transaction.atomic():
        on_commit_robust(broker.publish, 1)
        raise RuntimeError("the change failed")

    assert broker.published == []


def test_a_wake_up_no_sweep_covers_is_tried_even_while_paused():
    """The clinician's notices (rebooked, the client's answer) have no sweep behind them: the
    pause after a failure must not drop them."""
    broker = Broker()
    broker.down = True
    _commit_with_wake_up(broker, 1)  # fails: the broker is paused for the swept wake-ups
    broker.down = False
    with transaction.atomic():
        on_commit_robust(broker.publish, 2)  # swept: skipped during the pause
        on_commit_robust(broker.publish, 3, swept=False)

    assert broker.published == [3]
