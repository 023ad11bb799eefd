"""PostgreSQL unreachable while a gateway runs, over real parts.

Why: the gateway's promises rest on its database (a create placed once per
request_id, a watch without gap or duplicate). While it is gone the gateway must keep
them by refusing, not by guessing: a create with a request_id is refused with
UNAVAILABLE before anything reaches the upstream (a retry could not be recognised);
reads go to the upstream uncached; an open watch stays open (heartbeats say degraded)
and, once the database is back, continues from its position without losing or
repeating a revision; health says NOT_SERVING meanwhile, SERVING after.

The outage is real: a TCP proxy between the gateway and PostgreSQL closes every
connection and refuses new ones (``_proxy.CutProxy``), then listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.replicas._proxy import CutProxy
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request, detail, error_info

LEASE_TTL = 1.5
DATABASE = "revox.gateway.database"
Message = pb.WatchCampaignRowsResponse


class Watcher:
    """A WatchCampaignRows stream, every message kept (a resumed one appends)."""

    def __init__(self, stub: campaign_service_pb2_grpc.CampaignServiceStub, cid: str) -> None:
        self.stub, self.cid = stub, cid
        self.messages: list[Message] = []
        self.changed = asyncio.Event()
        self.resumes = 0
        self.call: Any = None
        self.task = asyncio.ensure_future(self._read())
        self.task.add_done_callback(lambda _: self.changed.set())

    async def _read(self) -> None:
        token = ""
        while True:
            request = pb.WatchCampaignRowsRequest(campaign_id=self.cid, resume_token=token,
                                                  heartbeat_interval=Duration(seconds=1))
            self.call = self.stub.WatchCampaignRows(request, metadata=auth())
            try:
                async for m in self.call:
                    self.messages.append(m)
                    token = m.resume_token
                    self.changed.set()
                return
            except grpc.aio.AioRpcError as exc:
                # What a client does with UNAVAILABLE: resume from its last token. The
                # test asserts below how often that was needed (never, by the docs).
                if exc.code() != grpc.StatusCode.UNAVAILABLE or not token:
                    raise
                self.resumes += 1

    async def until(self, test: Callable[[list[Message]], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not test(self.messages):
                self.changed.clear()
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the stream ended")
                await self.changed.wait()

    async def stop(self) -> None:
        self.task.cancel()
        if self.call is not None:
            self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _kind(m: Message) -> str:
    return str(m.WhichOneof("event"))


def _changes(ms: list[Message]) -> list[Message]:
    return [m for m in ms if _kind(m) == "row_change" and not m.row_change.in_snapshot]


def _view(ms: list[Message]) -> dict[str, Any]:
    """The rows a client holds after applying the stream; no revision skipped or repeated."""
    rows: dict[str, Any] = {}
    seen: set[tuple[int, str]] = set()
    last = None
    for m in ms:
        if _kind(m) == "snapshot_complete":
            last = m.revision
        if _kind(m) != "row_change":
            continue
        rc = m.row_change
        if not rc.in_snapshot:
            assert last is not None
            assert m.revision in (last, last + 1), f"gap: revision {m.revision} after {last}"
            assert (m.revision, rc.row.id) not in seen, f"duplicate {(m.revision, rc.row.id)}"
            seen.add((m.revision, rc.row.id))
            last = m.revision
        if rc.type == pb.ROW_CHANGE_TYPE_ROW_REMOVED:
            rows.pop(rc.row.id, None)
        else:
            rows[rc.row.id] = rc.row
    return rows


def _final(ms: list[Message]) -> bool:
    return any(_kind(m) == "heartbeat" and m.heartbeat.campaign_final for m in ms)


def _count_posts(sim: Simulator) -> Callable[[], int]:
    """How many POSTs (creates: nothing else here POSTs) the upstream has received since."""
    rule = sim.faults.add_latency(0.0, method="POST")  # a no-op rule that counts its matches
    return lambda: rule.fired


async def _health(channel: grpc.aio.Channel, want: int, timeout: float = 15) -> None:
    """Wait until the database component reports ``want`` (the monitor checks every 5 s)."""
    stub = health_pb2_grpc.HealthStub(channel)
    async with asyncio.timeout(timeout):
        while True:
            got = await stub.Check(health_pb2.HealthCheckRequest(service=DATABASE), timeout=5)
            if got.status == want:
                return
            await asyncio.sleep(0.1)  # polling the status, with the deadline above


@contextlib.asynccontextmanager
async def _gateway_behind_proxy(settings: Settings) -> AsyncIterator[tuple[Gateway, CutProxy]]:
    async with fresh_postgres_url() as url, CutProxy("127.0.0.1", 5432) as proxy:
        proxied = make_url(url).set(host="127.0.0.1", port=proxy.port)
        s = replace(settings, database_url=proxied.render_as_string(hide_password=False),
                    lease_ttl=LEASE_TTL)
        async with Gateway(s) as gw:
            try:
                yield gw, proxy
            finally:
                await proxy.restore()  # the gateway closes cleanly on a live database


async def test_while_postgres_is_unreachable_creates_refuse_reads_bypass_watches_resume(
    upstream: Simulator, settings: Settings,
) -> None:
    async with _gateway_behind_proxy(settings) as (gw, proxy), \
            grpc.aio.insecure_channel(gw.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        posts = _count_posts(upstream)
        created = await stub.CreateCampaign(create_request(6, request_id="before-outage"),
                                            metadata=auth(), timeout=30)
        cid = created.id
        cached = stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(), timeout=10)
        await cached
        assert dict(await cached.trailing_metadata())["x-revox-cache"] == "hit"  # fresh (TTL 30 s)
        watcher = Watcher(stub, cid)
        await watcher.until(lambda ms: any(_kind(m) == "snapshot_complete" for m in ms))
        await _health(channel, health_pb2.HealthCheckResponse.SERVING)
        while not _changes(watcher.messages):  # simulated time runs until a call starts
            await upstream.advance(30)
            with contextlib.suppress(TimeoutError):
                await watcher.until(lambda ms: bool(_changes(ms)), timeout=0.5)

        await proxy.cut()
        await _health(channel, health_pb2.HealthCheckResponse.NOT_SERVING)
        # A create with a request_id: refused before the upstream sees it.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateCampaign(create_request(2, request_id="during-outage"),
                                      metadata=auth(), timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(refused.value).reason == "DATABASE_UNAVAILABLE"
        retry = detail(refused.value, error_details_pb2.RetryInfo)
        assert isinstance(retry, error_details_pb2.RetryInfo) and retry.retry_delay.seconds >= 1
        assert "request_id" in (refused.value.details() or "")
        assert posts() == 1  # the create before the outage
        # Reads: from the upstream (the fresh cached copy is out of reach).
        before = upstream.request_count
        read = stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(), timeout=10)
        assert (await read).id == cid
        assert dict(await read.trailing_metadata())["x-revox-cache"] == "miss"
        listed = stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(), timeout=10)
        assert cid in [c.id for c in (await listed).campaigns]
        assert dict(await listed.trailing_metadata())["x-revox-cache"] == "miss"
        assert upstream.request_count >= before + 2
        # A new watch needs the log: refused, to be retried (an open one is not affected).
        with pytest.raises(grpc.aio.AioRpcError) as no_watch:
            async for _ in stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid),
                                                  metadata=auth(), timeout=10):
                pass
        assert no_watch.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(no_watch.value).reason == "DATABASE_UNAVAILABLE"
        # The open watch: told the gateway is degraded, not ended; the campaign moves on
        # upstream meanwhile.
        seen = len(watcher.messages)
        await upstream.advance(120)
        await watcher.until(lambda ms: any(_kind(m) == "heartbeat" and m.heartbeat.upstream_degraded
                                           for m in ms[seen:]))
        assert not watcher.task.done()

        await proxy.restore()
        await _health(channel, health_pb2.HealthCheckResponse.SERVING)
        await upstream.advance(24 * 3600)  # every call ends: the campaign completes
        await watcher.until(_final, timeout=40)
        assert watcher.resumes == 0  # the stream was never cut
        rows = await stub.ListCampaignRows(pb.ListCampaignRowsRequest(campaign_id=cid,
                                                                      page_size=100),
                                           metadata=auth(), timeout=30)
        assert _view(watcher.messages) == {r.id: r for r in rows.rows}
        # The refused request_id creates once the database is back.
        again = await stub.CreateCampaign(create_request(2, request_id="during-outage"),
                                          metadata=auth(), timeout=30)
        assert again.id and posts() == 2
        await watcher.stop()
