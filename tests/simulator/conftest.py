"""Fixtures for the simulator tests: a manual-clock simulator on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.simulator import Simulator

from ..support import simulator

KEY = "sk_test_alpha"
OTHER_KEY = "sk_test_beta"


def expected_stats(rows: list[dict[str, Any]]) -> dict[str, int]:
    """row_stats as documented in gateway.simulator, computed from rendered rows."""
    stats = {"calling": 0, "completed": 0, "failed": 0, "pending": 0, "retry": 0,
             "total": len(rows)}
    for row in rows:
        call = row["call"]
        status = call["status"]
        if status in ("initializing", "queued_for_calling"):
            stats["pending"] += 1
        elif status == "scheduled":
            stats["retry" if call["calls_count"] else "pending"] += 1
        elif status == "calling":
            stats["calling"] += 1
        elif status == "completed":
            stats["completed"] += 1
        else:
            assert status in ("errored", "cancelled"), status
            stats["failed"] += 1
    return stats


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with simulator(seed=1234) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url,
                                 headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c
