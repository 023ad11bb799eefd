"""The gateway's SQLite database unable to grow (a full disk) or locked by another
process, while creates, reads and a watch go on; then the fault ends.

A real gateway (``gateway.app.Gateway``, in this process so that the fault can be put on
its own database connection) in front of the simulator:

- *full disk*: SQLite's ``PRAGMA max_page_count`` is per connection, so a side
  connection cannot cap the gateway's file; it is set on the gateway's one writer
  connection (``db.engines.write``, a pool of one), at the file's size, after a filler
  table has taken every free page. The database then refuses to grow by one page
  (``SQLITE_FULL``, "database or disk is full"), as on a full disk; a write that fits in
  a page with room left still succeeds, as it would there. What it does not model: the
  WAL file cannot grow on a real full disk either.
- *locked*: another connection (this process's ``sqlite3``, as another program would)
  holds ``BEGIN EXCLUSIVE`` for ``hold`` seconds, longer than the gateway's busy timeout
  (5 s). In WAL mode readers go on; every writer waits out the busy timeout.

During the fault: ten creates (one attempt each, 10 s deadline), cached and uncached
reads, rows of a watched campaign moving, ``/healthz``. Expected: a create that cannot
record its ``request_id`` fails before any POST (fail closed: no POST for any failed
create), reads are served, and afterwards the same ``request_id``s create exactly once.
Recovery time: the fault's end to the first create that succeeds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, simulator
from ._fault_kills import CountingView
from ._procs import Stub, reason_of, retrying_create

__all__ = ["DatabaseRow", "run_database_fault"]

_NO_LIMIT = 1073741823  # SQLite's default max_page_count


@dataclass
class DatabaseRow:
    fault: str
    attempted: int = 0
    posts: int = 0
    duplicated: int = 0
    reconciled: int = 0
    left_unknown: int = 0
    during: Counter[str] = field(default_factory=Counter)  # create outcomes in the fault
    posts_for_failed: int = 0  # POSTs of creates that failed during the fault: must be 0
    reads: Counter[str] = field(default_factory=Counter)  # read outcomes in the fault
    health: str = ""
    recovery: float | None = None
    events_lost: int = 0
    events_duplicated: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


class _DiskFull:
    """Caps the gateway's writer connection at its file's current size (see module)."""

    def __init__(self, gateway: Gateway) -> None:
        assert gateway.db is not None
        self._write = gateway.db.engines.write
        self.limit_seen = 0

    async def start(self) -> None:
        async with self._write.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS fault_filler (b BLOB)")
            await conn.commit()
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            await conn.exec_driver_sql(f"PRAGMA max_page_count = {int(pages)}")
            for size in (65536, 4096, 512, 64):  # every free page, then what pages have left
                while True:
                    try:
                        await conn.exec_driver_sql(
                            f"INSERT INTO fault_filler VALUES (randomblob({size}))")
                        await conn.commit()
                    except Exception:  # noqa: BLE001 - SQLITE_FULL: this size no longer fits
                        await conn.rollback()
                        break

    async def end(self) -> None:
        async with self._write.connect() as conn:
            self.limit_seen = int((await conn.exec_driver_sql("PRAGMA max_page_count")
                                   ).scalar_one())
            await conn.exec_driver_sql(f"PRAGMA max_page_count = {_NO_LIMIT}")
            await conn.exec_driver_sql("DROP TABLE fault_filler")
            await conn.commit()


class _Locked:
    """Another connection holds the database's write lock (``BEGIN EXCLUSIVE``)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        self._conn.execute("BEGIN EXCLUSIVE")

    async def end(self) -> None:
        assert self._conn is not None
        self._conn.execute("ROLLBACK")
        self._conn.close()


def _settings(sim: Simulator, db: Path) -> Settings:
    return Settings(listen="127.0.0.1:0", upstream_url=sim.base_url,
                    database_url=sqlite_url(db), upstream_timeout=5.0, reconcile_grace=2.0,
                    log_level="CRITICAL", rate_per_second=1000.0, rate_burst=1000,
                    metrics_listen="127.0.0.1:0", poll_interval=0.05, max_poll_interval=0.2,
                    cache_ttl=30.0)


async def _watch(stub: Stub, campaign_id: str, view: CountingView, stop: asyncio.Event) -> None:
    """Follow the campaign, resuming after any error, until it is final and ``stop``."""
    token = ""
    while True:
        request = pb.WatchCampaignRowsRequest(campaign_id=campaign_id, resume_token=token)
        request.heartbeat_interval.FromSeconds(1)
        if not token:
            view.fresh()
        call = stub.WatchCampaignRows(request, metadata=auth())
        try:
            async for message in call:
                view.apply(message)
                token = message.resume_token
                if stop.is_set() and message.heartbeat.campaign_final and not view.in_snapshot:
                    return
        except grpc.aio.AioRpcError as exc:
            view.violations[f"stream ended {reason_of(exc)}"] += 1
            await asyncio.sleep(0.2)
        finally:
            call.cancel()


async def _reads(stub: Stub, cached: list[str], row: DatabaseRow) -> None:
    calls: list[tuple[str, Any]] = []
    for cid in cached:
        calls.append(("Get cached", stub.GetCampaign(pb.GetCampaignRequest(id=cid),
                                                     metadata=auth(), timeout=10)))
        calls.append(("Get skip_cache", stub.GetCampaign(
            pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth(), timeout=10)))
        calls.append(("Rows", stub.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id=cid), metadata=auth(), timeout=10)))
    calls.append(("List", stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(),
                                             timeout=10)))
    for what, call in calls:
        try:
            await call
            row.reads[f"{what} OK"] += 1
        except grpc.aio.AioRpcError as exc:
            row.reads[f"{what} {exc.code().name}"] += 1


async def _health(gw: Gateway) -> str:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        response = await http.get(f"http://{gw.metrics_address}/healthz")
    database = response.json().get("database", {})
    return (f"HTTP {response.status_code}, database ok={database.get('ok')}"
            + (f" ({database.get('error')})" if database.get("error") else ""))


def _posts(sim: Simulator, names: set[str]) -> Counter[str]:
    return Counter(json.loads(r.body).get("name") for r in sim.received
                   if (r.method, r.path) == ("POST", "/campaigns")
                   and json.loads(r.body).get("name") in names)


async def _during(stub: Stub, sim: Simulator, gw: Gateway, row: DatabaseRow,
                  requests: list[pb.CreateCampaignRequest], cached: list[str],
                  watched: str) -> set[str]:
    """The fault's load; the names of the creates that failed."""
    failed: set[str] = set()
    gate = asyncio.Semaphore(5)

    async def one(request: pb.CreateCampaignRequest) -> None:
        async with gate:
            try:
                await stub.CreateCampaign(request, metadata=auth(), timeout=10)
                row.during["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                row.during[f"{exc.code().name} {reason_of(exc)}"] += 1
                failed.add(request.name)

    for i in range(3):
        sim.set_row_status(watched, i, "calling")
    await asyncio.gather(*(one(r) for r in requests), _reads(stub, cached, row))
    row.health = await _health(gw)
    return failed


async def run_database_fault(kind: str, seed: int, workdir: Path, hold: float = 8.0
                             ) -> DatabaseRow:
    row = DatabaseRow("SQLite full disk (max_page_count)" if kind == "disk"
                      else f"database locked {hold:g} s (BEGIN EXCLUSIVE > busy timeout 5 s)")
    db = workdir / f"{kind}.db"
    async with simulator(seed=seed) as sim:
        sim.received = deque()
        async with Gateway(_settings(sim, db)) as gw, \
                grpc.aio.insecure_channel(gw.address) as channel:
            stub = Stub(channel)
            watched = (await stub.CreateCampaign(create_request(6, name=f"{kind} watched"),
                                                 metadata=auth())).id
            cached = [(await stub.CreateCampaign(create_request(2, name=f"{kind} cached {i}"),
                                                 metadata=auth())).id for i in range(3)]
            view, stop = CountingView(frozenset()), asyncio.Event()
            watcher = asyncio.create_task(_watch(stub, watched, view, stop))
            requests = [create_request(2, name=f"{kind} #{i}", request_id=f"{kind}-{i}")
                        for i in range(10)]
            row.attempted = len(requests)
            fault: _DiskFull | _Locked = _DiskFull(gw) if kind == "disk" else _Locked(db)
            await fault.start()
            started = time.monotonic()
            failed = await _during(stub, sim, gw, row, requests, cached, watched)
            if kind == "locked":
                await asyncio.sleep(max(0.0, hold - (time.monotonic() - started)))
            row.posts_for_failed = sum(_posts(sim, failed).values())
            await fault.end()
            if isinstance(fault, _DiskFull) and fault.limit_seen == _NO_LIMIT:
                row.notes.append("the writer connection was replaced during the fault")
            ended = time.monotonic()
            await _after(stub, sim, row, requests, watched, ended)
            stop.set()
            async with asyncio.timeout(60):
                await watcher
            row.reconciled = int(gw.metrics.creates.outcomes.labels("reconciled")._value.get())
        _tally(sim, row, requests, view, watched)
    return row


async def _after(stub: Stub, sim: Simulator, row: DatabaseRow,
                 requests: list[pb.CreateCampaignRequest], watched: str, ended: float) -> None:
    """Every create retried with its request_id; the watched campaign moved to its end."""
    first_ok: list[float] = []

    async def retry(request: pb.CreateCampaignRequest) -> None:
        result = await retrying_create(stub, request, attempts=20, deadline=10)
        if result.campaign_id is not None:
            first_ok.append(time.monotonic() - ended)
        else:
            row.notes.append(f"{request.request_id} never created after the fault: "
                             + ", ".join(result.errors))
        row.left_unknown += result.unknown

    await asyncio.gather(*(retry(r) for r in requests))
    row.recovery = min(first_ok) if first_ok else None
    campaign = sim.campaign(watched)
    assert campaign is not None
    for i in range(len(campaign.rows)):
        sim.set_row_status(watched, i, "completed" if i % 2 else "errored")


def _tally(sim: Simulator, row: DatabaseRow, requests: list[pb.CreateCampaignRequest],
           view: CountingView, watched: str) -> None:
    names = {r.name for r in requests}
    per_name = Counter(c.name for org in sim.store.orgs.values()
                       for c in org.campaigns.values() if c.name in names)
    row.duplicated = sum(n - 1 for n in per_name.values() if n > 1)
    row.posts = sum(_posts(sim, names).values())
    campaign = sim.campaign(watched)
    assert campaign is not None
    want = {r.id: r.status for r in campaign.rows}
    row.events_lost = sum(1 for k in view.rows.keys() | want.keys()
                          if view.rows.get(k) != want.get(k))
    row.events_duplicated = view.violations.pop("the same change delivered twice", 0)
    row.violations.update(view.violations)
