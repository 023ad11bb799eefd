"""Hub-level fixtures: a real simulator, a real SQLite file, a real WatchHub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration

from gateway.config import Settings
from gateway.convert import create_body
from gateway.service import Caller
from gateway.simulator import Simulator
from gateway.store import Database, sqlite_url
from gateway.upstream import RevoxClient
from gateway.watch import WatchHub
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from tests.support import create_request

KEY = "sk_test_alice"
TOKEN_KEY = b"k" * 32


class Env:
    def __init__(self, sim: Simulator, settings: Settings, db_path: Path) -> None:
        self.sim = sim
        self.settings = settings
        self.db_path = db_path
        self.db: Database | None = None
        self.client: RevoxClient | None = None
        self.hub: WatchHub | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self, **overrides: Any) -> WatchHub:
        self._stack = contextlib.AsyncExitStack()
        self.db = await self._stack.enter_async_context(Database(sqlite_url(self.db_path)))
        self.client = await self._stack.enter_async_context(RevoxClient(self.sim.base_url))
        self.hub = WatchHub(
            client=self.client, changelog=self.db.changelog,
            settings=replace(self.settings, **overrides).watch, token_key=TOKEN_KEY,
        )
        await self._stack.enter_async_context(self.hub)
        return self.hub

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def campaign(self, n: int = 3, key: str = KEY) -> str:
        async with RevoxClient(self.sim.base_url) as c:
            body = await c.create_campaign(key, create_body(create_request(n)))
        return str(body["campaign"]["id"])


@pytest.fixture
async def env(upstream: Simulator, settings: Settings, tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(upstream, settings, tmp_path / "watch.db")
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


def request(cid: str, *, token: str = "", hb: float | None = None, **kw: Any) -> pb.WatchCampaignRowsRequest:
    req = pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token, **kw)
    if hb is not None:
        d = Duration()
        d.FromNanoseconds(int(hb * 1e9))
        req.heartbeat_interval.CopyFrom(d)
    return req


class Sub:
    """Consumes a watch stream in a task into a queue (or not at all, when paused)."""

    def __init__(self, hub: WatchHub, req: pb.WatchCampaignRowsRequest, key: str = KEY) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.messages: list[pb.WatchCampaignRowsResponse] = []
        self.error: BaseException | None = None
        self.gen = hub.watch(Caller(key, "tenant"), req, None)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for m in self.gen:
                self.messages.append(m)
                await self.queue.put(m)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test
            self.error = exc
            await self.queue.put(exc)

    async def next(self, timeout: float = 5.0) -> pb.WatchCampaignRowsResponse:
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    async def until(self, pred: Any, timeout: float = 10.0) -> pb.WatchCampaignRowsResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            m = await self.next(max(0.01, deadline - loop.time()))
            if pred(m):
                return m

    async def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def is_event(m: pb.WatchCampaignRowsResponse) -> bool:
    return m.WhichOneof("event") == "row_change"


def kind(m: pb.WatchCampaignRowsResponse) -> str:
    return m.WhichOneof("event") or ""
