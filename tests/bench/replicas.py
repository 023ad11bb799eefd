"""Replicas on PostgreSQL (issue 15): takeover after ``kill -9`` of the poller's process,
cross-replica commit→delivery, cached GetCampaign on PostgreSQL against SQLite.

Method:

* Every process is the real CLI: ``python -m gateway.simulator`` (real clock at
  ``SPEEDUP``× so a long campaign keeps changing, calling windows ignored) and three
  ``python -m gateway serve`` replicas on a fresh PostgreSQL database
  (``bench_<hex>``, dropped at the end), default ``--poll-interval``, ``--lease-ttl``
  10 s (2 s with ``--quick``). Each replica has a live subscriber of the campaign, so
  any of them may take the lease.
* Takeover: the poller's process is found by its ``revox_gateway_watch_pollers`` gauge
  (and the lease row alive in the database), killed with SIGKILL at a random phase of
  its renewal cycle, and two times are taken from the kill: until the lease row shows a
  new epoch (its ``lease_expires_at − ttl`` is when the successor took it, on the same
  clock), and until every surviving subscriber received a change committed after the
  kill (necessarily by the new poller). The killed process is restarted with a new
  subscriber before the next kill, so there are always three. Then again on a small
  campaign with three fresh replicas: the new holder's first poll is a full sweep, and
  the two sizes show what it costs.
* Delivery: each live row change's ``commit_time`` (the poller's wall clock at commit)
  against its receipt by the benchmark (same host, same clock), per message; a
  subscriber on the poller's own process gives the same-process figure of the same
  run, the others the cross-replica one. On PostgreSQL followers read when NOTIFY rings;
  on SQLite (two ``serve`` processes on one file: what ``--workers 2`` runs, with a
  port each so the benchmark knows which process a stream is on) they read every 0.2 s.
* Cached GetCampaign: one PostgreSQL and one SQLite gateway, the same simulator
  (manual clock) and campaign, cache filled first; interleaved rounds at concurrency
  16, pre-serialized requests; medians over rounds of calls/s, p50 and p99.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from tests.support import create_request

from ._cluster import Replica, Stream, bench_database, lease_of, migrate, pg_dsn, simulator
from ._common import AUTH, Options, SuiteResult, percentile
from ._servers import GET_METHOD

SPEEDUP = 60.0  # simulated seconds per real second: a call lasts a few real seconds
# Polls every 0.5 s (default 2 s) so that a minute of delivery holds ~100 revisions; the
# takeover does not depend on it (a new holder polls at once).
POLL = ["--poll-interval", "0.5", "--max-poll-interval", "2"]
POLL_INTERVAL = 0.5
FOLLOW_INTERVAL_PG = 1.0  # a follower's timer on PostgreSQL (reads and lease checks)
UNCAPPED = ["--rate", "1000000000", "--rate-burst", "1000000000"]


@dataclass(frozen=True)
class Plan:
    ttl: float
    kills: int
    contacts: int
    cap: int
    small_kills: int  # takeovers on a small campaign: what the first full sweep costs
    small_contacts: int
    window: float  # seconds of steady delivery measured per backend
    rounds: int
    calls: int
    concurrency: int = 16

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(ttl=2.0, kills=2, contacts=200, cap=5, small_kills=1,
                       small_contacts=100, window=10.0, rounds=3, calls=800)
        return cls(ttl=10.0, kills=10, contacts=1500, cap=5, small_kills=5,
                   small_contacts=300, window=60.0, rounds=7, calls=3000)


@dataclass
class Takeovers:
    """Seconds, one value per kill."""

    lease: list[float] = field(default_factory=list)  # kill -> lease taken
    first_commit: list[float] = field(default_factory=list)  # taken -> its first commit starts
    delivered: list[float] = field(default_factory=list)  # kill -> every survivor got one


@dataclass
class Figures:
    takeovers: dict[int, Takeovers] = field(default_factory=dict)  # campaign rows -> kills
    delivery: dict[str, list[float]] = field(default_factory=dict)  # label -> latencies (s)
    unary: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    load: dict[str, str] = field(default_factory=dict)  # phase -> load average at its start


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _log(message: str) -> None:
    import sys

    print(f"[bench replicas] {message}", file=sys.stderr, flush=True)


# -- the cluster ------------------------------------------------------------------------

async def _poller(replicas: list[Replica], http: httpx.AsyncClient, conn: asyncpg.Connection,
                  cid: str, timeout: float = 60) -> Replica:
    """The one replica polling ``cid``, once the lease row is alive and exactly one
    process reports a poller."""
    async with asyncio.timeout(timeout):
        while True:
            lease = await lease_of(conn, cid)
            if lease is not None and lease.owner and (lease.expires_at or 0) > time.time():
                counts = await asyncio.gather(*(r.pollers(http) for r in replicas))
                polling = [r for r, n in zip(replicas, counts, strict=True) if n == 1]
                if len(polling) == 1 and sum(counts) == 1:
                    return polling[0]
            await asyncio.sleep(0.05)  # polling with a deadline


async def _deliveries(streams: list[Stream], poller: Replica, since: float, until: float,
                      into: dict[str, list[float]], prefix: str) -> None:
    for s in streams:
        label = f"{prefix} same process" if s.replica is poller else f"{prefix} cross-replica"
        into.setdefault(label, []).extend(
            received - committed for _, committed, received in s.changes
            if since <= committed <= until)


async def _steady_window(plan: Plan, replicas: list[Replica], streams: list[Stream],
                         http: httpx.AsyncClient, conn: asyncpg.Connection | None, cid: str,
                         figures: Figures, prefix: str) -> None:
    """Deliveries over ``plan.window`` seconds with the same poller throughout (a window
    in which the lease changed hands, e.g. a renewal starved by the load, is run again)."""
    for _ in range(3):
        poller = await _poller_any(replicas, http, conn, cid)
        since = time.time()
        await asyncio.sleep(plan.window)  # the measurement window itself, not a synchronisation
        until = time.time() - 2.0  # changes committed in the last seconds may be in flight
        if await _poller_any(replicas, http, conn, cid) is poller:
            await _deliveries(streams, poller, since, until, figures.delivery, prefix)
            return
        _log(f"{prefix}: the poller changed during the delivery window; again")
    raise RuntimeError(f"{prefix}: the poller kept changing")


async def _poller_any(replicas: list[Replica], http: httpx.AsyncClient,
                      conn: asyncpg.Connection | None, cid: str) -> Replica:
    if conn is not None:
        return await _poller(replicas, http, conn, cid)
    async with asyncio.timeout(60):  # SQLite: the gauges alone
        while True:
            counts = await asyncio.gather(*(r.pollers(http) for r in replicas))
            if sorted(counts) == [0] * (len(replicas) - 1) + [1]:
                return replicas[counts.index(1)]
            await asyncio.sleep(0.05)


async def _lease_taken(conn: asyncpg.Connection, cid: str, epoch: int, ttl: float,
                       timeout: float) -> float:
    """Wall-clock time the lease of ``cid`` was taken under an epoch after ``epoch``."""
    async with asyncio.timeout(timeout):
        while True:
            lease = await lease_of(conn, cid)
            if lease is not None and lease.epoch > epoch and lease.expires_at is not None:
                # Read within ~10 ms of the taking, long before its first renewal (ttl/3).
                return lease.expires_at - ttl
            await asyncio.sleep(0.01)


async def _start(replicas: list[Replica], cid: str | None = None) -> None:
    await asyncio.gather(*(r.start() for r in replicas))


async def _pg_phase(plan: Plan, tmp: Path, url: str, sim_url: str, figures: Figures, *,
                    contacts: int, kills: int, delivery: bool) -> None:
    """Three replicas, a campaign of ``contacts`` rows watched on each; the delivery
    window first (``delivery``), then ``kills`` takeovers."""
    args = ["--database", url, "--no-migrate", "--upstream-url", sim_url,
            "--lease-ttl", f"{plan.ttl:g}", *POLL, *UNCAPPED]
    replicas = [Replica(f"pg{i}", tmp, args) for i in range(3)]
    streams: list[Stream] = []
    rng = random.Random(15)
    out = figures.takeovers.setdefault(contacts, Takeovers())
    async with httpx.AsyncClient() as http:
        conn = await asyncpg.connect(pg_dsn(url))
        try:
            await _start(replicas)
            created = await replicas[0].stub.CreateCampaign(
                create_request(contacts, max_concurrent_calls=plan.cap), metadata=AUTH,
                timeout=120)
            cid = created.id
            for r in replicas:  # the first subscriber's replica takes the lease
                streams.append(Stream(r, cid))
                await streams[-1].ready()
            _log(f"postgresql: 3 replicas, campaign {cid} of {contacts} rows")
            if delivery:
                figures.load["PostgreSQL delivery"] = _load()
                await _steady_window(plan, replicas, streams, http, conn, cid, figures,
                                     "PostgreSQL")
            figures.load.setdefault("takeover", _load())
            for k in range(kills):
                poller = await _poller(replicas, http, conn, cid)
                lease = await lease_of(conn, cid)
                assert lease is not None
                # A random phase of the renewal cycle: a kill right after a renewal waits
                # a whole TTL, one right before it two thirds of it.
                await asyncio.sleep(rng.uniform(0, plan.ttl / 3))
                killed_at = await poller.kill()
                victims = [s for s in streams if s.replica is poller]
                for s in victims:
                    s.stop()
                    streams.remove(s)
                limit = 3 * plan.ttl + 30
                taking = asyncio.ensure_future(
                    _lease_taken(conn, cid, lease.epoch, plan.ttl, limit))
                try:
                    received = await asyncio.gather(
                        *(s.first_commit_after(killed_at, limit) for s in streams))
                    taken_at = await taking
                finally:
                    taking.cancel()
                out.lease.append(taken_at - killed_at)
                out.first_commit.append(min(c for c, _ in received) - taken_at)
                out.delivered.append(max(r for _, r in received) - killed_at)
                _log(f"{contacts} rows, kill {k + 1}/{kills} of {poller.name}: lease taken "
                     f"after {out.lease[-1]:.2f} s, its first commit "
                     f"{out.first_commit[-1]:.2f} s later, new revision at every "
                     f"survivor after {out.delivered[-1]:.2f} s")
                await poller.start()
                streams.append(Stream(poller, cid))
                await streams[-1].ready()
        finally:
            for s in streams:
                s.stop()
            await asyncio.gather(*(r.stop() for r in replicas), return_exceptions=True)
            await conn.close()


async def _sqlite_phase(plan: Plan, tmp: Path, sim_url: str, figures: Figures) -> None:
    url = f"sqlite+aiosqlite:///{tmp / 'replicas.db'}"
    migrate(url)
    args = ["--database", url, "--no-migrate", "--upstream-url", sim_url, *POLL, *UNCAPPED]
    replicas = [Replica(f"sqlite{i}", tmp, args) for i in range(2)]
    streams: list[Stream] = []
    async with httpx.AsyncClient() as http:
        try:
            await _start(replicas)
            created = await replicas[0].stub.CreateCampaign(
                create_request(plan.contacts, max_concurrent_calls=plan.cap), metadata=AUTH,
                timeout=120)
            for r in replicas:
                streams.append(Stream(r, created.id))
                await streams[-1].ready()
            _log(f"sqlite: 2 processes on one file, delivery window {plan.window:g} s")
            figures.load["SQLite delivery"] = _load()
            await _steady_window(plan, replicas, streams, http, None, created.id, figures,
                                 "SQLite")
        finally:
            for s in streams:
                s.stop()
            await asyncio.gather(*(r.stop() for r in replicas), return_exceptions=True)


# -- cached GetCampaign -----------------------------------------------------------------

async def _blast(call: object, request: bytes, concurrency: int, total: int,
                 latencies: list[float]) -> float:
    per_worker = max(1, total // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            t0 = time.perf_counter()
            await call(request, metadata=AUTH)  # type: ignore[operator]
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_worker * concurrency / (time.perf_counter() - start)


async def _unary_phase(plan: Plan, tmp: Path, pg_url: str, figures: Figures) -> None:
    with simulator(tmp, "--clock", "manual") as (_, sim_url):
        common = ["--upstream-url", sim_url, "--cache-ttl", "3600", *UNCAPPED]
        targets = {
            "PostgreSQL": Replica("pg-unary", tmp, ["--database", pg_url, "--no-migrate",
                                                    *common]),
            "SQLite": Replica("sqlite-unary", tmp, [
                "--database", f"sqlite+aiosqlite:///{tmp / 'unary.db'}", *common]),
        }
        try:
            await _start(list(targets.values()))
            created = await targets["PostgreSQL"].stub.CreateCampaign(
                create_request(20), metadata=AUTH, timeout=60)
            request = pb.GetCampaignRequest(id=created.id).SerializeToString()
            calls: dict[str, Any] = {}
            for name, r in targets.items():
                assert r.channel is not None
                calls[name] = r.channel.unary_unary(GET_METHOD)
                first = await calls[name](request, metadata=AUTH)  # fills the cache
                again = await calls[name](request, metadata=AUTH)
                assert first == again, f"{name}: the cached answer differs"
                await _blast(calls[name], request, plan.concurrency, plan.calls // 3, [])
            for name in targets:
                figures.unary[name] = {"rps": [], "p50": [], "p99": []}
            figures.load["GetCampaign"] = _load()
            for rnd in range(plan.rounds):
                order = list(targets) if rnd % 2 == 0 else list(reversed(targets))
                for name in order:
                    lat: list[float] = []
                    rps = await _blast(calls[name], request, plan.concurrency, plan.calls, lat)
                    figures.unary[name]["rps"].append(rps)
                    figures.unary[name]["p50"].append(percentile(lat, 50))
                    figures.unary[name]["p99"].append(percentile(lat, 99))
        finally:
            await asyncio.gather(*(r.stop() for r in targets.values()), return_exceptions=True)


# -- report -----------------------------------------------------------------------------

async def _measure(plan: Plan) -> Figures:
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="revox-bench-replicas-") as name:
        tmp = Path(name)
        async with bench_database() as url:
            migrate(url)
            with simulator(tmp, "--speedup", f"{SPEEDUP:g}", "--ignore-windows") as (_, sim):
                await _pg_phase(plan, tmp, url, sim, figures, contacts=plan.contacts,
                                kills=plan.kills, delivery=True)
                await _pg_phase(plan, tmp, url, sim, figures, contacts=plan.small_contacts,
                                kills=plan.small_kills, delivery=False)
                await _sqlite_phase(plan, tmp, sim, figures)
            await _unary_phase(plan, tmp, url, figures)
    return figures



def run(opts: Options) -> SuiteResult:
    from ._replicas_report import render

    plan = Plan.of(opts.quick)
    figures = asyncio.run(_measure(plan))
    return render(plan, figures, poll_interval=POLL_INTERVAL,
                  follow_interval=FOLLOW_INTERVAL_PG, speedup=SPEEDUP)
