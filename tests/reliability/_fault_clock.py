"""The gateway's wall clock stepped by hours, through an injected clock, in one process.

The store (``Database(clock=)``) and the use cases (``Campaigns(clock=)``) read a wall
clock that this script steps by ±3 h while real time goes on; the monotonic clock is
the real one (the clock object's ``monotonic``). Each create's POST is lost first:

- *forward*: the POST is held 1 s at the simulator and the caller gives up after 0.3 s
  (the outcome is unknown; the simulator commits it ~0.7 s later); the wall steps +3 h;
  the caller retries at once and keeps retrying (same ``request_id``). A grace window
  measured on the wall clock is over at once: the retry creates again while the first
  commits, a duplicate. Measured step-proof, it still waits 2 s, then reconciles.
- *backward*: the POST's connection is dropped (nothing created); the wall steps -3 h;
  the caller retries for 8 s. On the wall clock the lost attempt is 3 h in the future
  and the request_id stays unknown (RetryInfo says hours); step-proof, it is released
  after 2 s and created once.
- *in flight*: a duplicate arrives after a +3 h step while the first create is still at
  the upstream: it waits for it (no second POST).
- *cache*: a cached campaign read four times at the true time, after a +3 h step, and
  after stepping back to -3 h (so its cached copy is 6 h in the future).

Each of the first two runs twice: as the store measures ages now (``monotonic`` beside
the wall clock), and with durations on the wall clock alone (as before), to show what
the difference is.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import errors
from gateway.observability import Metrics
from gateway.service import Campaigns
from gateway.simulator import Simulator
from gateway.store import Database, sqlite_url
from gateway.upstream import RevoxClient, UpstreamError

from ..support import ALICE, contacts, simulator

__all__ = ["ClockRow", "run_clock"]

STEP = 3 * 3600.0
GRACE = 2.0


class WallClock:
    """``time.time()`` plus a step the script sets."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class SteppedWall(WallClock):
    """The same, with the real monotonic clock beside it (what the store ages on)."""

    monotonic = staticmethod(time.monotonic)


@dataclass
class ClockRow:
    fault: str
    attempted: int = 0
    posts: int = 0
    duplicated: int = 0
    reconciled: int = 0
    left_unknown: int = 0
    retry_after: list[float] = field(default_factory=list)  # RetryInfo the callers got
    settled_in: list[float] = field(default_factory=list)  # step -> answer, seconds
    notes: list[str] = field(default_factory=list)


def _body(name: str) -> dict[str, Any]:
    return {"assistant_id": "asst_clock", "name": name, "contacts": contacts(2)}


async def _retry(campaigns: Campaigns, name: str, request_id: str, row: ClockRow,
                 budget: float) -> bool:
    """Retry as a client does (RetryInfo honoured up to 0.5 s) for ``budget`` seconds."""
    caller = campaigns.caller(ALICE)
    give_up = time.monotonic() + budget
    while time.monotonic() < give_up:
        try:
            await campaigns.create(caller, _body(name), request_id=request_id, timeout=5)
            return True
        except errors.CreateOutcomeUnknown as exc:
            if exc.retry_after is not None:
                row.retry_after.append(exc.retry_after)
            await asyncio.sleep(min(0.5, exc.retry_after or 0.2))
        except (errors.CreateInFlight, UpstreamError):
            await asyncio.sleep(0.2)
    row.left_unknown += 1
    return False


async def _lost_then_step(campaigns: Campaigns, sim: Simulator, wall: WallClock,
                          row: ClockRow, creates: int, step: float) -> None:
    caller = campaigns.caller(ALICE)
    for i in range(creates):
        name, request_id = f"{row.fault} #{i}", f"clock-{row.fault}-{i}"
        if step > 0:  # committed after the caller gave up
            sim.faults.add_latency(1.0, method="POST", count=1)
        else:  # never created
            sim.faults.drop_next(1, method="POST")
        try:
            await campaigns.create(caller, _body(name), request_id=request_id, timeout=0.3)
        except UpstreamError:
            pass  # lost: timed out, or the connection dropped
        wall.offset += step
        stepped = time.monotonic()
        if await _retry(campaigns, name, request_id, row, budget=8.0):
            row.settled_in.append(time.monotonic() - stepped)
        wall.offset -= step  # the next create starts from the true time again
    row.attempted = creates


async def _in_flight(campaigns: Campaigns, sim: Simulator, wall: WallClock, row: ClockRow,
                     creates: int) -> None:
    caller = campaigns.caller(ALICE)
    for i in range(creates):
        name, request_id = f"{row.fault} #{i}", f"clock-inflight-{i}"
        sim.faults.add_latency(1.0, method="POST", count=1)
        first = asyncio.create_task(campaigns.create(caller, _body(name),
                                                     request_id=request_id, timeout=5))
        await asyncio.sleep(0.3)  # the first is at the upstream now
        wall.offset += STEP
        second = await campaigns.create(caller, _body(name), request_id=request_id, timeout=5)
        if second["id"] != (await first)["id"]:
            row.notes.append(f"request {i}: the duplicate got another campaign")
        wall.offset -= STEP
    row.attempted = creates


async def _cache(campaigns: Campaigns, sim: Simulator, wall: WallClock, row: ClockRow) -> None:
    caller = campaigns.caller(ALICE)
    cid = (await campaigns.create(caller, _body("cache"), request_id="clock-cache",
                                  timeout=5))["id"]

    def gets() -> int:
        return sum(1 for r in sim.received if r.method == "GET" and r.path == f"/campaigns/{cid}")

    states = []
    for offset in (0.0, STEP, -STEP):  # the wall clock against the true time
        wall.offset = offset
        before = gets()
        seen = []
        for _ in range(4):  # 0.3 s apart: the write-behind of a miss lands in between
            seen.append((await campaigns.get(caller, cid, skip_cache=False, timeout=5)).state)
            await asyncio.sleep(0.3)
        states.append(f"{offset / 3600:+.0f} h: {', '.join(seen)} ({gets() - before} "
                      "upstream GETs)")
    wall.offset = 0.0
    row.notes.append("; ".join(states))


async def _tally(sim: Simulator, row: ClockRow, dropped: int) -> None:
    """Count once every POST the simulator holds has committed: each one not dropped
    makes a campaign (polled, 10 s at most)."""
    prefix = f"{row.fault} #"
    row.posts = sum(1 for r in sim.received if (r.method, r.path) == ("POST", "/campaigns")
                    and json.loads(r.body).get("name", "").startswith(prefix))
    async with asyncio.timeout(10):
        while True:
            per_name = Counter(c.name for org in sim.store.orgs.values()
                               for c in org.campaigns.values() if c.name.startswith(prefix))
            if sum(per_name.values()) >= row.posts - dropped:
                break
            await asyncio.sleep(0.05)
    row.duplicated = sum(n - 1 for n in per_name.values() if n > 1)


async def _scenario(kind: str, step_proof: bool, seed: int, workdir: Path,
                    creates: int) -> ClockRow:
    label = {"forward": "wall clock +3 h after a lost create",
             "backward": "wall clock -3 h after a lost create",
             "in_flight": "wall clock +3 h while the create is in flight",
             "cache": "wall clock +3 h, then -3 h: cached reads"}[kind]
    if not step_proof:
        label += ", grace on the wall clock (before)"
    row = ClockRow(label)
    wall = SteppedWall() if step_proof else WallClock()
    metrics = Metrics()
    async with simulator(seed=seed) as sim:
        sim.received = deque()
        url = sqlite_url(workdir / f"clock-{kind}-{step_proof}.db")
        async with Database(url, clock=wall) as db, \
                RevoxClient(sim.base_url, default_timeout=5.0) as client:
            campaigns = Campaigns(client, db, ttl=5.0, clock=wall, reconcile_grace=GRACE,
                                  creates=metrics.creates)
            try:
                if kind in ("forward", "backward"):
                    await _lost_then_step(campaigns, sim, wall, row, creates,
                                          STEP if kind == "forward" else -STEP)
                elif kind == "in_flight":
                    await _in_flight(campaigns, sim, wall, row, creates)
                else:
                    await _cache(campaigns, sim, wall, row)
            finally:
                await campaigns.drain()
        row.reconciled = int(metrics.creates.outcomes.labels("reconciled")._value.get())
        await _tally(sim, row, dropped=row.attempted if kind == "backward" else 0)
    return row


async def run_clock(seed: int, workdir: Path, creates: int = 3) -> list[ClockRow]:
    rows = []
    for kind in ("forward", "backward"):
        for step_proof in (True, False):
            rows.append(await _scenario(kind, step_proof, seed, workdir, creates))
    rows.append(await _scenario("in_flight", True, seed, workdir, creates))
    rows.append(await _scenario("cache", True, seed, workdir, creates))
    return rows
