"""Health per dependency: the database (a cheap query) and the upstream (what its last
calls did), reported as JSON (``/healthz``) and as gRPC health statuses.

Why the database decides and the upstream does not: without its database the gateway
can serve nothing (cache, idempotency, watch log), so the overall gRPC status
(``""`` and ``revox.campaigns.v1.CampaignService``) goes NOT_SERVING and a load
balancer sends callers elsewhere; the upstream is the same for every gateway replica,
so taking all of them out of rotation when it fails would only remove the stale
cached reads and resumable watches they still serve. Its state is reported under a
name of its own (``revox.gateway.upstream``) and in ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol

from grpc_health.v1 import health_pb2
from sqlalchemy import func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..store._schema import campaigns, meta, watch_changes
from ._metrics import Metrics
from ._upstream import UpstreamMetrics

__all__ = ["DATABASE_SERVICE", "UPSTREAM_SERVICE", "DatabaseProbe", "HealthMonitor"]

DATABASE_SERVICE = "revox.gateway.database"
UPSTREAM_SERVICE = "revox.gateway.upstream"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

_log = logging.getLogger("gateway.health")


class HealthSetter(Protocol):
    """The part of grpc's HealthServicer the monitor uses."""

    async def set(self, service: str, status: int) -> None: ...


def _describe(exc: BaseException) -> str:
    """One line, without the statement or parameters SQLAlchemy would add."""
    if isinstance(exc, TimeoutError):
        return "TimeoutError: no answer in time"
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:200] if first else type(cause).__name__


_PROBE_KEY = "health-probe"  # never committed
_PROBE_BYTES = 3 * 4096  # more than a page: its own overflow pages
_PROBE_VALUE = "w" * _PROBE_BYTES


class DatabaseProbe:
    """A cheap query on the read engine (it reads a page of the ``meta`` table, so on
    SQLite it touches the file, unlike ``SELECT 1``), then, given the write engine, a
    write that is rolled back; and the counts behind two gauges.

    Why the write: the gateway cannot keep its promises on a database it can read but not
    write (a create's ``request_id`` could not be recorded): a file locked by another
    program past the busy timeout, a full disk, a read-only replica all pass a read.
    The row inserted needs pages of its own (``_PROBE_BYTES``), so a SQLite file that
    cannot grow fails it too; the rollback leaves nothing behind."""

    def __init__(self, engine: AsyncEngine, *, write_engine: AsyncEngine | None = None,
                 timeout: float = 2.0, write_timeout: float = 6.0) -> None:
        self._engine = engine
        self._write = write_engine
        self._timeout = timeout
        # above SQLite's busy timeout (5 s): a write merely queued behind another is not
        # a failure, a lock held past it is
        self._write_timeout = write_timeout

    async def ping(self) -> None:
        async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
            await conn.execute(select(literal(1)).select_from(meta).limit(1))
        if self._write is not None:
            async with asyncio.timeout(self._write_timeout), self._write.connect() as conn:
                trans = await conn.begin()
                try:
                    await conn.execute(insert(meta).values(key=_PROBE_KEY, value=_PROBE_VALUE))
                finally:
                    await trans.rollback()

    async def refresh_gauges(self, metrics: Metrics) -> None:
        """Set ``cache_entries`` and ``watch_changelog_rows`` (two count queries)."""
        async with self._engine.connect() as conn:
            entries = await conn.scalar(select(func.count()).select_from(campaigns))
            changes = await conn.scalar(select(func.count()).select_from(watch_changes))
        metrics.cache.entries.set(entries or 0)
        metrics.watch.changelog_rows.set(changes or 0)


class HealthMonitor:
    """Checks the database every ``interval`` seconds (and on each :meth:`report`) and
    keeps the gRPC health statuses in step; use as ``async with``."""

    def __init__(
        self,
        *,
        database: DatabaseProbe,
        upstream: UpstreamMetrics,
        health: HealthSetter,
        services: Sequence[str],
        interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._upstream = upstream
        self._health = health
        self._services = tuple(services)
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._database_state: dict[str, Any] = {"ok": True, "error": None}
        self._database_ok: bool | None = None

    async def __aenter__(self) -> HealthMonitor:
        await self.check()
        self._task = asyncio.create_task(self._run(), name="health-monitor")
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:  # never let the monitor die: it would freeze the statuses
                _log.exception("health check failed")

    async def check(self) -> dict[str, Any]:
        """Query the database now, set the gRPC statuses, return the report."""
        started = time.perf_counter()
        error: str | None = None
        try:
            await self._database.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "down"
            error = _describe(exc)
        database = {
            "ok": error is None,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
            "error": error,
        }
        self._database_state = database
        upstream = self._upstream.health()
        await self._publish(error is None, bool(upstream["ok"]))
        return {
            "status": "SERVING" if error is None else "NOT_SERVING",
            "database": database,
            "upstream": upstream,
        }

    async def _publish(self, database_ok: bool, upstream_ok: bool) -> None:
        if database_ok != self._database_ok:
            if database_ok and self._database_ok is not None:
                _log.warning("database answers again: serving")
            elif not database_ok:
                _log.error("database check failed (%s): NOT_SERVING",
                           self._database_state["error"])
            self._database_ok = database_ok
        overall = _SERVING if database_ok else _NOT_SERVING
        for service in self._services:
            await self._health.set(service, overall)
        await self._health.set(DATABASE_SERVICE, overall)
        await self._health.set(UPSTREAM_SERVICE, _SERVING if upstream_ok else _NOT_SERVING)
