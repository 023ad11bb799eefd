"""Model-based consistency check of WatchCampaignRows (in the spirit of etcd's
robustness tests): many interleavings, not the one sequence we thought of.

One seed fixes a schedule:
- a campaign whose rows move through the documented lifecycle
  (queued_for_calling -> calling -> scheduled/completed/errored, scheduled ->
  calling), a few rows per step, 20-250 ms apart, until every row is final;
- a gateway process (the real CLI, on one SQLite file) restarted at two random
  steps, once with SIGTERM and once with SIGKILL, while rows keep changing;
- several subscribers, each with its own filter, that hang up after a random
  number of messages (often inside a snapshot or a catch-up), then resume with
  their last token or, now and then, start over with a fresh snapshot.

Every message is checked against the subscriber's model of what it was sent
(:class:`View`), and at the end every view must equal the upstream's rows. Time
in the schedule is real (the gateway polls on its own), so a seed fixes the
actions and their order, not every interleaving: a failure prints the seed, the
command that replays it, and the subscriber's recent messages.

Run more seeds: ``python -m tests.reliability --seeds 20`` (``make reliability``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from gateway.simulator import Simulator, SimulatorConfig
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc as pb_grpc
from generated.revox.campaigns.v1 import row_pb2

__all__ = ["Scale", "ConsistencyError", "run_seed"]

KEY = "sk_test_model"
AUTH = (("authorization", f"Bearer {KEY}"),)
ADDED = pb.ROW_CHANGE_TYPE_ROW_ADDED
MODIFIED = pb.ROW_CHANGE_TYPE_ROW_MODIFIED
REMOVED = pb.ROW_CHANGE_TYPE_ROW_REMOVED
FINAL = frozenset({"completed", "errored"})
# The documented lifecycle, as the upstream moves a row (never back from a final status).
NEXT = {
    "initializing": ("queued_for_calling",),
    "queued_for_calling": ("calling",),
    "calling": ("scheduled", "completed", "completed", "errored"),
    "scheduled": ("calling",),
}
# Filters a subscriber may watch with: rows enter and leave the middle two.
FILTERS: tuple[tuple[str, ...], ...] = ((), (), ("calling", "scheduled"), ("scheduled", "completed"))
_STATUS_ENUM = {
    "calling": row_pb2.CALL_STATUS_CALLING,
    "scheduled": row_pb2.CALL_STATUS_SCHEDULED,
    "completed": row_pb2.CALL_STATUS_COMPLETED,
}


@dataclass(frozen=True)
class Scale:
    rows: int = 30
    subscribers: int = 6
    max_moves_per_step: int = 4
    restarts: tuple[str, ...] = ("SIGTERM", "SIGKILL")
    fresh_snapshot_odds: float = 0.15
    deadline: float = 90.0  # seconds for the whole seed


class ConsistencyError(AssertionError):
    """A subscriber saw something its model forbids; the message says how to replay."""


# -- the subscriber's model ------------------------------------------------------------


@dataclass
class View:
    """What one subscriber knows, rebuilt from its events, and the rules they obey."""

    statuses: frozenset[str]
    rows: dict[str, str] = field(default_factory=dict)  # row id -> call status literal
    revision: int = 0
    in_snapshot: bool = False
    snapshots_started: int = 0
    snapshots_completed: int = 0
    snapshots_abandoned: int = 0  # the client started over before the end of one
    live: set[tuple[int, str]] = field(default_factory=set)  # (revision, row) delivered
    trace: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    t0: float = field(default_factory=time.monotonic)

    def fresh(self) -> None:
        self.snapshots_abandoned += self.in_snapshot
        self.rows.clear()
        self.live.clear()
        self.revision = 0
        self.in_snapshot = True
        self.snapshots_started += 1

    def matches(self, status: str) -> bool:
        return not self.statuses or status in self.statuses

    def apply(self, m: pb.WatchCampaignRowsResponse) -> None:
        event = m.WhichOneof("event")
        detail = ""
        if event == "row_change":
            rc = m.row_change
            detail = f" {pb.RowChangeType.Name(rc.type)} {rc.row.id} {rc.row.call.status_raw}" + (
                " in_snapshot" if rc.in_snapshot else f" prev={rc.previous_status_raw}"
            )
        elif event == "snapshot_complete":
            detail = f" row_count={m.snapshot_complete.row_count}"
        self.trace.append(f"{time.monotonic() - self.t0:7.2f} rev {m.revision} {event}{detail}")
        self._check(bool(m.resume_token), "a message without a resume_token")
        self._check(m.revision >= self.revision, f"revision went back from {self.revision}")
        self.revision = m.revision
        if event == "row_change":
            self._row_change(m)
        elif event == "snapshot_complete":
            self._check(self.in_snapshot, "snapshot_complete outside a snapshot")
            self._check(m.snapshot_complete.row_count == len(self.rows),
                        f"row_count {m.snapshot_complete.row_count}, view has {len(self.rows)}")
            self.in_snapshot = False
            self.snapshots_completed += 1

    def _row_change(self, m: pb.WatchCampaignRowsResponse) -> None:
        rc = m.row_change
        rid, status = rc.row.id, rc.row.call.status_raw
        if rc.in_snapshot:
            self._check(self.in_snapshot and rc.type == ADDED, "an in_snapshot event outside one")
        else:
            self._check((m.revision, rid) not in self.live, "the same change delivered twice")
            self.live.add((m.revision, rid))
        if rc.type == ADDED:
            self._check(rid not in self.rows, f"ROW_ADDED for {rid}, already in the view")
        else:
            self._check(rid in self.rows, f"{pb.RowChangeType.Name(rc.type)} for unseen {rid}")
        if rc.type == MODIFIED and rc.previous_status_raw:
            self._check(rc.previous_status_raw == self.rows[rid],
                        f"previous status {rc.previous_status_raw}, view says {self.rows[rid]}")
        if rc.type == REMOVED:
            del self.rows[rid]
        else:
            self._check(self.matches(status), f"{rid} {status} is outside the filter")
            self.rows[rid] = status

    def _check(self, ok: bool, what: str) -> None:
        if not ok:
            raise ConsistencyError(what)


# -- the gateway process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """``python -m gateway serve`` on a fixed port and database, restartable."""

    def __init__(self, upstream_url: str, database: Path, log: Path) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self._args = [
            sys.executable, "-m", "gateway", "serve", "--listen", self.address,
            "--upstream-url", upstream_url, "--database", sqlite_url(database),
            "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--shutdown-grace", "1",
            "--log-level", "WARNING",
        ]
        self._log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        served = self._log.read_bytes().count(b"serving") if self._log.exists() else 0
        with self._log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self._args, stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        async with asyncio.timeout(30):  # until its banner says it serves
            while self._log.read_bytes().count(b"serving") == served:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"the gateway exited:\n{self.tail()}")
                await asyncio.sleep(0.02)

    async def stop(self, how: str = "SIGTERM") -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(getattr(signal, how))
        async with asyncio.timeout(30):
            await proc.wait()

    def tail(self) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-20:])


# -- one seed --------------------------------------------------------------------------


@dataclass
class _Run:
    seed: int
    scale: Scale
    gateway: GatewayProcess
    campaign_id: str = ""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    messages: int = 0
    resumes: int = 0
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    changes_took: float = 0.0


def _create_request(rows: int) -> pb.CreateCampaignRequest:
    return pb.CreateCampaignRequest(
        assistant_id="asst_model",
        name="model check",
        contacts=[pb.Contact(to_phone_number=f"+3361200{i:04d}") for i in range(rows)],
        max_concurrent_calls=2,
    )


async def _upstream_changes(run: _Run, sim: Simulator, rng: random.Random) -> None:
    """Move rows along the lifecycle until all are final; restart the gateway meanwhile."""
    campaign = sim.campaign(run.campaign_id)
    assert campaign is not None
    steps_needed = 4 * run.scale.rows // max(1, run.scale.max_moves_per_step // 2 + 1)
    restart_at = dict(zip(rng.sample(range(2, max(3, steps_needed)), len(run.scale.restarts)),
                          run.scale.restarts, strict=False))
    step = 0
    down_for = 0  # steps of changes left while the gateway is down
    while True:
        open_rows = [i for i, r in enumerate(campaign.rows) if r.status not in FINAL]
        if not open_rows:
            break
        for i in rng.sample(open_rows, min(len(open_rows), rng.randint(1, run.scale.max_moves_per_step))):
            sim.set_row_status(run.campaign_id, i, rng.choice(NEXT[campaign.rows[i].status]))
        step += 1
        how = restart_at.pop(step, None)
        if how is not None:
            await run.gateway.stop(how)
            run.restarts += 1
            down_for = rng.randint(1, 3)  # rows go on changing behind its back
        elif down_for:
            down_for -= 1
            if not down_for:
                await run.gateway.start()
        await asyncio.sleep(rng.uniform(0.02, 0.25))
    if down_for:
        await run.gateway.start()
    run.finished.set()
    run.changes_took = time.monotonic() - run.started


async def _subscriber(run: _Run, index: int, view: View, stub: pb_grpc.CampaignServiceStub) -> None:
    rng = random.Random(f"{run.seed}/{index}")
    statuses = FILTERS[index % len(FILTERS)]
    token = ""
    final_pass = False
    while True:
        if run.finished.is_set() and not final_pass:
            final_pass = True  # read until the gateway says the campaign is final
        if not token or (not final_pass and rng.random() < run.scale.fresh_snapshot_odds):
            token = ""
            view.fresh()
        else:
            run.resumes += 1
        # Short connections half the time: most hang-ups then fall inside a snapshot's
        # catch-up or a multi-row revision, where resuming is hardest.
        budget = 1_000_000 if final_pass else rng.randint(1, rng.choice((4, run.scale.rows + 8)))
        request = pb.WatchCampaignRowsRequest(
            campaign_id=run.campaign_id,
            resume_token=token,
            statuses=[_STATUS_ENUM[s] for s in statuses],
        )
        request.heartbeat_interval.FromSeconds(1)
        view.trace.append(f"{time.monotonic() - view.t0:7.2f} {'resume' if token else 'fresh snapshot'}")
        call = stub.WatchCampaignRows(request, metadata=AUTH)
        try:
            async for m in call:
                view.apply(m)
                token = m.resume_token
                run.messages += 1
                budget -= 1
                if final_pass and m.heartbeat.campaign_final and not view.in_snapshot:
                    return
                if budget <= 0 or (run.finished.is_set() and not final_pass
                                   and m.WhichOneof("event") == "heartbeat"):
                    break  # hang up; once rows stopped changing, go on to the final pass
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise ConsistencyError(f"the stream failed: {exc.code()} {exc.details()}") from None
            await asyncio.sleep(0.05)  # the gateway is restarting
        finally:
            call.cancel()
        await asyncio.sleep(rng.uniform(0.0, 0.1))


def _expected(sim: Simulator, campaign_id: str, view: View) -> dict[str, str]:
    campaign = sim.campaign(campaign_id)
    assert campaign is not None
    return {r.id: r.status for r in campaign.rows if view.matches(r.status)}


@contextlib.asynccontextmanager
async def _world(seed: int, workdir: Path) -> AsyncIterator[tuple[Simulator, GatewayProcess]]:
    async with Simulator(SimulatorConfig(seed=seed, clock="manual")) as sim:
        gw = GatewayProcess(sim.base_url, workdir / "gateway.db", workdir / "gateway.log")
        await gw.start()
        try:
            yield sim, gw
        finally:
            await gw.stop("SIGTERM")


async def run_seed(seed: int, scale: Scale = Scale(), workdir: Path | None = None) -> dict[str, int]:
    """Run one seed; raise ConsistencyError (with a replay line) on any violation."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="watch-model-")))
        async with _world(seed, workdir) as (sim, gw):
            run = _Run(seed, scale, gw)
            channel_options = [("grpc.initial_reconnect_backoff_ms", 50),
                               ("grpc.max_reconnect_backoff_ms", 200)]
            async with grpc.aio.insecure_channel(gw.address, options=channel_options) as ch:
                stub = pb_grpc.CampaignServiceStub(ch)
                run.campaign_id = (await stub.CreateCampaign(_create_request(scale.rows), metadata=AUTH)).id
                views = [View(frozenset(FILTERS[i % len(FILTERS)])) for i in range(scale.subscribers)]
                tasks = [asyncio.create_task(_upstream_changes(run, sim, random.Random(seed)))]
                tasks += [asyncio.create_task(_subscriber(run, i, v, stub)) for i, v in enumerate(views)]
                try:
                    _, pending = await asyncio.wait(tasks, timeout=scale.deadline,
                                                    return_when=asyncio.FIRST_EXCEPTION)
                finally:
                    for t in tasks:
                        t.cancel()
                    results = await asyncio.gather(*tasks, return_exceptions=True)
                for i, (view, result) in enumerate(zip(views, results[1:], strict=True)):
                    if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                        raise ConsistencyError(_report(seed, scale, i, result, gw, view)) from result
                if isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
                    raise results[0]
                if pending:
                    i = next((i for i, t in enumerate(tasks[1:]) if t in pending), -1)
                    raise ConsistencyError(_report(seed, scale, i, TimeoutError(
                        f"not done within {scale.deadline} s"), gw, views[i] if i >= 0 else None))
                for i, view in enumerate(views):
                    want = _expected(sim, run.campaign_id, view)
                    if view.rows != want:
                        diff = {k: (view.rows.get(k), want.get(k)) for k in view.rows.keys() | want.keys()
                                if view.rows.get(k) != want.get(k)}
                        raise ConsistencyError(_report(seed, scale, i, ConsistencyError(
                            f"final view differs (view, upstream): {diff}"), gw, view))
                    if view.snapshots_started != view.snapshots_completed + view.snapshots_abandoned:
                        raise ConsistencyError(_report(seed, scale, i, ConsistencyError(
                            "a snapshot started and never completed"), gw, view))
    return {"messages": run.messages, "resumes": run.resumes,
            "snapshots": sum(v.snapshots_started for v in views), "changes_s": round(run.changes_took, 1), "restarts": run.restarts}


def _report(seed: int, scale: Scale, index: int, exc: BaseException, gw: GatewayProcess,
            view: View | None = None) -> str:
    lines = [
        f"seed {seed}, subscriber {index} (filter {FILTERS[index % len(FILTERS)] or 'none'}): {exc}",
        f"replay: python -m tests.reliability --seed {seed} --rows {scale.rows} "
        f"--subscribers {scale.subscribers}",
    ]
    if view is not None:
        lines += ["its last messages:", *view.trace]
    lines += ["gateway log tail:", gw.tail()]
    return "\n".join(lines)
