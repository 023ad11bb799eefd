"""The watch families: what the hub holds is read at scrape time, what happens is
reported as it happens.

Read at scrape (no bookkeeping on the hot path): open streams, watched campaigns,
running pollers, poller leases held and taken over, polls and failed polls, degraded
campaigns, and the staleness of the most stale watched campaign. Reported by the watch code: each poll cycle's duration,
the changes it committed, and the commit→delivery latency of each live revision handed
to a stream.

With ``--workers`` (prometheus-client's multiprocess files, ``_multiproc``) a collector's
values would reach no file: the hub's families are then real gauges and counters the
worker publishes every second (``publish``); open streams, campaigns, pollers and
degraded campaigns add up over the workers, staleness is the worst worker's.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

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


# name -> (type, help); the order of a scrape.
_HUB_FAMILIES: dict[str, tuple[str, str]] = {
    "streams": ("gauge", "Open WatchCampaignRows streams (admitted subscribers)."),
    "campaigns": ("gauge", "Campaigns the hub holds (watched, or lingering after their last "
                  "stream)."),
    "pollers": ("gauge", "Campaigns this process polls (holding their poller lease)."),
    "leases_held": ("gauge", "Poller leases this process holds now (also while it catches "
                    "up on the previous holder's commits, before polling)."),
    "degraded_campaigns": ("gauge", "Watched campaigns whose last poll failed."),
    "staleness_seconds": ("gauge", "Seconds since the last successful poll of the most stale "
                          "watched, non-final campaign (0 when none)."),
    "polls": ("counter", "Successful poll cycles."),
    "poll_errors": ("counter", "Failed poll cycles (upstream or database)."),
    "lease_takeovers": ("counter", "Poller leases this process took from another holder "
                        "whose lease expired unreleased (it died or stalled); a released or "
                        "never-taken lease is not counted."),
}
# With --workers (multiprocess files): how the workers' values of a gauge merge.
_Merge = Literal["livesum", "livemax"]
_MERGE: dict[str, _Merge] = {"staleness_seconds": "livemax"}  # the others: livesum


def _hub_values(hub: WatchedHub | None) -> dict[str, float]:
    """What the hub holds now, by family name (zeros before a hub is attached)."""
    if hub is None:
        return dict.fromkeys(_HUB_FAMILIES, 0.0)
    stats, states, now = hub.stats(), list(hub.states()), hub.clock()
    ages = [now - s.last_poll_time for s in states
            if not s.final and s.last_poll_time is not None]
    return {
        "streams": stats.get("subscribers", 0),
        "campaigns": stats.get("campaigns", 0),
        "pollers": stats.get("pollers", 0),
        "leases_held": stats.get("leases_held", 0),
        "degraded_campaigns": sum(1 for s in states if s.degraded),
        "staleness_seconds": max([0.0, *ages]),
        "polls": stats.get("polls", 0),
        "poll_errors": stats.get("poll_errors", 0),
        "lease_takeovers": stats.get("lease_takeovers", 0),
    }


class _HubCollector(Collector):
    """One process: the hub's families computed at scrape time."""

    def __init__(self) -> None:
        self.hub: WatchedHub | None = None

    def describe(self) -> Iterable[Metric]:
        return list(self._families(_hub_values(None)))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(_hub_values(self.hub)))

    @staticmethod
    def _families(values: dict[str, float]) -> Iterator[Metric]:
        for name, (kind, doc) in _HUB_FAMILIES.items():
            family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            yield family(f"revox_gateway_watch_{name}", doc, value=values[name])


class _HubPublisher:
    """Several worker processes (multiprocess files): the hub's families as real gauges
    and counters that :meth:`publish` brings up to date (a collector's values would
    never reach the files)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hub: WatchedHub | None = None
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, Counter] = {}
        self._counted: dict[str, float] = {}
        for name, (kind, doc) in _HUB_FAMILIES.items():
            if kind == "gauge":
                self._gauges[name] = Gauge(
                    f"revox_gateway_watch_{name}", doc, registry=registry,
                    multiprocess_mode=_MERGE.get(name, "livesum"))
            else:
                self._counters[name] = Counter(f"revox_gateway_watch_{name}", doc,
                                               registry=registry)
                self._counted[name] = 0.0

    def publish(self) -> None:
        values = _hub_values(self.hub)
        for name, gauge in self._gauges.items():
            gauge.set(values[name])
        for name, counter in self._counters.items():  # the hub's totals, as increments
            grown = values[name] - self._counted[name]
            if grown > 0:
                counter.inc(grown)
                self._counted[name] = values[name]


class WatchMetrics:
    """``revox_gateway_watch_*`` families; ``attach`` the hub once it exists."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time,
                 shared: bool = False) -> None:
        self._clock = clock
        self._hub: _HubCollector | _HubPublisher
        if shared:
            self._hub = _HubPublisher(registry)
        else:
            self._hub = _HubCollector()
            registry.register(self._hub)
        self.poll_seconds = Histogram(
            "revox_gateway_watch_poll_seconds", "Duration of one poll cycle of a watched "
            "campaign (listing, lookups, commit).", buckets=POLL_BUCKETS, registry=registry)
        self._delivery: Histogram | _DeliveryHistogram
        if shared:
            self._delivery = Histogram(
                _DELIVERY_NAME, _DELIVERY_HELP, buckets=DELIVERY_BUCKETS, registry=registry)
        else:
            self._delivery = _DeliveryHistogram()
            registry.register(self._delivery)
        self.changes = Counter(
            "revox_gateway_watch_changes_committed", "Row changes committed to the change log "
            "by this process's pollers.", registry=registry)
        self.changelog_rows = Gauge(
            "revox_gateway_watch_changelog_rows", "Rows in the durable change log, all "
            "campaigns (refreshed at scrape, at most every few seconds).", registry=registry,
            multiprocess_mode="livemax")  # every worker counts the same shared table

    def attach(self, hub: WatchedHub) -> None:
        self._hub.hub = hub

    def publish(self) -> None:
        """Several workers: write the hub's families to this worker's files (one process
        computes them at scrape time instead: nothing to do)."""
        if isinstance(self._hub, _HubPublisher):
            self._hub.publish()

    def poll_cycle(self, seconds: float) -> None:
        """A poll cycle ended (succeeded or failed) after ``seconds``."""
        self.poll_seconds.observe(seconds)

    def committed(self, changes: int) -> None:
        """A poll committed ``changes`` row changes (one revision)."""
        if changes:
            self.changes.inc(changes)

    def delivered(self, committed_at: float) -> None:
        """A live revision committed at ``committed_at`` (Unix time) reached a stream."""
        self._delivery.observe(max(0.0, self._clock() - committed_at))


_DELIVERY_NAME = "revox_gateway_watch_delivery_seconds"
_DELIVERY_HELP = ("From a revision's commit to the change log to its hand-off to a live "
                  "stream, per stream.")


class _DeliveryHistogram(Collector):
    """The delivery histogram of one process, counted in plain integers.

    Why not prometheus-client's ``Histogram``: it is observed once per stream per live
    revision, 1,000 times a revision at 1,000 subscribers, and its ``observe`` (a lock for
    the sum, a Python loop over the buckets, a lock for the bucket) was ~1 µs of the ~55 µs
    the gateway spends per event per subscriber (BENCHMARKS.md issue 15). The event loop
    observes and the scrape (aiohttp, on the same loop) reads. Several worker processes
    keep prometheus-client's (multiprocess files). Its text is the library's, ``_created``
    included (tests/observability/test_delivery_histogram.py).
    """

    def __init__(self) -> None:
        self._bounds = DELIVERY_BUCKETS
        self._counts = [0] * (len(DELIVERY_BUCKETS) + 1)  # the last one: above every bound
        self._sum = 0.0
        self._created = time.time()

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1  # bound >= seconds: "le"
        self._sum += seconds

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(_DELIVERY_NAME, _DELIVERY_HELP)]

    def collect(self) -> Iterable[Metric]:
        counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, list[tuple[str, float]]()
        for bound, count in zip((*map(repr, self._bounds), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))  # repr: 0.001, 1.0 (as the library writes)
        family = HistogramMetricFamily(_DELIVERY_NAME, _DELIVERY_HELP, buckets=buckets,
                                       sum_value=total)
        family.samples.append(Sample(f"{_DELIVERY_NAME}_created", {}, self._created))
        return [family]
