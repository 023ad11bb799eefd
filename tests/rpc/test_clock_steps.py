"""A wall clock stepped back after a lost create: the caller is told to wait out the
grace window as it really is, not the hours the step added (issue 16, clock faults).

Use-case level (``Campaigns`` on a real SQLite file, the simulator on a real port): the
wall clock is injected; ages are step-proof because the store reads ``monotonic`` beside
it (``store/_ages.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway import errors
from gateway.observability import Metrics
from gateway.service import Campaigns
from gateway.store import Database, sqlite_url
from gateway.upstream import RevoxClient, UpstreamError

from ..support import ALICE, contacts, simulator

GRACE = 30.0


class SteppedWall:
    """``time.time()`` plus a step the test sets; the real monotonic clock beside it."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.mark.parametrize("step", [-3 * 3600.0, 3 * 3600.0])
async def test_retry_info_after_a_wall_clock_step_is_the_grace_left(tmp_path: Path, step: float) -> None:
    wall = SteppedWall()
    async with simulator(seed=3) as sim, \
            Database(sqlite_url(tmp_path / "gw.db"), clock=wall) as db, \
            RevoxClient(sim.base_url, default_timeout=5.0) as client:
        campaigns = Campaigns(client, db, ttl=5.0, clock=wall, reconcile_grace=GRACE,
                              creates=Metrics().creates)
        caller = campaigns.caller(ALICE)
        body = {"assistant_id": "asst_clock", "name": "stepped", "contacts": contacts(2)}
        sim.faults.drop_next(1, method="POST")  # lost: nothing created, outcome unknown
        with pytest.raises(UpstreamError):
            await campaigns.create(caller, body, request_id="clock-1", timeout=5)
        wall.offset = step
        try:
            with pytest.raises(errors.CreateOutcomeUnknown) as lost:
                await campaigns.create(caller, body, request_id="clock-1", timeout=5)
        finally:
            await campaigns.drain()
    assert lost.value.retry_after is not None
    assert 0 < lost.value.retry_after <= GRACE  # not 3 h, nor already over
