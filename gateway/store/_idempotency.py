"""Idempotent create (Google AIP-155 ``request_id``), durable across restarts.

Key: ``(tenant, request_id)``. A row is ``pending`` while its owner talks to
upstream and ``done`` with the first response afterwards. Outcomes of
``begin``/``wait_or_begin``:

* :class:`Started` - the caller owns the key and MUST end it with ``complete``
  (got a response), ``abort`` (upstream definitely did not create anything:
  4xx, connection refused; the row is deleted so a retry may try again) or
  ``abandon`` (outcome unknown, e.g. cancelled after the POST was sent).
* :class:`Replay` - already done; return ``response`` again.
* :class:`Mismatch` - same request_id, different request body (hash).
* :class:`InFlight` - another task of this process, or another live process,
  owns the key right now (``begin``), or the wait timed out (``wait_or_begin``).
* :class:`OutcomeUnknown` - a ``pending`` row nobody alive owns: the gateway
  crashed (or the owner abandoned) after possibly sending the POST.
  The caller reconciles it (``gateway.service._create``) and ends it with
  ``settle_unknown`` or ``release_unknown`` (compare-and-set, ``_reconcile``).

Decision on stale pending rows: a create whose outcome is unknown is never
silently retried, because a duplicate campaign places real phone calls. Only
after ``pending_timeout`` (default 10 min; ``None`` = never) does a new request
with the same id and body take the key over, as ``Started(recovered=True)`` so
the caller reconciles against the upstream's campaigns first. The
timeout is measured from the row's last update.

How ages are measured (``pending_timeout``, the reconcile grace of
``release_unknown``): on a clock that a wall-clock step cannot move
(``_ages.Ages``). A row's age is its wall-clock age when this process first
saw it (its own attempts: 0 at their start; a row of an earlier process: what
the wall says then, never below 0), plus the *monotonic* time since. A step of
the wall clock while the process runs (NTP, a VM resumed, an operator) can
therefore neither cut a grace window short, which would let a retry create a
campaign the upstream may still be committing (a duplicate), nor stretch it
by hours (a request_id stuck); only a step between an attempt and a restart
is believed, once.

Concurrent duplicates inside one process are coordinated by an in-memory
claim per key (an ``asyncio.Future``) taken *synchronously* before any await,
so only one task at a time runs the database step for a key; others wait on
the future and then re-check (Replay, or become owner after an abort).

Across processes sharing the database (replicas on PostgreSQL), the primary key
decides who owns a key: the INSERT is ``ON CONFLICT DO NOTHING`` and the loser
re-reads the winner's row under a row lock (``FOR UPDATE``), so exactly one process
gets ``Started``. The owner stamps the row with its ``owner`` id and keeps a
heartbeat (``_lease``); a duplicate that finds a pending row of a *live* owner
waits by polling the database (20 ms, doubling to 500 ms, up to its timeout) and
then gets ``Replay`` (done), ``Started`` (the owner aborted: the row is gone) or
``OutcomeUnknown`` (the owner's lease ran out without an outcome: it crashed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import _reconcile
from ._ages import Ages
from ._base import Engines, dumps, upsert
from ._lease import Lease
from ._schema import idempotency

__all__ = [
    "Begin",
    "IdempotencyStore",
    "InFlight",
    "Mismatch",
    "OutcomeUnknown",
    "Replay",
    "Started",
]


@dataclass(frozen=True, slots=True)
class Started:
    recovered: bool = False  # True: took over a pending row older than pending_timeout


@dataclass(frozen=True, slots=True)
class Replay:
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Mismatch:
    pass


@dataclass(frozen=True, slots=True)
class InFlight:
    pass


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    pending_since: float  # created_at of the pending row


Begin = Started | Replay | Mismatch | InFlight | OutcomeUnknown


@dataclass(frozen=True, slots=True)
class _Leased:
    """Internal: a pending row of another live process (``begin`` says InFlight)."""


_LEASED = _Leased()

# Polling a live owner's row: first delay, growth, ceiling (seconds).
_POLL_FIRST, _POLL_FACTOR, _POLL_MAX = 0.02, 2.0, 0.5
# Insert-or-read rounds before giving up (each lost round means another process
# inserted and then deleted the row meanwhile).
_BEGIN_ROUNDS = 5

# How a claim ended, as seen by tasks waiting on it.
_End = tuple[Literal["done"], dict[str, Any]] | tuple[Literal["retry", "unknown"], None]


class IdempotencyStore:
    """See module docstring."""

    def __init__(
        self,
        engines: Engines,
        *,
        pending_timeout: float | None = 600.0,
        lease: float = 10.0,
        owner: str | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """``lease``: seconds a pending row's owner counts as alive after its last
        heartbeat; ``owner``: this process's id in the rows (random by default);
        ``monotonic``: the clock ages advance on (``_ages.duration_clock``: by default
        ``time.monotonic`` beside the real wall clock, the injected clock itself beside
        an injected one that carries no ``monotonic`` of its own)."""
        self._e = engines
        self._pending_timeout = pending_timeout
        self._claims: dict[tuple[str, str], asyncio.Future[_End]] = {}
        self._lease = Lease(engines, duration=lease, owner=owner)
        self._ages = Ages(engines.clock, monotonic)  # step-proof ages of pending rows

    @property
    def owner(self) -> str:
        """This store's owner id, stamped on the pending rows it runs."""
        return self._lease.owner

    async def aclose(self) -> None:
        """Stop heartbeats; creates still pending here become "outcome unknown" at once."""
        await self._lease.aclose()

    # -- owner side ---------------------------------------------------------

    def _claim(self, key: tuple[str, str]) -> asyncio.Future[_End]:
        fut: asyncio.Future[_End] = asyncio.get_running_loop().create_future()
        self._claims[key] = fut
        task = asyncio.current_task()
        if task is not None:
            # Safety net: if the owning task ends (e.g. the RPC was cancelled)
            # without complete/abort/abandon, treat the outcome as unknown so
            # waiters are not stuck until their timeout.
            task.add_done_callback(lambda _t: self._release(key, ("unknown", None), only=fut))
        return fut

    def _release(
        self, key: tuple[str, str], end: _End, *, only: asyncio.Future[_End] | None = None
    ) -> None:
        fut = self._claims.get(key)
        if fut is None or (only is not None and fut is not only):
            return
        del self._claims[key]
        # complete/abort changed the row itself; without an outcome, waiters in
        # other processes must stop seeing a live owner.
        self._lease.release(key, expire=end[0] == "unknown")
        if not fut.done():
            fut.set_result(end)

    async def _db_begin(self, tenant: str, request_id: str, request_hash: str) -> Begin | _Leased:
        t = idempotency.c
        where = (t.tenant == tenant, t.request_id == request_id)
        cols = (t.request_hash, t.state, t.response, t.created_at, t.updated_at, t.owner)
        # PostgreSQL: decide under the row's lock (SQLite: the write lock already).
        read = select(*cols, t.heartbeat_at).where(*where).with_for_update()
        for _ in range(_BEGIN_ROUNDS):
            now = self._e.clock()
            async with self._e.write.begin() as conn:
                row = (await conn.execute(read)).first()
                if row is not None:
                    return await self._decide(conn, row, (tenant, request_id), request_hash, now)
                # The primary key arbitrates between processes: a concurrent insert
                # makes ours a no-op (it waits for theirs to commit) and we re-read.
                stmt = upsert(self._e.dialect, idempotency).values(
                    tenant=tenant,
                    request_id=request_id,
                    request_hash=request_hash,
                    state="pending",
                    response=None,
                    created_at=now,
                    updated_at=now,
                    owner=self.owner,
                    heartbeat_at=now,
                )
                inserted = await conn.execute(stmt.on_conflict_do_nothing())
                if inserted.rowcount == 1:
                    self._ages.started((tenant, request_id), now)
                    return Started()
        return InFlight()  # the row kept appearing and vanishing: let the caller retry

    async def _decide(
        self,
        conn: AsyncConnection,
        row: Row[Any, Any, Any, Any, Any, Any, Any],
        key: tuple[str, str],
        request_hash: str,
        now: float,
    ) -> Begin | _Leased:
        """The outcome for an existing row (read under its lock)."""
        if row.request_hash != request_hash:
            return Mismatch()
        if row.state == "done":
            return Replay(json.loads(row.response))
        # Pending and not claimed in this process (the caller checked).
        if self._lease.is_live(row.owner, row.heartbeat_at, now):
            return _LEASED
        timeout = self._pending_timeout
        # The age of the row's last update (takeovers refresh it), step-proof (``Ages``).
        updated_age = self._ages.age(key, row.updated_at, "updated")
        if timeout is not None and updated_age >= timeout:
            t = idempotency.c
            await conn.execute(
                update(idempotency)
                .where(t.tenant == key[0], t.request_id == key[1])
                .values(updated_at=now, owner=self.owner, heartbeat_at=now)
            )
            return Started(recovered=True)
        self._ages.age(key, row.created_at)  # first seen now: its grace runs from here
        return OutcomeUnknown(pending_since=row.created_at)

    async def _claim_and_begin(self, key: tuple[str, str], request_hash: str) -> Begin | _Leased:
        self._claim(key)  # synchronous: no other task can claim this key now
        try:
            result = await self._db_begin(key[0], key[1], request_hash)
        except BaseException:
            self._release(key, ("retry", None))
            raise
        if isinstance(result, Started):
            self._lease.hold(key)
        else:
            # Waiters re-check the database themselves (their hash may differ).
            self._release(key, ("retry", None))
        return result

    async def begin(self, tenant: str, request_id: str, request_hash: str) -> Begin:
        """Try to own the key without waiting; ``InFlight`` if a live owner has it."""
        key = (tenant, request_id)
        if key in self._claims:
            return InFlight()
        result = await self._claim_and_begin(key, request_hash)
        return InFlight() if isinstance(result, _Leased) else result

    async def wait_or_begin(
        self, tenant: str, request_id: str, request_hash: str, *, timeout: float | None
    ) -> Begin:
        """Like ``begin`` but waits (up to ``timeout`` s) for a live owner to finish:
        a task of this process, or another process (by polling the database).

        Returns ``InFlight`` only when the wait timed out.
        """
        key = (tenant, request_id)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = _POLL_FIRST
        while True:
            fut = self._claims.get(key)
            if fut is None:
                result = await self._claim_and_begin(key, request_hash)
                if not isinstance(result, _Leased):
                    return result
                # Another live process owns it: look again a little later.
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return InFlight()
                await asyncio.sleep(poll if remaining is None else min(poll, remaining))
                poll = min(poll * _POLL_FACTOR, _POLL_MAX)
                continue
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return InFlight()
            outcome = await self._wait_local(fut, remaining, tenant, request_id, request_hash)
            if outcome is not None:
                return outcome
            # "retry": the owner aborted or failed; loop and try to own it.

    async def _wait_local(
        self,
        fut: asyncio.Future[_End],
        remaining: float | None,
        tenant: str,
        request_id: str,
        request_hash: str,
    ) -> Begin | None:
        """Wait for a local owner's claim; None when the key is free to try again."""
        try:
            # shield: our timeout/cancellation must not cancel the owner's future.
            end = await asyncio.wait_for(asyncio.shield(fut), remaining)
        except TimeoutError:
            return InFlight()
        kind, response = end
        if kind == "done" and response is not None:
            # Same hash is not known here (the owner's body may differ):
            # re-read so a different body gets Mismatch, not a Replay.
            return await self._recheck(tenant, request_id, request_hash, response)
        if kind == "unknown":
            return await self._recheck(tenant, request_id, request_hash, None)
        return None

    async def _recheck(
        self,
        tenant: str,
        request_id: str,
        request_hash: str,
        response: dict[str, Any] | None,
    ) -> Begin:
        t = idempotency.c
        async with self._e.read.connect() as conn:
            row = (
                await conn.execute(
                    select(t.request_hash, t.state, t.response, t.created_at).where(
                        t.tenant == tenant, t.request_id == request_id
                    )
                )
            ).first()
        if row is None:
            # Purged or never persisted (DB write failed): trust what we saw.
            return Replay(response) if response is not None else OutcomeUnknown(0.0)
        if row.request_hash != request_hash:
            return Mismatch()
        if row.state == "done":
            return Replay(json.loads(row.response))
        if response is not None:
            # Owner completed in memory but the DB write failed; the response is real.
            return Replay(response)
        self._ages.age((tenant, request_id), row.created_at)
        return OutcomeUnknown(pending_since=row.created_at)

    async def complete(self, tenant: str, request_id: str, response: dict[str, Any]) -> None:
        """Record the response of a pending create; waiters get it as ``Replay``."""
        key = (tenant, request_id)
        try:
            async with self._e.write.begin() as conn:
                result = await conn.execute(
                    update(idempotency)
                    .where(
                        idempotency.c.tenant == tenant,
                        idempotency.c.request_id == request_id,
                        idempotency.c.state == "pending",
                    )
                    .values(
                        state="done",
                        response=dumps(response),
                        updated_at=self._e.clock(),
                        heartbeat_at=None,
                    )
                )
                if result.rowcount != 1:
                    raise LookupError(f"no pending idempotency record for request {request_id!r}")
            self._ages.forget(key)
        finally:
            # Even if the write failed, the response is the truth for local waiters.
            self._release(key, ("done", response))

    async def abort(self, tenant: str, request_id: str) -> None:
        """Upstream definitely did not act: delete the pending row so a retry can run.

        Only our own row: one another process took over (``pending_timeout``) is
        its to end.
        """
        key = (tenant, request_id)
        try:
            async with self._e.write.begin() as conn:
                await conn.execute(
                    delete(idempotency).where(
                        idempotency.c.tenant == tenant,
                        idempotency.c.request_id == request_id,
                        idempotency.c.state == "pending",
                        idempotency.c.owner == self.owner,
                    )
                )
            self._ages.forget(key)
        finally:
            self._release(key, ("retry", None))

    def abandon(self, tenant: str, request_id: str) -> None:
        """Owner stops without knowing the outcome: keep the row pending (unknown).

        Use when the POST may have reached upstream (timeout, cancellation).
        Waiters and later callers get ``OutcomeUnknown`` until ``pending_timeout``.
        """
        self._release((tenant, request_id), ("unknown", None))

    async def settle_unknown(
        self, tenant: str, request_id: str, pending_since: float, response: dict[str, Any]
    ) -> bool:
        """Complete an unknown attempt with what reconciliation found (see ``_reconcile``)."""
        settled = await _reconcile.settle(self._e, tenant, request_id, pending_since, response)
        if settled:
            self._ages.forget((tenant, request_id))
        return settled

    def grace_left(self, tenant: str, request_id: str, pending_since: float, *,
                   grace: float) -> float:
        """Seconds until the unknown attempt that started at ``pending_since`` is ``grace``
        seconds old (0 when it is), on the step-proof age of ``Ages``: what RetryInfo
        should say, whatever the wall clock did meanwhile."""
        age = self._ages.age((tenant, request_id), pending_since)
        return max(0.0, grace - age)

    async def release_unknown(
        self, tenant: str, request_id: str, pending_since: float, *, grace: float
    ) -> bool:
        """Free an unknown attempt at least ``grace`` s old for a new one (``_reconcile``);
        its age is step-proof (``Ages``), so a wall-clock jump forward cannot free it early
        nor one backward hold it for hours."""
        if self.grace_left(tenant, request_id, pending_since, grace=grace) > 0:
            return False
        released = await _reconcile.release(self._e, tenant, request_id, pending_since)
        if released:
            self._ages.forget((tenant, request_id))
        return released

    async def answered(self, tenant: str, campaign_ids: list[str]) -> set[str]:
        """Campaign ids already the answer of a request_id of ``tenant``."""
        return await _reconcile.answered(self._e, tenant, campaign_ids)

    async def purge(self, older_than: float) -> int:
        """Delete records last updated before ``older_than`` (epoch seconds).

        Stale ``pending`` rows go too: with a retention (e.g. 24 h) far above
        ``pending_timeout`` they would be taken over by a retry anyway.
        """
        async with self._e.write.begin() as conn:
            result = await conn.execute(
                delete(idempotency).where(idempotency.c.updated_at < older_than)
            )
            deleted = result.rowcount
        return int(deleted)
