"""Three gateway processes on one PostgreSQL database, over real ports.

Why: replicas share the database and nothing else. What a client sees must not
depend on which replica it reached or on one of them dying: one ``request_id`` creates
one campaign whichever replicas it was sent to; exactly one replica polls a watched
campaign while the others' subscribers still get every revision, in order, without gap
or duplicate; when the poller is killed (-9) another replica takes over within the
lease TTL; a resume token from one replica continues on another.

Every process is the real CLI (``python -m gateway serve``, ``python -m
gateway.simulator`` on a manual clock that the test advances).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request
from tests.test_cli import BANNER_END, Cli, _address

ROOT = Path(__file__).resolve().parent.parent.parent
LEASE_TTL = 1.5


def _control(sim: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{sim}/_simulator/{path}", data=data,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


@dataclass
class Cluster:
    sim: str
    gateways: list[Cli]
    addresses: list[str]
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def stub(self, i: int) -> campaign_service_pb2_grpc.CampaignServiceStub:
        return campaign_service_pb2_grpc.CampaignServiceStub(self.channels[i])


@contextlib.contextmanager
def _processes(tmp_path: Path, url: str) -> Iterator[tuple[str, list[Cli]]]:
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(Cli("gateway.simulator", "--listen", "127.0.0.1:0",
                                      "--clock", "manual", "--seed", "7", cwd=tmp_path))
        found = re.search(r"listening on (http://\S+) ", sim.read_until("listening on"))
        assert found
        migrated = subprocess.run([sys.executable, "-m", "gateway", "migrate", "--database",
                                   url], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert migrated.returncode == 0, migrated.stderr
        gateways = [stack.enter_context(Cli(
            "gateway", "serve", "--listen", "127.0.0.1:0", "--database", url, "--no-migrate",
            "--upstream-url", found.group(1), "--poll-interval", "0.1",
            "--max-poll-interval", "0.3", "--lease-ttl", str(LEASE_TTL),
            "--log-level", "WARNING", cwd=tmp_path)) for _ in range(3)]
        yield found.group(1), gateways


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with fresh_postgres_url() as url:
        with _processes(tmp_path, url) as (sim, gateways):
            addresses = [_address(g.read_until(BANNER_END)) for g in gateways]
            c = Cluster(sim, gateways, addresses)
            c.channels = [grpc.aio.insecure_channel(a) for a in addresses]
            try:
                yield c
            finally:
                for channel in c.channels:
                    await channel.close()


async def test_one_request_id_sent_to_three_replicas_creates_once(cluster: Cluster) -> None:
    request = create_request(3, request_id="replicas-once")
    answers = await asyncio.gather(*(cluster.stub(i).CreateCampaign(request, metadata=auth(),
                                                                    timeout=30)
                                     for i in range(3)), return_exceptions=True)
    ids = {a.id for a in answers if not isinstance(a, BaseException)}
    # A duplicate may be told ABORTED while the first is in flight; never a second campaign.
    assert len(ids) == 1, answers
    assert _control(cluster.sim, "state")["campaigns"] == 1
    again = await cluster.stub(2).CreateCampaign(request, metadata=auth(), timeout=30)
    assert again.id in ids


class Watcher:
    """A WatchCampaignRows stream on one replica, every message kept."""

    def __init__(self, stub: campaign_service_pb2_grpc.CampaignServiceStub, cid: str,
                 token: str = "") -> None:
        request = pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token,
                                              heartbeat_interval=Duration(seconds=1))
        self.call = stub.WatchCampaignRows(request, metadata=auth())
        self.messages: list[pb.WatchCampaignRowsResponse] = []
        self.changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())
        self.task.add_done_callback(lambda _: self.changed.set())

    async def _read(self) -> None:
        async for m in self.call:
            self.messages.append(m)
            self.changed.set()

    async def until(self, test: Any, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not test(self.messages):
                self.changed.clear()
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the stream ended")
                await self.changed.wait()

    def stop(self) -> None:
        self.call.cancel()
        # Read the outcome (a killed replica's stream ended UNAVAILABLE): no warning.
        self.task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _kind(m: pb.WatchCampaignRowsResponse) -> str:
    return str(m.WhichOneof("event"))


def _snapshot_done(ms: list[pb.WatchCampaignRowsResponse]) -> bool:
    return any(_kind(m) == "snapshot_complete" for m in ms)


def _final(ms: list[pb.WatchCampaignRowsResponse]) -> bool:
    return any(_kind(m) == "heartbeat" and m.heartbeat.campaign_final for m in ms)


def _changes(ms: list[pb.WatchCampaignRowsResponse]) -> list[pb.WatchCampaignRowsResponse]:
    return [m for m in ms if _kind(m) == "row_change" and not m.row_change.in_snapshot]


def _view(ms: list[pb.WatchCampaignRowsResponse]) -> dict[str, Any]:
    """The rows a client holds after applying the stream; checks the revision order."""
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
            key = (m.revision, rc.row.id)
            assert key not in seen, f"duplicate change {key}"
            seen.add(key)
            last = m.revision
        if rc.type == pb.ROW_CHANGE_TYPE_ROW_REMOVED:
            rows.pop(rc.row.id, None)
        else:
            rows[rc.row.id] = rc.row
    return rows


async def _upstream_rows(cluster: Cluster, i: int, cid: str) -> dict[str, Any]:
    answer = await cluster.stub(i).ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=100), metadata=auth(), timeout=30)
    return {r.id: r for r in answer.rows}


async def _drive_until(cluster: Cluster, watcher: Watcher, test: Any,
                       timeout: float = 20) -> None:
    """Advance the simulated clock 30 s at a time until ``test`` holds for the watcher."""
    async with asyncio.timeout(timeout):
        while not test(watcher.messages):
            _control(cluster.sim, "advance", {"seconds": 30})
            with contextlib.suppress(TimeoutError):
                await watcher.until(test, timeout=0.5)


async def test_followers_see_every_revision_and_survive_the_pollers_death(
    cluster: Cluster,
) -> None:
    created = await cluster.stub(0).CreateCampaign(create_request(6), metadata=auth(),
                                                   timeout=30)
    cid = created.id
    poller = Watcher(cluster.stub(0), cid)  # first to watch: replica 0 takes the lease
    await poller.until(_snapshot_done)
    followers = [Watcher(cluster.stub(i), cid) for i in (1, 2)]
    for w in followers:
        await w.until(_snapshot_done)
    # Replica 0 polls and commits; 1 and 2 read it from the log.
    await _drive_until(cluster, followers[0], lambda ms: bool(_changes(ms)))
    await followers[1].until(lambda ms: bool(_changes(ms)))
    token = _changes(followers[0].messages)[0].resume_token
    cluster.gateways[0].proc.kill()  # -9: the lease is not released, it must expire
    cluster.gateways[0].proc.wait(timeout=10)
    killed_at = asyncio.get_running_loop().time()
    seen = len(_changes(followers[0].messages))
    # Simulated time runs (a call ends within minutes) until replica 1 or 2, which took
    # the lease once it expired, polled a change.
    await _drive_until(cluster, followers[0], lambda ms: len(_changes(ms)) > seen,
                       timeout=LEASE_TTL * 4 + 20)
    # Within the TTL, plus a follower's read (1 s), a poll and the clock steps' slack.
    assert asyncio.get_running_loop().time() - killed_at < LEASE_TTL + 6
    _control(cluster.sim, "advance", {"seconds": 24 * 3600})  # the campaign completes
    for w in followers:
        await w.until(_final, timeout=30)
    upstream = await _upstream_rows(cluster, 1, cid)
    views = [_view(w.messages) for w in followers]
    for view in views:
        assert view == upstream
    # A token of replica 1 continues on replica 2 with exactly what followed it there.
    resumed = Watcher(cluster.stub(2), cid, token=token)
    await resumed.until(_final)
    after = [(m.revision, m.row_change.row.id) for m in _changes(followers[0].messages)]
    cut = after.index((_changes(followers[0].messages)[0].revision,
                       _changes(followers[0].messages)[0].row_change.row.id))
    assert [(m.revision, m.row_change.row.id) for m in _changes(resumed.messages)] \
        == after[cut + 1:]
    for w in (*followers, resumed, poller):
        w.stop()
