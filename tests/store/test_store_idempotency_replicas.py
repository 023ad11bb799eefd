"""Idempotent create across processes sharing one database (replicas).

Why: a duplicate that lands on another replica than the first request must wait for
that replica's answer while it is alive, and learn "outcome unknown" only when it is
gone; two replicas racing to insert the same request_id must end with one owner.
Two ``Database`` objects on one URL are two replicas (separate engines, connections
and owner ids); the last tests use real processes, one of them killed mid-create.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from sqlalchemy import text

from gateway.store import Database, InFlight, Mismatch, OutcomeUnknown, Replay, Started

T, R, H = "tenant-a", "req", "h1"
RESPONSE = {"id": "camp_1"}
LEASE = 1.0
PROC = Path(__file__).with_name("_proc.py")


@asynccontextmanager
async def replicas(url: str, n: int = 2, lease: float = LEASE) -> AsyncIterator[list[Database]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(Database(url, idempotency_lease=lease))
            for _ in range(n)
        ]


async def not_done_after(task: asyncio.Task[object], seconds: float) -> None:
    await asyncio.sleep(seconds)
    assert not task.done(), task.result()


async def test_a_duplicate_waits_for_a_live_owner_then_replays(db_url: str) -> None:
    async with replicas(db_url) as (a, b):
        assert await a.idempotency.wait_or_begin(T, R, H, timeout=1) == Started()
        waiter = asyncio.create_task(b.idempotency.wait_or_begin(T, R, H, timeout=10))
        # Longer than the lease: the owner's heartbeat keeps it alive meanwhile.
        await not_done_after(waiter, LEASE * 2)
        await a.idempotency.complete(T, R, RESPONSE)
        started = time.monotonic()
        assert await waiter == Replay(RESPONSE)
        assert time.monotonic() - started < 2.0  # polls back off to 500 ms at most
        assert await b.idempotency.wait_or_begin(T, R, "other body", timeout=1) == Mismatch()


async def test_a_duplicate_becomes_owner_after_an_abort(db_url: str) -> None:
    async with replicas(db_url) as (a, b):
        assert await a.idempotency.begin(T, R, H) == Started()
        waiter = asyncio.create_task(b.idempotency.wait_or_begin(T, R, H, timeout=10))
        await not_done_after(waiter, 0.1)
        await a.idempotency.abort(T, R)
        assert await waiter == Started()
        await b.idempotency.complete(T, R, RESPONSE)
        assert await a.idempotency.begin(T, R, H) == Replay(RESPONSE)


async def test_an_abandoned_create_is_unknown_at_once(db_url: str) -> None:
    async with replicas(db_url, lease=30.0) as (a, b):
        assert await a.idempotency.begin(T, R, H) == Started()
        waiter = asyncio.create_task(b.idempotency.wait_or_begin(T, R, H, timeout=10))
        await not_done_after(waiter, 0.1)
        a.idempotency.abandon(T, R)
        outcome = await asyncio.wait_for(waiter, 2)  # not after the 30 s lease
        assert isinstance(outcome, OutcomeUnknown)


async def test_a_closed_owner_leaves_its_creates_unknown(db_url: str) -> None:
    async with replicas(db_url, n=1, lease=30.0) as (b,):
        a = await Database(db_url, idempotency_lease=30.0).start()
        assert await a.idempotency.begin(T, R, H) == Started()
        await a.aclose()  # shut down mid-create
        outcome = await b.idempotency.wait_or_begin(T, R, H, timeout=2)
        assert isinstance(outcome, OutcomeUnknown)


async def test_waiting_on_another_replica_times_out_as_in_flight(db_url: str) -> None:
    async with replicas(db_url) as (a, b):
        assert await a.idempotency.begin(T, R, H) == Started()
        assert await b.idempotency.begin(T, R, H) == InFlight()
        assert await b.idempotency.wait_or_begin(T, R, H, timeout=0) == InFlight()
        assert await b.idempotency.wait_or_begin(T, R, H, timeout=0.2) == InFlight()
        await a.idempotency.complete(T, R, RESPONSE)
        assert await b.idempotency.begin(T, R, H) == Replay(RESPONSE)


async def test_pending_rows_from_before_the_lease_are_unknown(db_url: str) -> None:
    async with replicas(db_url, n=1) as (b,):
        async with b.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO idempotency (tenant, request_id, request_hash, state, "
                    "created_at, updated_at) VALUES (:t, :r, :h, 'pending', :now, :now)"
                ),
                {"t": T, "r": R, "h": H, "now": time.time()},
            )
        outcome = await b.idempotency.wait_or_begin(T, R, H, timeout=5)
        assert isinstance(outcome, OutcomeUnknown)


async def test_racing_replicas_start_exactly_once(db_url: str) -> None:
    async with replicas(db_url, n=5) as dbs:

        async def create(db: Database) -> object:
            outcome = await db.idempotency.wait_or_begin(T, R, H, timeout=10)
            if isinstance(outcome, Started):
                await asyncio.sleep(0.1)
                await db.idempotency.complete(T, R, RESPONSE)
            return outcome

        outcomes = await asyncio.gather(*(create(db) for db in dbs))
    assert sorted(map(repr, outcomes)) == sorted(
        [repr(Started())] + [repr(Replay(RESPONSE))] * 4
    )


async def _spawn(mode: str, url: str, start_at: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(PROC), mode, url, str(start_at),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


async def test_racing_processes_start_exactly_once(db_url: str) -> None:
    async with replicas(db_url, n=1):  # migrated before the race
        pass
    start_at = time.time() + 2.0
    procs = [await _spawn("create", db_url, start_at) for _ in range(4)]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    assert sorted(out.decode().strip() for out, _ in outputs) == [
        "Replay", "Replay", "Replay", "Started"
    ]


async def test_a_killed_owner_is_unknown_once_its_lease_runs_out(db_url: str) -> None:
    async with replicas(db_url, n=1, lease=1.0) as (b,):
        owner = await _spawn("hang", db_url, 0.0)
        try:
            assert owner.stdout is not None
            line = await asyncio.wait_for(owner.stdout.readline(), 30)
            assert line.decode().strip() == "Started"
            waiter = asyncio.create_task(b.idempotency.wait_or_begin(T, R, H, timeout=20))
            await not_done_after(waiter, 2.0)  # alive: its heartbeat goes on
            os.kill(owner.pid, signal.SIGKILL)  # no clean-up, no expiry written
            killed = time.monotonic()
            outcome = await asyncio.wait_for(waiter, 10)
            assert isinstance(outcome, OutcomeUnknown)
            assert time.monotonic() - killed < 3.0  # the 1 s lease (+ a poll, + slack)
        finally:
            if owner.returncode is None:
                owner.kill()
            await owner.wait()
