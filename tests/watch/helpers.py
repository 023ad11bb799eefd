"""Stream bookkeeping shared by the watch tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Call:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    poll: int  # the hub's completed polls when the call was made: calls of one cycle share it


def record(env: Env, method: str) -> list[Call]:
    """Record every call of ``env.client.<method>`` (then make it): which key, which page."""
    assert env.client is not None and env.hub is not None
    real = getattr(env.client, method)
    hub = env.hub
    calls: list[Call] = []

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(Call(args, kwargs, int(hub.stats()["polls"])))
        return await real(*args, **kwargs)

    setattr(env.client, method, spy)  # the instance attribute shadows the method
    return calls


def state_of(msgs: list[pb.WatchCampaignRowsResponse]) -> dict[str, str]:
    """Row id -> upstream status literal, replaying a stream's snapshot and changes."""
    rows: dict[str, str] = {}
    for m in msgs:
        if kind(m) != "row_change":
            continue
        if m.row_change.type == pb.ROW_CHANGE_TYPE_ROW_REMOVED:
            rows.pop(m.row_change.row.id, None)
        else:
            rows[m.row_change.row.id] = m.row_change.row.call.status_raw
    return rows
