"""``revox_gateway_database_errors_total{kind}``: the store's failure counts, read at scrape.

Why read rather than reported: the store counts failures in a plain object
(``gateway.store.DatabaseErrors``, at its engines) and must not import prometheus; as
for the watch hub (``_watch``), one process reads the counts when scraped, and with
``--workers`` (multiprocess files, ``_multiproc``) each worker publishes what grew every
second as increments of a real counter.

``kind`` is one of ``gateway.store.DATABASE_ERROR_KINDS`` (unreachable, locked, full,
other): bounded, never a message, a table or a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ERROR_KINDS", "CountedErrors", "DatabaseMetrics"]

# The store's kinds (``gateway.store.DATABASE_ERROR_KINDS``), restated so the metrics
# do not import the store; a kind the store adds later is dropped, not a new label.
ERROR_KINDS = ("unreachable", "locked", "full", "other")

_NAME = "revox_gateway_database_errors"
_HELP = ("Database failures seen by this gateway's store (queries, connects, the health "
         "probe), by kind: unreachable, locked, full, other.")


class CountedErrors(Protocol):
    """What the metrics read of the store's counter (``Database.errors``)."""

    @property
    def counts(self) -> Mapping[str, int]: ...


def _values(errors: CountedErrors | None) -> dict[str, int]:
    counts = {} if errors is None else errors.counts
    return {kind: int(counts.get(kind, 0)) for kind in ERROR_KINDS}


class _Collector(Collector):
    def __init__(self) -> None:
        self.errors: CountedErrors | None = None

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(_NAME, _HELP, labels=("kind",))]

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(_NAME, _HELP, labels=("kind",))
        for kind, value in _values(self.errors).items():
            family.add_metric((kind,), value)
        return [family]


class DatabaseMetrics:
    """``attach`` the store's counter once the database is open."""

    def __init__(self, registry: CollectorRegistry, *, shared: bool = False) -> None:
        self._collector: _Collector | None = None
        self._counter: Counter | None = None
        self._errors: CountedErrors | None = None
        self._published = dict.fromkeys(ERROR_KINDS, 0)
        if shared:
            self._counter = Counter(_NAME, _HELP, ("kind",), registry=registry)
            for kind in ERROR_KINDS:
                self._counter.labels(kind)
        else:
            self._collector = _Collector()
            registry.register(self._collector)

    def attach(self, errors: CountedErrors) -> None:
        self._errors = errors
        if self._collector is not None:
            self._collector.errors = errors

    def publish(self) -> None:
        """Several workers: add what grew since the last publication to the files."""
        if self._counter is None:
            return
        for kind, value in _values(self._errors).items():
            grown = value - self._published[kind]
            if grown > 0:
                self._counter.labels(kind).inc(grown)
                self._published[kind] = value
