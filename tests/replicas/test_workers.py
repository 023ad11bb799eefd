"""``serve --workers N``: N processes share one port and one database; SIGTERM to the
parent drains them all.

Why: one Python process serves gRPC on one core. The workers must each bind the port
(SO_REUSEPORT, only for them: a second plain ``serve`` on a busy port is still
refused), answer on it, and all go when the parent is told to stop.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request
from tests.test_cli import BANNER_END, Cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _workers(tmp_path: Path, *, sqlite: bool = False) -> AsyncIterator[tuple[Cli, str, list[int]]]:
    """``serve --workers 2`` on a free port, once both workers serve: (parent, address,
    worker pids). On PostgreSQL, or on one SQLite file with ``sqlite``."""
    async with contextlib.AsyncExitStack() as stack:
        url = (f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}" if sqlite
               else await stack.enter_async_context(fresh_postgres_url()))
        with Cli("gateway.simulator", "--listen", "127.0.0.1:0", "--clock", "manual",
                 cwd=tmp_path) as sim:
            found = re.search(r"listening on (http://\S+) ", sim.read_until("listening on"))
            assert found
            listen = f"127.0.0.1:{_free_port()}"
            with Cli("gateway", "serve", "--workers", "2", "--listen", listen, "--database",
                     url, "--upstream-url", found.group(1), "--log-level", "WARNING",
                     "--shutdown-grace", "2", cwd=tmp_path) as parent:
                parent.read_until(BANNER_END)
                out = parent.read_until(BANNER_END)
                announced = re.search(r"workers \(pids ([\d, ]+)\)", "".join(parent.seen))
                assert announced, "".join(parent.seen)
                pids = [int(p) for p in re.findall(r"\d+", announced.group(1))]
                assert len(pids) == 2
                assert f"serving revox.campaigns.v1.CampaignService on {listen}" in out
                yield parent, listen, pids


def _assert_gone(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} outlived the parent")


async def test_two_workers_share_the_port_and_drain_on_sigterm(tmp_path: Path) -> None:
    async with _workers(tmp_path) as (parent, listen, pids):
        for _ in range(4):  # new connections: whichever worker gets one answers
            async with grpc.aio.insecure_channel(listen) as channel:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(),
                                         timeout=10)
        parent.proc.send_signal(signal.SIGTERM)
        assert parent.proc.wait(timeout=30) == 0
        _assert_gone(pids)  # every worker drained and went with it


async def test_a_worker_that_dies_takes_the_set_down(tmp_path: Path) -> None:
    async with _workers(tmp_path) as (parent, _, pids):
        os.kill(pids[0], signal.SIGKILL)
        assert parent.proc.wait(timeout=30) == signal.SIGKILL  # a supervisor sees it
        _assert_gone(pids)


async def _get_on_fresh_connections(listen: str, cid: str, n: int) -> list[grpc.StatusCode]:
    """GetCampaign over ``n`` new connections (the kernel spreads them over the workers)."""
    codes = []
    for _ in range(n):
        async with grpc.aio.insecure_channel(
            listen, options=[("grpc.use_local_subchannel_pool", 1)]
        ) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            try:
                await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(), timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
    return codes


async def test_a_delete_through_one_sqlite_worker_is_seen_by_the_other(tmp_path: Path) -> None:
    """Workers on one SQLite file share its cache: none may keep a copy of its own that the
    other's delete cannot reach (each would answer the deleted campaign until the TTL)."""
    async with _workers(tmp_path, sqlite=True) as (parent, listen, _):
        async with grpc.aio.insecure_channel(listen) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            cid = (await stub.CreateCampaign(create_request(1), metadata=auth(), timeout=10)).id
            assert set(await _get_on_fresh_connections(listen, cid, 12)) == {grpc.StatusCode.OK}
            await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=cid), metadata=auth(), timeout=10)
        assert set(await _get_on_fresh_connections(listen, cid, 12)) == {grpc.StatusCode.NOT_FOUND}
        parent.proc.send_signal(signal.SIGTERM)
        assert parent.proc.wait(timeout=30) == 0
