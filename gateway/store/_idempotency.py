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
* :class:`InFlight` - another task of this process owns the key right now
  (``begin``), or the wait timed out (``wait_or_begin``).
* :class:`OutcomeUnknown` - a ``pending`` row nobody in this process owns: the
  gateway crashed (or the owner abandoned) after possibly sending the POST.
  The caller maps it to ABORTED "outcome unknown, check ListCampaigns".

Decision on stale pending rows: a create whose outcome is unknown is never
silently retried, because a duplicate campaign places real phone calls. Only
after ``pending_timeout`` (default 10 min; ``None`` = never) does a new request
with the same id and body take the key over, as ``Started(recovered=True)`` so
the caller can log it and, ideally, reconcile against ListCampaigns first. The
timeout is measured from the row's last update.

Concurrent duplicates inside one process are coordinated by an in-memory
claim per key (an ``asyncio.Future``) taken *synchronously* before any await,
so only one task at a time runs the database step for a key; others wait on
the future and then re-check (Replay, or become owner after an abort).
Several gateway processes sharing one database would see each other's live
pending rows as ``OutcomeUnknown`` - safe (never duplicates), just unhelpful;
the gateway is designed to run as one process.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, select, update

from ._base import Engines, dumps
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

# How a claim ended, as seen by tasks waiting on it.
_End = tuple[Literal["done"], dict[str, Any]] | tuple[Literal["retry", "unknown"], None]


class IdempotencyStore:
    """See module docstring."""

    def __init__(self, engines: Engines, *, pending_timeout: float | None = 600.0) -> None:
        self._e = engines
        self._pending_timeout = pending_timeout
        self._claims: dict[tuple[str, str], asyncio.Future[_End]] = {}

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
        if not fut.done():
            fut.set_result(end)

    async def _db_begin(self, tenant: str, request_id: str, request_hash: str) -> Begin:
        now = self._e.clock()
        t = idempotency.c
        where = (t.tenant == tenant, t.request_id == request_id)
        async with self._e.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.request_hash, t.state, t.response, t.created_at, t.updated_at).where(
                        *where
                    )
                )
            ).first()
            if row is None:
                await conn.execute(
                    idempotency.insert().values(
                        tenant=tenant,
                        request_id=request_id,
                        request_hash=request_hash,
                        state="pending",
                        response=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return Started()
            if row.request_hash != request_hash:
                return Mismatch()
            if row.state == "done":
                return Replay(json.loads(row.response))
            # Pending and not claimed in this process (the caller checked).
            timeout = self._pending_timeout
            if timeout is not None and now - row.updated_at >= timeout:
                await conn.execute(update(idempotency).where(*where).values(updated_at=now))
                return Started(recovered=True)
            return OutcomeUnknown(pending_since=row.created_at)

    async def _claim_and_begin(self, key: tuple[str, str], request_hash: str) -> Begin:
        self._claim(key)  # synchronous: no other task can claim this key now
        try:
            result = await self._db_begin(key[0], key[1], request_hash)
        except BaseException:
            self._release(key, ("retry", None))
            raise
        if not isinstance(result, Started):
            # Waiters re-check the database themselves (their hash may differ).
            self._release(key, ("retry", None))
        return result

    async def begin(self, tenant: str, request_id: str, request_hash: str) -> Begin:
        """Try to own the key without waiting; ``InFlight`` if a local task owns it."""
        key = (tenant, request_id)
        if key in self._claims:
            return InFlight()
        return await self._claim_and_begin(key, request_hash)

    async def wait_or_begin(
        self, tenant: str, request_id: str, request_hash: str, *, timeout: float | None
    ) -> Begin:
        """Like ``begin`` but waits (up to ``timeout`` s) for a local owner to finish.

        Returns ``InFlight`` only when the wait timed out.
        """
        key = (tenant, request_id)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            fut = self._claims.get(key)
            if fut is None:
                return await self._claim_and_begin(key, request_hash)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return InFlight()
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
            # "retry": the owner aborted or failed; loop and try to own it.

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
                    .values(state="done", response=dumps(response), updated_at=self._e.clock())
                )
                if result.rowcount != 1:
                    raise LookupError(f"no pending idempotency record for request {request_id!r}")
        finally:
            # Even if the write failed, the response is the truth for local waiters.
            self._release(key, ("done", response))

    async def abort(self, tenant: str, request_id: str) -> None:
        """Upstream definitely did not act: delete the pending row so a retry can run."""
        key = (tenant, request_id)
        try:
            async with self._e.write.begin() as conn:
                await conn.execute(
                    delete(idempotency).where(
                        idempotency.c.tenant == tenant,
                        idempotency.c.request_id == request_id,
                        idempotency.c.state == "pending",
                    )
                )
        finally:
            self._release(key, ("retry", None))

    def abandon(self, tenant: str, request_id: str) -> None:
        """Owner stops without knowing the outcome: keep the row pending (unknown).

        Use when the POST may have reached upstream (timeout, cancellation).
        Waiters and later callers get ``OutcomeUnknown`` until ``pending_timeout``.
        """
        self._release((tenant, request_id), ("unknown", None))

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
