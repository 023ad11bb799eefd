"""The gateway killed with SIGKILL ``--kills`` times (20) under a create and watch load.

The gateway is a real process (``python -m gateway serve``) on one SQLite file, in front
of the simulator (this process, manual clock; half the POSTs held 0.3 s so that kills
land while creates are at the upstream). Meanwhile:

- three clients create, each request with its own ``request_id``, retried as the README
  asks (same ``request_id``, honouring RetryInfo, a short backoff while the gateway is
  down), until the kills are over;
- three subscribers watch one campaign (two with no filter, one on calling/scheduled)
  whose rows this script moves along the documented lifecycle (never to a final status
  while kills go on; to the end afterwards); after each kill they resume with their last
  token. Every message is checked by the watch model's ``View`` (counting, not stopping
  at, violations), and at the end each view is compared with the upstream's rows.

Kills come 0.5–2.5 s (seeded) after the previous process answered. Recovery time is
from the kill to the first successful rpc on the restarted process (a GetCampaign
polled every 20 ms), so it includes the process start.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from ..support import ALICE, auth, create_request, simulator
from ._procs import Child, Stub, free_port, gateway_args, reason_of, retrying_create, scrape
from .watch_model import FINAL, NEXT, ConsistencyError, View

__all__ = ["KillRun", "run_kills"]

_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 200)]
_FILTERS: tuple[tuple[str, ...], ...] = ((), (), ("calling", "scheduled"))
_STATUS_ENUM = {"calling": row_pb2.CALL_STATUS_CALLING, "scheduled": row_pb2.CALL_STATUS_SCHEDULED}
_ROWS = 40


class CountingView(View):
    """The watch model's view, counting what it forbids instead of stopping there."""

    def __init__(self, statuses: frozenset[str]) -> None:
        super().__init__(statuses)
        self.violations: Counter[str] = Counter()

    def _check(self, ok: bool, what: str) -> None:
        if not ok:
            self.violations[" ".join(w for w in what.split() if not w.startswith("row_"))] += 1


@dataclass
class KillRun:
    kills: int
    attempted: int = 0
    posts: int = 0
    campaigns: int = 0
    duplicated: int = 0
    reconciled: int = 0
    left_unknown: int = 0
    failed: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    final_errors: Counter[str] = field(default_factory=Counter)  # of creates that failed
    scrape_failures: int = 0
    recovery: list[float] = field(default_factory=list)  # seconds, kill -> first rpc
    messages: int = 0
    resumes: int = 0
    events_lost: int = 0  # rows whose final view differs from the upstream's, all views
    events_duplicated: int = 0
    violations: Counter[str] = field(default_factory=Counter)

    def recovery_text(self) -> str:
        if not self.recovery:
            return "-"
        return (f"median {statistics.median(self.recovery):.2f} s, "
                f"max {max(self.recovery):.2f} s")


@dataclass
class _World:
    sim: Simulator
    gateway: Child
    stub: Stub
    metrics: str
    run: KillRun
    rng: random.Random
    campaign_id: str = ""
    killing: bool = True  # while True: creates go on, rows never become final
    rows_final: asyncio.Event = field(default_factory=asyncio.Event)


async def _reconciled(world: _World) -> float:
    """The gateway's reconciled-create counter (its process's own, lost at a kill)."""
    try:
        return await scrape(world.metrics, "revox_gateway_idempotent_creates_total",
                            outcome="reconciled")
    except (httpx.HTTPError, LookupError):
        world.run.scrape_failures += 1
        return 0.0


async def _creator(world: _World, index: int, names: list[str]) -> None:
    serial = 0
    while world.killing:
        serial += 1
        name = f"kill load {index}-{serial}"
        names.append(name)
        request = create_request(2, name=name, request_id=f"kill-{index}-{serial}")
        # Patient: a restart takes seconds, and giving up would leave the outcome unknown.
        result = await retrying_create(world.stub, request, attempts=600, deadline=5,
                                       backoff=0.1)
        world.run.attempted += 1
        world.run.client_errors.update(result.errors)
        if result.campaign_id is None:
            world.run.left_unknown += result.unknown
            world.run.failed += not result.unknown
            world.run.final_errors[result.errors[-1] if result.errors else "-"] += 1


async def _subscriber(world: _World, view: CountingView, statuses: tuple[str, ...]) -> None:
    token = ""
    while True:
        request = pb.WatchCampaignRowsRequest(
            campaign_id=world.campaign_id, resume_token=token,
            statuses=[_STATUS_ENUM[s] for s in statuses])
        request.heartbeat_interval.FromSeconds(1)
        if not token:
            view.fresh()
        resumed = bool(token)
        call = world.stub.WatchCampaignRows(request, metadata=auth())
        try:
            async for message in call:
                world.run.resumes += resumed  # a resume that delivered (not a refused one)
                resumed = False
                view.apply(message)
                token = message.resume_token
                world.run.messages += 1
                if (world.rows_final.is_set() and message.heartbeat.campaign_final
                        and not view.in_snapshot):
                    return
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise ConsistencyError(f"the stream failed: {exc.code()} {reason_of(exc)}") \
                    from None
            await asyncio.sleep(0.05)  # the gateway is restarting
        finally:
            call.cancel()


async def _rows(world: _World) -> None:
    """Move rows along the lifecycle: round trips only while killing, then to the end."""
    campaign = world.sim.campaign(world.campaign_id)
    assert campaign is not None
    while True:
        open_rows = [i for i, r in enumerate(campaign.rows) if r.status not in FINAL]
        if not open_rows:
            break
        for i in world.rng.sample(open_rows, min(len(open_rows), world.rng.randint(1, 3))):
            choices = NEXT[campaign.rows[i].status]
            if world.killing:  # keep rows moving, never finished, until the kills end
                choices = tuple(c for c in choices if c not in FINAL) or ("calling",)
            world.sim.set_row_status(world.campaign_id, i, world.rng.choice(choices))
        await asyncio.sleep(world.rng.uniform(0.1, 0.4))
    world.rows_final.set()


async def _recover(world: _World, probe: Stub, killed_at: float) -> None:
    await world.gateway.start()
    async with asyncio.timeout(60):
        while True:
            try:
                await probe.GetCampaign(pb.GetCampaignRequest(id=world.campaign_id),
                                        metadata=auth(), timeout=0.5)
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.02)
    world.run.recovery.append(time.monotonic() - killed_at)


async def _killer(world: _World, kills: int, address: str) -> None:
    async with grpc.aio.insecure_channel(address, options=_OPTIONS) as channel:
        probe = Stub(channel)
        for _ in range(kills):
            await asyncio.sleep(world.rng.uniform(0.5, 2.5))
            world.run.reconciled += int(await _reconciled(world))
            killed_at = time.monotonic()
            await world.gateway.stop(signal.SIGKILL)
            await _recover(world, probe, killed_at)
    world.killing = False


async def _tally(world: _World, names: list[str], views: list[CountingView]) -> None:
    run, sim = world.run, world.sim
    async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as http:
        listed = (await http.get("/campaigns", headers={"authorization": f"Bearer {ALICE}"})
                  ).json()["campaigns"]
    wanted = set(names)
    per_name = Counter(c["name"] for c in listed if c["name"] in wanted)
    run.campaigns = sum(per_name.values())
    run.duplicated = sum(n - 1 for n in per_name.values() if n > 1)
    run.posts = sum(1 for r in sim.received if (r.method, r.path) == ("POST", "/campaigns")
                    and json.loads(r.body).get("name") in wanted)
    campaign = sim.campaign(world.campaign_id)
    assert campaign is not None
    for view in views:
        want = {r.id: r.status for r in campaign.rows if view.matches(r.status)}
        run.events_lost += sum(1 for k in view.rows.keys() | want.keys()
                               if view.rows.get(k) != want.get(k))
        run.events_duplicated += view.violations.pop("the same change delivered twice", 0)
        run.violations.update(view.violations)


async def run_kills(kills: int, seed: int, workdir: Path) -> KillRun:
    run = KillRun(kills)
    async with simulator(seed=seed) as sim:
        sim.received = deque()  # every request, not the last 32: POSTs are counted
        address, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        gateway = Child(gateway_args(int(address.rsplit(":", 1)[1]), sim.base_url,
                                     workdir / "kills.db", "--reconcile-grace", "2",
                                     "--poll-interval", "0.05", "--max-poll-interval", "0.2",
                                     "--shutdown-grace", "1", "--metrics-listen", metrics),
                        workdir / "kills.log", b"serving")
        await gateway.start()
        try:
            async with grpc.aio.insecure_channel(address, options=_OPTIONS) as channel:
                world = _World(sim, gateway, Stub(channel), metrics, run, random.Random(seed))
                world.campaign_id = (await world.stub.CreateCampaign(
                    create_request(_ROWS, name="watched across kills"), metadata=auth())).id
                sim.faults.add_latency(0.3, method="POST", ratio=0.5)
                await _drive(world, kills, address)
                world.run.reconciled += int(await _reconciled(world))
        finally:
            await gateway.stop()
    return run


async def _drive(world: _World, kills: int, address: str) -> None:
    names: list[str] = []
    views = [CountingView(frozenset(f)) for f in _FILTERS]
    tasks = [asyncio.create_task(_creator(world, i, names)) for i in range(3)]
    tasks += [asyncio.create_task(_subscriber(world, v, f)) for v, f in zip(views, _FILTERS,
                                                                           strict=True)]
    tasks.append(asyncio.create_task(_rows(world)))
    try:
        await _killer(world, kills, address)
        async with asyncio.timeout(180):
            await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await _tally(world, names, views)
