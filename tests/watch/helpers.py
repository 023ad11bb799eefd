"""Stream bookkeeping shared by the watch tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from gateway.store import ChangeLog
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from .conftest import Env, Sub, kind


@contextlib.asynccontextmanager
async def driving(env: Env, cid: str, *, steps: int = 80, dt: float = 120.0) -> AsyncIterator[asyncio.Task[None]]:
    """Advance simulated time in the background (and poke the poller) while the body runs."""

    async def drive() -> None:
        for _ in range(steps):
            await env.sim.advance(dt)
            if env.hub is not None:
                env.hub.poke(cid)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(drive())
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def events(msgs: list[pb.WatchCampaignRowsResponse]) -> list[tuple[int, str, int]]:
    return [
        (m.revision, m.row_change.row.id, m.row_change.type)
        for m in msgs
        if kind(m) == "row_change" and not m.row_change.in_snapshot
    ]


async def until_final(sub: Sub, timeout: float = 30.0) -> pb.WatchCampaignRowsResponse:
    return await sub.until(lambda m: kind(m) == "heartbeat" and m.heartbeat.campaign_final, timeout)


async def log_events(log: ChangeLog, cid: str, since: int) -> list[tuple[int, str, int]]:
    kinds = {"added": pb.ROW_CHANGE_TYPE_ROW_ADDED, "modified": pb.ROW_CHANGE_TYPE_ROW_MODIFIED,
             "removed": pb.ROW_CHANGE_TYPE_ROW_REMOVED}
    out = []
    while True:
        changes = await log.changes_since(cid, since)
        if not changes:
            return out
        out += [(c.revision, c.row_id, kinds[c.kind]) for c in changes]
        since = changes[-1].revision


def snapshot_revision(msgs: list[Any]) -> int:
    return next(m.revision for m in msgs if kind(m) == "snapshot_complete")
