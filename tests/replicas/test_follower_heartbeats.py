"""Two gateways on one database: a follower's subscribers hear of the upstream's trouble.

Why: only the replica that holds a campaign's poller lease talks to the upstream about
it. When the upstream fails, that replica's subscribers get heartbeats saying
``upstream_degraded``; a subscriber that reached another replica must be told the same,
or it cannot tell a quiet campaign from a broken one. The holder writes what its polls
fail with into the database under its lease epoch; followers read it with the log.
Runs on PostgreSQL (NOTIFY doorbell) and SQLite (followers read every 0.2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request

Message = pb.WatchCampaignRowsResponse


class Stream:
    """A WatchCampaignRows stream on one gateway, every heartbeat kept."""

    def __init__(self, channel: grpc.aio.Channel, cid: str) -> None:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        request = pb.WatchCampaignRowsRequest(campaign_id=cid,
                                              heartbeat_interval=Duration(seconds=1))
        self.call = stub.WatchCampaignRows(request, metadata=auth())
        self.messages: list[Message] = []
        self.changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())
        self.task.add_done_callback(lambda _: self.changed.set())

    async def _read(self) -> None:
        async for m in self.call:
            self.messages.append(m)
            self.changed.set()

    def heartbeats(self, since: int = 0) -> list[pb.Heartbeat]:
        return [m.heartbeat for m in self.messages[since:] if m.WhichOneof("event") == "heartbeat"]

    async def until(self, test: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not test():
                self.changed.clear()
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the stream ended")
                await self.changed.wait()

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def _database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "replicas.db")
    else:
        async with fresh_postgres_url() as url:
            yield url


def _polling(gw: Gateway, cid: str) -> bool:
    assert gw.watch is not None
    return any(s.campaign_id == cid and s.polling for s in gw.watch.states())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_follower_reports_the_pollers_upstream_trouble(
    backend: str, upstream: Simulator, settings: Settings, tmp_path: Path,
) -> None:
    async with _database(backend, tmp_path) as url:
        s = replace(settings, database_url=url, lease_ttl=30.0)  # no takeover in this test
        async with Gateway(s) as a, Gateway(s) as b, \
                grpc.aio.insecure_channel(a.address) as ch_a, \
                grpc.aio.insecure_channel(b.address) as ch_b:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(ch_a)
            cid = (await stub.CreateCampaign(create_request(3), metadata=auth(), timeout=30)).id
            on_a = Stream(ch_a, cid)  # first to watch: a takes the lease and polls
            await on_a.until(lambda: any(m.WhichOneof("event") == "snapshot_complete"
                                         for m in on_a.messages))
            on_b = Stream(ch_b, cid)
            await on_b.until(lambda: any(m.WhichOneof("event") == "snapshot_complete"
                                         for m in on_b.messages))
            assert _polling(a, cid) and not _polling(b, cid)  # b follows a's log

            seen_a, seen_b = len(on_a.messages), len(on_b.messages)
            failing = upstream.faults.fail_ratio(1.0, status=500, method="GET")
            for stream, seen in ((on_a, seen_a), (on_b, seen_b)):
                await stream.until(lambda st=stream, n=seen: any(
                    h.upstream_degraded for h in st.heartbeats(n)))
            told_a = next(h for h in on_a.heartbeats(seen_a) if h.upstream_degraded)
            told_b = next(h for h in on_b.heartbeats(seen_b) if h.upstream_degraded)
            assert "Revox API" in told_b.detail and told_b.detail == told_a.detail
            assert _polling(a, cid) and not _polling(b, cid)  # still a's trouble, told to b

            upstream.faults.rules.remove(failing)  # the upstream answers again
            seen_a, seen_b = len(on_a.messages), len(on_b.messages)
            for stream, seen in ((on_a, seen_a), (on_b, seen_b)):
                await stream.until(lambda st=stream, n=seen: any(
                    not h.upstream_degraded for h in st.heartbeats(n)))
            assert not on_b.heartbeats()[-1].upstream_degraded
            for stream in (on_a, on_b):
                await stream.close()
