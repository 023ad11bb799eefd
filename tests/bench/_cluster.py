"""Real processes for the replica benchmark: a PostgreSQL database of its own, the
simulator, gateway replicas (``python -m gateway serve``), and watch streams that stamp
every message with its time of receipt.

Why not ``_servers``: the replica figures are about the production CLI (its lease, its
LISTEN connection, its metrics port) and about killing it with ``kill -9``; each
replica here is the real ``serve`` process, started and restarted by the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.engine import make_url

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.test_cli import BANNER_END, Cli, _address, _env

from ._common import AUTH

__all__ = ["Lease", "Replica", "Stream", "bench_database", "lease_of", "migrate", "pg_dsn",
           "simulator"]

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _child_env() -> dict[str, str]:
    """The processes run this tree's code (``-m`` from a temp directory would import
    whichever ``gateway`` the venv points at), with none of the machine's settings."""
    return _env(PYTHONPATH=str(ROOT))


def pg_dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh database ``bench_<hex>`` on 127.0.0.1:5432, dropped afterwards; yields
    its SQLAlchemy URL."""
    name = f"bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def migrate(url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "migrate", "--database", url],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=_child_env())
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stderr.strip()}")


@contextlib.contextmanager
def simulator(tmp: Path, *flags: str) -> Any:
    """``python -m gateway.simulator`` on a free port; yields (Cli, base URL)."""
    with Cli("gateway.simulator", "--listen", "127.0.0.1:0", "--seed", "7", *flags,
             cwd=tmp, env=_child_env()) as sim:
        found = re.search(r"listening on (http://\S+) ", sim.read_until("listening on"))
        if not found:
            raise RuntimeError("the simulator did not say where it listens")
        try:
            yield sim, found.group(1)
        finally:
            sim.stop()


class Replica:
    """One ``gateway serve`` process with a metrics port; ``start`` again after a kill."""

    def __init__(self, name: str, tmp: Path, args: list[str]) -> None:
        self.name = name
        self.tmp = tmp
        self.args = args
        self.cli: Cli | None = None
        self.address = ""
        self.metrics = ""
        self.channel: grpc.aio.Channel | None = None

    async def start(self) -> None:
        self.cli = Cli("gateway", "serve", "--listen", "127.0.0.1:0", "--metrics-listen",
                       "127.0.0.1:0", "--log-level", "WARNING", *self.args, cwd=self.tmp,
                       env=_child_env())
        banner = await asyncio.to_thread(self.cli.read_until, BANNER_END, 120.0)
        self.address = _address(banner)
        found = re.search(r"metrics: (http://\S+/metrics)", banner)
        if not found:
            raise RuntimeError(f"{self.name}: no metrics address in the banner")
        self.metrics = found.group(1)
        self.channel = grpc.aio.insecure_channel(self.address)

    @property
    def stub(self) -> campaign_service_pb2_grpc.CampaignServiceStub:
        assert self.channel is not None
        return campaign_service_pb2_grpc.CampaignServiceStub(self.channel)

    @property
    def pid(self) -> int:
        assert self.cli is not None
        return self.cli.proc.pid

    async def pollers(self, http: httpx.AsyncClient) -> int:
        """This process's ``revox_gateway_watch_pollers`` gauge (campaigns it polls)."""
        text = (await http.get(self.metrics, timeout=5)).text
        found = re.search(r"^revox_gateway_watch_pollers (\S+)$", text, re.M)
        return int(float(found.group(1))) if found else 0

    async def kill(self) -> float:
        """``kill -9``; returns the wall-clock time of the signal."""
        assert self.cli is not None
        at = time.time()
        self.cli.proc.kill()
        await asyncio.to_thread(self.cli.proc.wait, 30)
        await self._close_channel()
        return at

    async def stop(self) -> None:
        await self._close_channel()
        if self.cli is not None and self.cli.proc.poll() is None:
            await asyncio.to_thread(self.cli.stop)

    async def _close_channel(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None


class Stream:
    """A WatchCampaignRows stream; each live row change kept as (revision,
    commit_time, received) in wall-clock seconds."""

    def __init__(self, replica: Replica, campaign_id: str) -> None:
        self.replica = replica
        request = pb.WatchCampaignRowsRequest(campaign_id=campaign_id,
                                              heartbeat_interval=Duration(seconds=1))
        self.call = replica.stub.WatchCampaignRows(request, metadata=AUTH)
        self.changes: list[tuple[int, float, float]] = []
        self.snapshot = asyncio.Event()
        self.changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())
        self.task.add_done_callback(lambda _: self.changed.set())

    async def _read(self) -> None:
        async for m in self.call:
            received = time.time()
            event = m.WhichOneof("event")
            if event == "snapshot_complete":
                self.snapshot.set()
            elif event == "row_change" and not m.row_change.in_snapshot:
                self.changes.append((m.revision, m.commit_time.ToNanoseconds() / 1e9, received))
                self.changed.set()

    async def first_commit_after(self, t: float, timeout: float) -> tuple[float, float]:
        """(commit time, receipt time) of the first change committed after wall-clock
        ``t``."""
        async with asyncio.timeout(timeout):
            while True:
                for _, committed, received in self.changes:
                    if committed > t:
                        return committed, received
                self.changed.clear()
                if self.task.done():
                    raise RuntimeError(f"the stream on {self.replica.name} ended")
                await self.changed.wait()

    async def ready(self, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            await self.snapshot.wait()

    def stop(self) -> None:
        self.call.cancel()
        # Read the outcome (a killed replica's stream ends UNAVAILABLE): no warning.
        self.task.add_done_callback(lambda t: t.cancelled() or t.exception())


@dataclass(frozen=True)
class Lease:
    owner: str | None
    epoch: int
    expires_at: float | None
    revision: int


async def lease_of(conn: asyncpg.Connection, campaign_id: str) -> Lease | None:
    """The campaign's poller lease as the database holds it (None: not watched yet)."""
    row = await conn.fetchrow(
        "SELECT lease_owner, lease_epoch, lease_expires_at, current_revision "
        "FROM watch_campaigns WHERE campaign_key = $1", campaign_id)
    if row is None:
        return None
    return Lease(row[0], int(row[1]), row[2], int(row[3]))
