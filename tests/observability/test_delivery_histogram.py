"""The watch's delivery histogram, counted in plain integers in one process, reads as
prometheus-client's own ``Histogram`` would: same buckets, same edges, same text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gateway.observability._watch import DELIVERY_BUCKETS, WatchMetrics

VALUES = (0.0, 0.0005, 0.0015, 0.0025, 0.3, 1.0, 5.0, 5.0001, 42.0)


def _lines(registry: CollectorRegistry) -> list[str]:
    """The family's sample lines, a ``_created`` line's time left out (each histogram has
    its own)."""
    text = generate_latest(registry).decode()
    return [line.split(" ")[0] if "_created" in line else line
            for line in text.splitlines()
            if line.startswith("revox_gateway_watch_delivery_seconds")]


def test_the_delivery_histogram_matches_prometheus_clients() -> None:
    now = [1000.0]
    ours = CollectorRegistry()
    metrics = WatchMetrics(ours, clock=lambda: now[0])
    theirs = CollectorRegistry()
    reference = Histogram("revox_gateway_watch_delivery_seconds", "-",
                          buckets=DELIVERY_BUCKETS, registry=theirs)
    for value in VALUES:
        committed = now[0] - value
        metrics.delivered(committed)
        reference.observe(now[0] - committed)  # the same float the gateway computes
    metrics.delivered(now[0] + 3)  # a commit "after" now (clock skew) counts as 0
    reference.observe(0.0)
    assert _lines(ours) == _lines(theirs)
    assert 'revox_gateway_watch_delivery_seconds_bucket{le="+Inf"} 10.0' in _lines(ours)
    assert "revox_gateway_watch_delivery_seconds_count 10.0" in _lines(ours)
    assert "revox_gateway_watch_delivery_seconds_created" in _lines(ours)


def test_several_workers_keep_prometheus_clients_histogram() -> None:
    registry = CollectorRegistry()
    metrics = WatchMetrics(registry, clock=lambda: 10.0, shared=True)
    metrics.delivered(9.5)
    assert 'revox_gateway_watch_delivery_seconds_bucket{le="0.5"} 1.0' in _lines(registry)
