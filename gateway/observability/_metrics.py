"""``Metrics``: every Prometheus family of one gateway, in a registry of its own.

Why its own registry (never prometheus-client's default ``REGISTRY``): a test process
builds several gateways, each must count only its own rpcs; and nothing global means
each component receives the part it reports to (``metrics.upstream`` to the upstream
client, ``metrics.watch`` to the watch hub, ...) from ``gateway.app``.

No label carries a campaign id, an API key, a tenant or anything a caller sent: every
label value comes from a fixed set (method names, route templates, status classes,
outcomes, cap names), so the number of series is bounded.

With ``--workers`` each worker process counts into prometheus-client's multiprocess
files and the supervisor serves them merged (``_multiproc``); what one process computes at
scrape time the worker then publishes every second (:meth:`Metrics.publish`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import choose_encoder

from ._database import DatabaseMetrics
from ._grpc_metrics import GrpcMetrics
from ._multiproc import multiprocess
from ._runtime import RuntimeMetrics, event_loop_tasks
from ._upstream import UpstreamMetrics
from ._watch import WatchMetrics

__all__ = ["CREATE_OUTCOMES", "CacheMetrics", "CreateMetrics", "LimitMetrics", "Metrics"]

CREATE_OUTCOMES = ("created", "replayed", "in_flight", "unknown", "reconciled", "mismatch")
CACHE_RESULTS = ("hit", "miss", "stale")
_REFRESH_EVERY = 5.0  # seconds: scrapes in between read the last database counts
_REFRESH_TIMEOUT = 2.0

_log = logging.getLogger("gateway.observability")

Refresh = Callable[[], Awaitable[None]]


class CacheMetrics:
    """``revox_gateway_cache_*``: lookups by result, and entries."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "revox_gateway_cache_lookups", "Campaign cache lookups answered, by rpc and result "
            "(hit: fresh copy; miss: read upstream, skip_cache included; stale: a cached copy "
            "served because the upstream failed).", ("method", "result"), registry=registry)
        self._children: dict[tuple[str, str], Any] = {}  # (method, result) -> child
        self.entries = Gauge(
            "revox_gateway_cache_entries", "Campaigns in the cache, all tenants (refreshed at "
            "scrape, at most every few seconds).", registry=registry,
            multiprocess_mode="livemax")  # --workers: each counts the same shared table

    def lookup(self, method: str, result: str) -> None:
        """Counted on every cached read: the child is resolved once per (method, result)."""
        key = (method, result)
        child = self._children.get(key)
        if child is None:
            if result not in CACHE_RESULTS:
                return
            child = self._children[key] = self.lookups.labels(method, result)
        child.inc()


class CreateMetrics:
    """``revox_gateway_idempotent_creates_total{outcome}``: CreateCampaign with a
    request_id, by what the idempotency store decided."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "revox_gateway_idempotent_creates", "CreateCampaign calls with a request_id, by "
            "outcome.", ("outcome",), registry=registry)
        for outcome in CREATE_OUTCOMES:
            self.outcomes.labels(outcome)

    def outcome(self, outcome: str) -> None:
        """Count ``outcome``, one of ``CREATE_OUTCOMES`` (anything else is a bug: ignored,
        so a label can never grow)."""
        if outcome in CREATE_OUTCOMES:
            self.outcomes.labels(outcome).inc()


class LimitMetrics:
    """``revox_gateway_limit_refusals_total{cap}``: requests refused by a cap; the code
    that enforces a cap names it (a fixed name, e.g. ``watch_streams``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refusals = Counter(
            "revox_gateway_limit_refusals", "Requests refused by a gateway cap, by cap.",
            ("cap",), registry=registry)

    def refused(self, cap: str) -> None:
        self.refusals.labels(cap).inc()


class Metrics:
    """The families of one gateway process; see docs/operations.md for each."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 shared: bool | None = None) -> None:
        # shared: counting into multiprocess files (a --workers process); None: as
        # prometheus-client decided at import (``_multiproc.multiprocess``).
        self.shared = multiprocess() if shared is None else shared
        self.registry = CollectorRegistry()
        self.grpc = GrpcMetrics(self.registry)
        self.upstream = UpstreamMetrics(self.registry, clock=clock)
        self.cache = CacheMetrics(self.registry)
        self.creates = CreateMetrics(self.registry)
        self.watch = WatchMetrics(self.registry, clock=clock, shared=self.shared)
        self.limits = LimitMetrics(self.registry)
        self.database = DatabaseMetrics(self.registry, shared=self.shared)
        self.runtime = RuntimeMetrics(self.registry)
        self._refreshers: list[Refresh] = []
        self._refreshed_at: float | None = None
        self._refreshing: asyncio.Lock | None = None
        self._flushers: list[Callable[[], None]] = []

    def add_flush(self, flush: Callable[[], None]) -> None:
        """``flush`` brings counts kept in plain integers on a hot path (the messages of
        open streams) into their families; run on the event loop before every scrape and
        every publish, so a scrape never sees them late."""
        self._flushers.append(flush)

    def flush(self) -> None:
        for flush in self._flushers:
            flush()

    def add_refresh(self, refresh: Refresh) -> None:
        """``refresh`` sets gauges that cost a query (database counts) before a scrape."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        """Run the refreshers, at most once per few seconds however often it is scraped;
        a failing or slow one leaves its gauges as they were (logged at DEBUG)."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            now = time.monotonic()
            if self._refreshed_at is not None and now - self._refreshed_at < _REFRESH_EVERY:
                return
            self._refreshed_at = now
            for refresh in self._refreshers:
                try:
                    await asyncio.wait_for(refresh(), _REFRESH_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - a scrape must not fail for a gauge
                    _log.debug("metrics refresh failed: %s", type(exc).__name__)

    async def publish(self) -> None:
        """A --workers process: bring what a single process computes at scrape time into
        its multiprocess files (database counts, the watch hub, event-loop tasks)."""
        await self.refresh()
        self.flush()
        self.watch.publish()
        self.database.publish()
        self.runtime.event_loop_tasks.set(event_loop_tasks())

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for (Prometheus text by default,
        OpenMetrics on request): the body and its content type."""
        self.flush()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
