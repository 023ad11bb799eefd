"""The watch families: what the hub holds is read at scrape time, what happens is
reported as it happens.

Read at scrape (no bookkeeping on the hot path): open streams, watched campaigns,
running pollers, polls and failed polls, degraded campaigns, and the staleness of the
most stale watched campaign. Reported by the watch code: each poll cycle's duration,
the changes it committed, and the commit→delivery latency of each live revision handed
to a stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["WatchMetrics", "WatchedCampaign", "WatchedHub"]

POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WatchedCampaign(Protocol):
    """What the metrics read of one watched campaign (``gateway.watch``'s CampaignState)."""

    @property
    def degraded(self) -> bool: ...
    @property
    def final(self) -> bool: ...
    @property
    def last_poll_time(self) -> float | None: ...


class WatchedHub(Protocol):
    """What the metrics read of the watch hub."""

    @property
    def clock(self) -> Callable[[], float]: ...
    def stats(self) -> dict[str, Any]: ...
    def states(self) -> Iterable[WatchedCampaign]: ...


class _HubCollector(Collector):
    def __init__(self) -> None:
        self.hub: WatchedHub | None = None

    def describe(self) -> Iterable[Metric]:
        return list(self._families({}, []))

    def collect(self) -> Iterable[Metric]:
        hub = self.hub
        if hub is None:
            return list(self._families({}, []))
        return list(self._families(hub.stats(), list(hub.states()), hub.clock()))

    @staticmethod
    def _families(stats: dict[str, Any], states: list[WatchedCampaign],
                  now: float = 0.0) -> Iterator[Metric]:
        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"revox_gateway_watch_{name}", doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"revox_gateway_watch_{name}", doc, value=value)

        yield gauge("streams", "Open WatchCampaignRows streams (admitted subscribers).",
                    stats.get("subscribers", 0))
        yield gauge("campaigns", "Campaigns the hub holds (watched, or lingering after "
                    "their last stream).", stats.get("campaigns", 0))
        yield gauge("pollers", "Campaigns this process polls (holding their poller lease).",
                    stats.get("pollers", 0))
        yield gauge("degraded_campaigns", "Watched campaigns whose last poll failed.",
                    sum(1 for s in states if s.degraded))
        ages = [now - s.last_poll_time for s in states
                if not s.final and s.last_poll_time is not None]
        yield gauge("staleness_seconds", "Seconds since the last successful poll of the most "
                    "stale watched, non-final campaign (0 when none).", max([0.0, *ages]))
        yield counter("polls", "Successful poll cycles.", stats.get("polls", 0))
        yield counter("poll_errors", "Failed poll cycles (upstream or database).",
                      stats.get("poll_errors", 0))


class WatchMetrics:
    """``revox_gateway_watch_*`` families; ``attach`` the hub once it exists."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._collector = _HubCollector()
        registry.register(self._collector)
        self.poll_seconds = Histogram(
            "revox_gateway_watch_poll_seconds", "Duration of one poll cycle of a watched "
            "campaign (listing, lookups, commit).", buckets=POLL_BUCKETS, registry=registry)
        self.delivery_seconds = Histogram(
            "revox_gateway_watch_delivery_seconds", "From a revision's commit to the change "
            "log to its hand-off to a live stream, per stream.", buckets=DELIVERY_BUCKETS,
            registry=registry)
        self.changes = Counter(
            "revox_gateway_watch_changes_committed", "Row changes committed to the change log "
            "by this process's pollers.", registry=registry)
        self.changelog_rows = Gauge(
            "revox_gateway_watch_changelog_rows", "Rows in the durable change log, all "
            "campaigns (refreshed at scrape, at most every few seconds).", registry=registry)

    def attach(self, hub: WatchedHub) -> None:
        self._collector.hub = hub

    def poll_cycle(self, seconds: float) -> None:
        """A poll cycle ended (succeeded or failed) after ``seconds``."""
        self.poll_seconds.observe(seconds)

    def committed(self, changes: int) -> None:
        """A poll committed ``changes`` row changes (one revision)."""
        if changes:
            self.changes.inc(changes)

    def delivered(self, committed_at: float) -> None:
        """A live revision committed at ``committed_at`` (Unix time) reached a stream."""
        self.delivery_seconds.observe(max(0.0, self._clock() - committed_at))
