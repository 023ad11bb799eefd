"""WatchCampaignRows benchmarks (issue 5).

Fan-out (one campaign, 1 / 100 / 1,000 subscribers, each level in a fresh
``watch`` server process so every level replays the same seeded call history):

* upstream requests per poll cycle: the hub's poller counters over the same
  sequence of polls; the figure must not depend on the number of subscribers;
* commit → delivery: ``commit_time`` of each live event against the wall clock
  when this (client) process reads it, over every subscriber; the time for the
  LAST subscriber to get a revision is reported too;
* RSS per idle subscriber: the gateway's VmRSS with 1 subscriber and with N
  (all past their snapshot, after ``gc``), divided by N - 1.

Scale (a 100,000-row campaign, the simulator in its own process, the poller in
this one so its CPU is ``time.process_time``): poll cycles that poll only the
non-terminal rows against full sweeps, interleaved at the same point of the
campaign, early (nearly every row still queued) and late (most rows terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ._common import AUTH, KEY, Options, SuiteResult, median, percentile, table
from ._servers import ServerProcess

SUBSCRIBERS = (1, 100, 1000)
STREAMS_PER_CHANNEL = 100
P99_TARGET_MS = 50.0
RSS_TARGET_KIB = 20.0
SCALE_ROWS = 100_000
FANOUT_METHOD = (
    "Each level runs in a fresh server process replaying the same seeded campaign; one poll "
    "per step (the poller is poked after the simulated clock reaches the next call event). "
    "Latency is measured by this (Python, single-process) client from each event's "
    "`commit_time` to when it reads the event, over every subscriber; \"last subscriber\" is "
    "the time until every subscriber had the revision. The bare grpc.aio fan-out is the "
    "ceiling: a server that only puts pre-serialized bytes on one queue per stream."
)


@dataclass(frozen=True)
class Plan:
    contacts: int
    cap: int
    steps: int
    scale_cycles: int  # per mode and phase

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(40, 4, 12, 2) if quick else cls(40, 4, 40, 4)


# -- fan-out ---------------------------------------------------------------------


@dataclass
class Fanout:
    n: int
    polls: int = 0
    requests: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)  # per revision: until the last subscriber
    events_per_revision: list[int] = field(default_factory=list)
    rss_per_sub_kib: float | None = None
    server_cpu_s: float = 0.0
    snapshot_s: float = 0.0


class _Subscribers:
    """N streams on shared channels; records when each revision reached each of them."""

    def __init__(self, address: str, campaign_id: str) -> None:
        self.address = address
        self.cid = campaign_id
        self.channels: list[grpc.aio.Channel] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.snapshotted = 0
        self.snap_event = asyncio.Event()
        self.snap_target = 0
        self.reached: dict[int, int] = defaultdict(int)  # revision -> subscribers holding it
        self.reached_at: dict[int, float] = {}
        self.commit: dict[int, float] = {}
        self.events: dict[int, int] = defaultdict(int)
        self.latencies_ms: list[float] = []
        self.waiting: dict[int, asyncio.Event] = {}
        self.errors: list[BaseException] = []

    def add(self, n: int) -> None:
        self.snap_target += n
        if self.snapshotted < self.snap_target:
            self.snap_event.clear()
        for _ in range(n):
            if not self.channels or len(self.tasks) % STREAMS_PER_CHANNEL == 0:
                self.channels.append(grpc.aio.insecure_channel(self.address))
            stub = campaign_service_pb2_grpc.CampaignServiceStub(self.channels[-1])
            self.tasks.append(asyncio.create_task(self._consume(stub)))

    @property
    def n(self) -> int:
        return len(self.tasks)

    async def _consume(self, stub: Any) -> None:
        call = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=self.cid), metadata=AUTH)
        last = -1
        try:
            async for m in call:
                now = time.time()
                kind = m.WhichOneof("event")
                if kind == "snapshot_complete":
                    last = m.revision
                    self.snapshotted += 1
                    if self.snapshotted >= self.snap_target:
                        self.snap_event.set()
                elif kind == "row_change" and not m.row_change.in_snapshot:
                    commit = m.commit_time.ToNanoseconds() / 1e9
                    self.latencies_ms.append((now - commit) * 1e3)
                    if m.revision != last:
                        last = m.revision
                        self._reached(m.revision, commit, now)
                    if self.reached[m.revision] == 1:
                        self.events[m.revision] += 1
        except asyncio.CancelledError:
            call.cancel()
            raise
        except grpc.aio.AioRpcError as exc:
            self.errors.append(exc)
            self.snap_event.set()

    def _reached(self, rev: int, commit: float, now: float) -> None:
        self.reached[rev] += 1
        self.commit[rev] = commit
        if self.reached[rev] == self.n:
            self.reached_at[rev] = now
            ev = self.waiting.get(rev)
            if ev is not None:
                ev.set()

    async def until_snapshot(self, timeout: float) -> None:
        await asyncio.wait_for(self.snap_event.wait(), timeout)
        if self.errors:
            raise RuntimeError(f"a subscriber failed: {self.errors[0]}")

    async def until_everyone(self, rev: int, timeout: float) -> None:
        if self.reached[rev] >= self.n:
            return
        ev = self.waiting.setdefault(rev, asyncio.Event())
        await asyncio.wait_for(ev.wait(), timeout)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for ch in self.channels:
            await ch.close()


async def _fanout(
    n: int, plan: Plan, *, bare: bool = False, profile: Path | None = None
) -> Fanout:
    """One level of subscribers against the gateway, or (``bare``) against the ceiling."""
    out = Fanout(n)
    with ServerProcess("fanout" if bare else "watch", profile=profile) as srv:
        cmd = srv.command
        cid = "bare"
        if not bare:
            cid = cmd(op="create", contacts=plan.contacts, cap=plan.cap, key=KEY)["campaign_id"]
            # Past the creation burst (every row initializing -> queued at once): the measured
            # revisions are the steady state of a running campaign, one call event at a time.
            cmd(op="advance", seconds=5)
        subs = _Subscribers(srv.info["grpc"], cid)
        try:
            subs.add(1)
            await subs.until_snapshot(60)
            rss_one = (await asyncio.to_thread(cmd, op="gc"))["rss_kib"]
            t0 = time.perf_counter()
            subs.add(n - 1)
            await subs.until_snapshot(300)
            out.snapshot_s = time.perf_counter() - t0
            after = await asyncio.to_thread(cmd, op="gc")
            if n > 1:
                out.rss_per_sub_kib = (after["rss_kib"] - rss_one) / (n - 1)
            cpu0 = srv.cpu_seconds()
            if profile is not None:
                srv.signal(signal.SIGUSR1)
            last = -1
            for _ in range(plan.steps):
                step = {"op": "publish"} if bare else {"op": "step", "campaign_id": cid}
                rev = (await asyncio.to_thread(cmd, **step))["revision"]
                if rev > last:
                    await subs.until_everyone(rev, 120)
                    last = rev
            out.server_cpu_s = srv.cpu_seconds() - cpu0
            if profile is not None:
                srv.signal(signal.SIGUSR2)
            if not bare:
                final = await asyncio.to_thread(cmd, op="stats")
                out.polls = final["polls"] - after["polls"]
                out.requests = final["upstream_requests"] - after["upstream_requests"]
            out.latencies_ms = subs.latencies_ms
            out.last_ms = [(subs.reached_at[r] - subs.commit[r]) * 1e3 for r in subs.reached_at]
            out.events_per_revision = [subs.events[r] for r in subs.reached_at]
        finally:
            await subs.close()
    return out


def _fanout_row(label: str, r: Fanout) -> list[str]:
    return [
        label,
        f"{r.n:,}",
        f"{r.requests}/{r.polls}" if r.polls else "-",
        f"{percentile(r.latencies_ms, 50):.1f}",
        f"{percentile(r.latencies_ms, 99):.1f}",
        f"{median(r.last_ms):.1f}" if r.last_ms else "-",
        f"{max(r.events_per_revision)}" if r.events_per_revision else "-",
        f"{r.server_cpu_s / max(1, len(r.last_ms)) * 1e3:.1f}",
        f"{r.rss_per_sub_kib:.1f}" if r.rss_per_sub_kib is not None else "-",
        f"{r.snapshot_s:.2f}",
    ]


def _fanout_section(
    results: list[Fanout], bare: list[Fanout]
) -> tuple[str, list[tuple[str, bool, str]]]:
    rows = [_fanout_row("gateway", r) for r in results]
    rows += [_fanout_row("bare grpc.aio fan-out", r) for r in bare]
    md = table(
        ["server", "subscribers", "upstream requests / polls", "commit→delivery p50 ms",
         "p99 ms", "last subscriber p50 ms", "max events / revision", "server CPU ms / revision",
         "RSS KiB / idle subscriber", "joining s"],
        rows,
    )
    per_poll = {r.n: (r.requests, r.polls) for r in results}
    equal = len(set(per_poll.values())) == 1
    top = results[-1]
    ceiling = next((b for b in bare if b.n == top.n), None)
    p99 = percentile(top.latencies_ms, 99)
    ref = ""
    if ceiling is not None:
        ref = f"; bare grpc.aio ceiling p99 {percentile(ceiling.latencies_ms, 99):.1f} ms"
    verdicts = [
        ("upstream requests per poll cycle independent of subscribers", equal,
         ", ".join(f"{n:,}: {q}/{p}" for n, (q, p) in per_poll.items()) + " (requests/polls)"),
        (f"commit→delivery p99 at {top.n:,} subscribers ≤ {P99_TARGET_MS:.0f} ms",
         p99 <= P99_TARGET_MS,
         f"{p99:.1f} ms (p50 {percentile(top.latencies_ms, 50):.1f} ms){ref}"),
    ]
    if top.rss_per_sub_kib is not None:
        ref = ""
        if ceiling is not None and ceiling.rss_per_sub_kib is not None:
            ref = f"; bare grpc.aio stream {ceiling.rss_per_sub_kib:.1f} KiB"
        verdicts.append((f"gateway RSS per idle subscriber ≤ {RSS_TARGET_KIB:.0f} KiB",
                         top.rss_per_sub_kib <= RSS_TARGET_KIB,
                         f"{top.rss_per_sub_kib:.1f} KiB at {top.n:,} subscribers{ref}"))
    return md, verdicts


# -- scale: 100k rows ------------------------------------------------------------------


@dataclass
class Cycle:
    mode: str
    phase: str
    cpu_ms: float
    wall_ms: float
    requests: int
    changes: int


async def _scale(plan: Plan) -> tuple[list[Cycle], dict[str, dict[str, int]]]:
    from gateway.config import Settings
    from gateway.convert import create_body
    from gateway.store import Database, sqlite_url
    from gateway.upstream import RevoxClient
    from gateway.watch._poller import Poller
    from gateway.watch._state import CampaignState
    from tests.support import create_request

    cycles: list[Cycle] = []
    mix: dict[str, dict[str, int]] = {}
    with ServerProcess("simulator") as sim, tempfile.TemporaryDirectory() as tmp:
        base = sim.info["simulator"]
        async with (
            Database(sqlite_url(Path(tmp) / "scale.db")) as db,
            RevoxClient(base, default_timeout=120) as client,
            httpx.AsyncClient(base_url=base, timeout=600) as control,
        ):
            req = create_request(0, max_concurrent_calls=1000)
            req.contacts.extend(
                pb.Contact(to_phone_number=f"+336{i:08d}") for i in range(SCALE_ROWS)
            )
            body = await client.create_campaign(KEY, create_body(req))
            cid = body["campaign"]["id"]
            state = CampaignState(cid)
            state.add_key(KEY)
            counters: dict[str, int] = defaultdict(int)
            poller = Poller(state, client=client, changelog=db.changelog, settings=Settings().watch,
                            clock=time.time, counters=counters)

            async def advance(seconds: float) -> None:
                (await control.post("/_simulator/advance", json={"seconds": seconds})).raise_for_status()

            async def cycle(mode: str, phase: str) -> None:
                poller._cycle_requests = 0
                c0, w0 = time.process_time(), time.perf_counter()
                result = await poller._cycle(KEY, mode == "full sweep")
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                cycles.append(Cycle(mode, phase, cpu * 1e3, wall * 1e3, poller._cycle_requests,
                                    len(result.changes)))

            await advance(5)
            await cycle("full sweep", "initial")  # the first poll stores all 100k rows
            for phase, skip in (("early", 0.0), ("late", 12000.0)):
                if skip:
                    await advance(skip)
                    await poller._cycle(KEY, True)  # catch up (not measured)
                mix[phase] = await _status_mix(client, cid)
                for _ in range(plan.scale_cycles):
                    for mode in ("active rows only", "full sweep"):
                        await advance(12)
                        await cycle(mode, phase)
    return cycles, mix


async def _status_mix(client: Any, cid: str) -> dict[str, int]:
    body = await client.get_campaign(KEY, cid)
    stats = (body.get("campaign") or body).get("row_stats") or {}
    return {k: int(v) for k, v in stats.items() if isinstance(v, int | float)}


def _scale_section(cycles: list[Cycle], mix: dict[str, dict[str, int]]) -> str:
    rows = []
    for phase in ("initial", "early", "late"):
        for mode in ("active rows only", "full sweep"):
            sel = [c for c in cycles if c.phase == phase and c.mode == mode]
            if not sel:
                continue
            rows.append([
                phase, mode, str(len(sel)),
                f"{median([c.cpu_ms for c in sel]):.0f}",
                f"{median([c.wall_ms for c in sel]):.0f}",
                f"{median([float(c.requests) for c in sel]):.0f}",
                f"{median([float(c.changes) for c in sel]):.0f}",
            ])
    md = table(["phase", "poll", "cycles", "CPU ms (median)", "wall ms", "upstream requests",
                "row changes"], rows)
    notes = "\n".join(f"- {phase} row_stats: {m}" for phase, m in mix.items())
    return md + "\n\n" + notes


# -- entry ---------------------------------------------------------------------------


async def _run(opts: Options) -> SuiteResult:
    plan = Plan.of(opts.quick)
    fan, bare = [], []
    for n in SUBSCRIBERS:
        fan.append(await _fanout(n, plan))
        if n > 1:
            bare.append(await _fanout(n, plan, bare=True))
    fan_md, verdicts = _fanout_section(fan, bare)
    cycles, mix = await _scale(plan)
    md = (
        "## WatchCampaignRows\n\n"
        f"### Fan-out: one campaign ({plan.contacts} contacts, {plan.steps} poll cycles with "
        "changes), 1 / 100 / 1,000 subscribers\n\n" + FANOUT_METHOD + "\n\n" + fan_md
        + "\n\n### Poll cycles of a 100,000-row campaign (about 1% of rows changing per cycle)\n\n"
        + _scale_section(cycles, mix)
    )
    return SuiteResult(md, verdicts)


def run(opts: Options) -> SuiteResult:
    return asyncio.run(_run(opts))
