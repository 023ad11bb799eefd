"""What the upstream client reports: each HTTP attempt and each retry.

Labels are bounded on purpose: the route is the path *template*
(``/campaigns/{id}/rows``), never the campaign id, and the status is its class. The
same reports keep the upstream's health for ``/healthz``: when it last answered and
what last went wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["UpstreamMetrics", "route_of", "status_class"]

_TAILS = frozenset(("rows", "export", "cancel"))
UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def route_of(path: str) -> str:
    """The route template of a request path of the Revox API: ``/campaigns``,
    ``/campaigns/{id}``, ``/campaigns/{id}/rows|export|cancel``, else ``other``."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[0] != "campaigns" or len(parts) > 3:
        return "other"
    if len(parts) == 1:
        return "/campaigns"
    if len(parts) == 2:
        return "/campaigns/{id}"
    return f"/campaigns/{{id}}/{parts[2]}" if parts[2] in _TAILS else "other"


def status_class(status: int | None) -> str:
    """``2xx``, ``3xx``, ``4xx``, ``5xx``; ``error`` when no status came back (connection
    failure, timeout, unreadable answer)."""
    if status is None or not 200 <= status < 600:
        return "error"
    return f"{status // 100}xx"


@dataclass(frozen=True, slots=True)
class _Failure:
    at: float
    what: str  # e.g. "UpstreamTimeout on GET /campaigns/{id}": no id, no key


class UpstreamMetrics:
    """``revox_gateway_upstream_*`` families, and the upstream's health."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.requests = Counter(
            "revox_gateway_upstream_requests", "HTTP requests (attempts) sent to the Revox API, "
            "by method, route template and status class.", ("method", "route", "status_class"),
            registry=registry)
        self.seconds = Histogram(
            "revox_gateway_upstream_request_seconds", "Duration of one HTTP attempt to the Revox "
            "API, answer read.", ("method", "route"), buckets=UPSTREAM_BUCKETS, registry=registry)
        self.retries = Counter(
            "revox_gateway_upstream_retries", "Attempts sent again after a retryable failure.",
            ("method", "route"), registry=registry)
        self.rate_limited = Counter(
            "revox_gateway_upstream_rate_limited", "Answers 429 (rate limited) of the Revox API.",
            ("method", "route"), registry=registry)
        self.last_success = Gauge(
            "revox_gateway_upstream_last_success_timestamp_seconds", "When the Revox API last "
            "answered (any status below 500), Unix time; 0 before the first answer.",
            registry=registry, multiprocess_mode="max")  # --workers: the latest of any
        self._answered_at: float | None = None
        self._failure: _Failure | None = None

    def attempt(self, method: str, path: str, status: int | None, error: str | None,
                seconds: float) -> None:
        """One attempt ended: ``status`` as answered (None: no answer), ``error`` the
        class name of the failure raised for it (None: success)."""
        route = route_of(path)
        self.requests.labels(method, route, status_class(status)).inc()
        self.seconds.labels(method, route).observe(seconds)
        if status == 429:
            self.rate_limited.labels(method, route).inc()
        now = self._clock()
        if status is None or status >= 500 or (error is not None and status < 300):
            self._failure = _Failure(now, f"{error or status} on {method} {route}")
        else:
            self._answered_at = now
            self.last_success.set(now)

    def retry(self, method: str, path: str) -> None:
        self.retries.labels(method, route_of(path)).inc()

    def health(self) -> dict[str, Any]:
        """``ok`` unless the last attempt failed without an answer, with a 5xx or unreadable.
        Never fails the gateway: cached reads and resumable watches go on without it."""
        now = self._clock()
        answered, failure = self._answered_at, self._failure
        ok = failure is None or (answered is not None and answered >= failure.at)
        return {
            "ok": ok,
            "last_success_age_seconds": None if answered is None else round(now - answered, 3),
            "last_error": None if failure is None else failure.what,
            "last_error_age_seconds": None if failure is None else round(now - failure.at, 3),
        }
