"""The subscriber mailbox's wait: one heartbeat timer kept across waits (issue 15), which
must still never end a wait before its own timeout, nor after something arrived."""

from __future__ import annotations

import asyncio

from gateway.watch._events import Batch, Mailbox


def _batch(revision: int) -> Batch:
    return Batch(revision, [], 0.0)


async def test_a_push_ends_the_wait_at_once() -> None:
    loop = asyncio.get_running_loop()
    mb = Mailbox("k", 4)
    loop.call_later(0.01, mb.push, _batch(1))
    started = loop.time()
    assert await mb.wait(30) is True
    assert loop.time() - started < 5
    assert [b.revision for b in mb.take()] == [1]
    mb.close()


async def test_the_timeout_ends_the_wait() -> None:
    loop = asyncio.get_running_loop()
    mb = Mailbox("k", 4)
    started = loop.time()
    assert await mb.wait(0.05) is False
    assert loop.time() - started >= 0.05
    mb.close()


async def test_an_earlier_timer_left_armed_does_not_end_a_longer_wait_early() -> None:
    loop = asyncio.get_running_loop()
    mb = Mailbox("k", 4)
    loop.call_later(0.01, mb.push, _batch(1))
    assert await mb.wait(0.1) is True  # its timer stays armed for ~0.1 s
    mb.take()
    started = loop.time()
    assert await mb.wait(0.3) is False  # woken by that timer at ~0.1 s: waits on
    assert loop.time() - started >= 0.3
    mb.close()


async def test_a_closed_mailbox_leaves_no_timer_in_the_loop() -> None:
    loop = asyncio.get_running_loop()
    mb = Mailbox("k", 4)
    loop.call_later(0.01, mb.fail, RuntimeError("gone"))
    assert await mb.wait(30) is True
    timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert any(getattr(h._callback, "__self__", None) is mb for h in timers)
    mb.close()
    timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert not any(getattr(h._callback, "__self__", None) is mb for h in timers)



async def test_queued_batches_do_not_end_a_wait_for_notifications() -> None:
    # A stream waiting for its campaign to be ready while batches are queued (a follower
    # publishes before it says ready) must wait, yielding to the loop, not spin on True.
    loop = asyncio.get_running_loop()
    mb = Mailbox("k", 4)
    mb.push(_batch(1))
    ran: list[float] = []
    loop.call_later(0.02, lambda: ran.append(loop.time()))
    started = loop.time()
    assert await mb.wait(0.1, batches=False) is False
    assert ran and loop.time() - started >= 0.1
    loop.call_later(0.01, mb.notify)
    assert await mb.wait(30, batches=False) is True
    assert [b.revision for b in mb.take()] == [1]  # still queued for later
    mb.close()
