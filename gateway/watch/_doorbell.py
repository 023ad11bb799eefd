"""The doorbell of followers on PostgreSQL: LISTEN to the change log's NOTIFYs.

Why: a replica whose subscribers' campaign is polled by another replica learns of new
revisions from the database (the change log is the truth). Reading it on a timer alone
costs either latency or load; every commit of a revision NOTIFYs ``revox_watch`` with
``campaign_key:revision`` in its transaction (``ChangeLog.commit``), and a released
poller lease ``campaign_key:released``, so followers read at once. Notifications are
not durable (none while this connection is down), so the followers also read on their
timer (``follow_interval``), and everything is read again after every (re)connect.

One dedicated asyncpg connection per process, outside the SQLAlchemy pools (a LISTEN
lives as long as its session). SQLite has no notifications: followers there read on
their timer only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..store import NOTIFY_CHANNEL

__all__ = ["NotifyDoorbell"]

log = logging.getLogger(__name__)

_PROBE_EVERY = 5.0  # seconds between liveness probes of the listening connection


class NotifyDoorbell:
    """``async with NotifyDoorbell(dsn, ring=hub.ring, ring_all=hub.ring_all)``."""

    def __init__(
        self,
        dsn: str,
        *,
        ring: Callable[..., None],
        ring_all: Callable[[], None],
        retry: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._ring = ring
        self._ring_all = ring_all
        self._retry = retry
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # listening now (tests wait on it)

    async def __aenter__(self) -> NotifyDoorbell:
        self._task = asyncio.create_task(self._run(), name="watch-doorbell")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        key, _, what = payload.rpartition(":")
        if key:
            self._ring(key, released=what == "released")

    async def _run(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        while True:
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
            except Exception as exc:
                log.warning("watch doorbell: cannot connect: %s", type(exc).__name__)
                await asyncio.sleep(self._retry)
                continue
            try:
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                self.connected.set()
                self._ring_all()  # whatever was committed while nobody listened
                while True:
                    await asyncio.sleep(_PROBE_EVERY)
                    await conn.fetchval("SELECT 1", timeout=_PROBE_EVERY)
            except Exception as exc:
                log.warning("watch doorbell: connection lost: %s", type(exc).__name__)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2.0)
            await asyncio.sleep(self._retry)
