"""``Outage``: a database found unreachable is believed for ``hold`` seconds, then tried
again, however often callers are refused meanwhile."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from gateway.store._errors import StoreUnavailable
from gateway.store._outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _full() -> OperationalError:
    return OperationalError("INSERT", {}, Exception("database or disk is full"))


def test_an_outage_is_believed_for_its_hold_then_tried_again() -> None:
    clock = Clock()
    outage = Outage(hold=1.0, clock=clock)
    assert outage.failed(_full())
    assert outage.down
    with pytest.raises(StoreUnavailable):
        outage.check()
    clock.now += 1.01
    assert not outage.down
    outage.check()  # the database is tried again


def test_refusals_during_the_hold_do_not_renew_it() -> None:
    """A client retrying every half second (RetryInfo says 1 s) passes each refusal back
    to ``failed``: the hold must still end one hold after the last real failure (the
    full-disk row of ``make reliability`` stayed refused after the disk had room)."""
    clock = Clock()
    outage = Outage(hold=1.0, clock=clock)
    outage.failed(_full())
    for _ in range(5):
        clock.now += 0.5
        try:
            outage.check()
        except StoreUnavailable as exc:
            assert outage.failed(exc)  # still an outage to the caller
    assert not outage.down


def test_a_query_the_database_refused_is_no_outage() -> None:
    outage = Outage(hold=1.0, clock=Clock())
    assert not outage.failed(ValueError("not a database fault"))
    assert not outage.down


def test_an_answer_ends_the_outage_at_once() -> None:
    outage = Outage(hold=60.0, clock=Clock())
    outage.failed(_full())
    outage.answered()
    assert not outage.down
