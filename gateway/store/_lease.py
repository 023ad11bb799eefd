"""The lease of pending idempotent creates: who runs one, and whether it is alive.

Why: several gateway processes may share one database. A pending row is only
"outcome unknown" when nobody is working on it any more; while its owner is alive
(another replica, POST in flight) a duplicate should wait for its answer instead.

Each :class:`Lease` is one process's identity (``owner``, random per store) and its
heartbeat: while it holds pending creates, a background task stamps their
``heartbeat_at`` every ``duration / 3`` seconds (the injected clock; replicas'
clocks are assumed within a few seconds of each other, well under the lease). A
row is held by a *live* owner while its heartbeat is younger than ``duration``
(default 10 s): a crashed owner is noticed within 10 s. Letting go without an
outcome (``abandon``, owner task gone, close) clears the heartbeat at once, so
waiters elsewhere learn "unknown" without waiting out the lease.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Iterable
from typing import Any

from sqlalchemy import and_, bindparam, update

from ._base import Engines
from ._schema import idempotency

__all__ = ["Lease"]

_log = logging.getLogger("gateway.store")

Key = tuple[str, str]  # (tenant, request_id)


class Lease:
    """One process's ownership of pending idempotency rows (see module docstring)."""

    def __init__(self, engines: Engines, *, duration: float, owner: str | None = None) -> None:
        if duration <= 0:
            raise ValueError("the idempotency lease must be positive")
        self._e = engines
        self.duration = duration
        self.owner = owner or secrets.token_hex(8)
        self._held: set[Key] = set()
        self._beating: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        t = idempotency.c
        mine = and_(
            t.tenant == bindparam("t"),
            t.request_id == bindparam("r"),
            t.owner == self.owner,
            t.state == "pending",
        )
        self._beat_stmt = update(idempotency).where(mine).values(heartbeat_at=bindparam("at"))
        self._expire_stmt = update(idempotency).where(mine).values(heartbeat_at=None)

    def is_live(self, owner: str | None, heartbeat_at: float | None, now: float) -> bool:
        """Whether a pending row is held by another process that is still alive.

        Our own rows are not: this process knows its claims (an orphan of ours is
        unknown). A heartbeat far in the future (a clock stepped back) does not pin a
        row alive either, as in ``is_fresh``.
        """
        if owner is None or owner == self.owner or heartbeat_at is None:
            return False
        return -self.duration < now - heartbeat_at < self.duration

    def hold(self, key: Key) -> None:
        """Keep ``key``'s heartbeat fresh until :meth:`release`."""
        self._held.add(key)
        if self._beating is None and not self._closed:
            self._beating = asyncio.get_running_loop().create_task(self._beat_forever())

    def release(self, key: Key, *, expire: bool) -> None:
        """Stop refreshing ``key``; ``expire``: no outcome, clear its heartbeat now."""
        self._held.discard(key)
        if expire and not self._closed:
            self._spawn(self._write(self._expire_stmt, [key]))

    async def aclose(self) -> None:
        """Stop the heartbeat and let go of every held row (they become "unknown")."""
        self._closed = True
        held, self._held = list(self._held), set()
        if self._beating is not None:
            self._beating.cancel()
        await self._write(self._expire_stmt, held)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no running loop (interpreter shutdown): the lease expires
            coro.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _beat_forever(self) -> None:
        try:
            while self._held:
                await asyncio.sleep(self.duration / 3)
                await self._write(self._beat_stmt, list(self._held), at=self._e.clock())
        finally:
            self._beating = None

    async def _write(self, stmt: Any, keys: Iterable[Key], **extra: Any) -> None:
        params = [{"t": t, "r": r, **extra} for t, r in keys]
        if not params:
            return
        try:
            async with self._e.write.begin() as conn:
                await conn.execute(stmt, params)
        except Exception as exc:
            # A missed beat only risks a waiter seeing "unknown" early; a missed
            # expiry only makes it wait out the lease. Neither may fail a create.
            _log.warning("idempotency lease update failed: %s", type(exc).__name__)
