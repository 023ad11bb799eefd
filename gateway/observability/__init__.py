"""What an operator sees of a running gateway: metrics, logs, request ids, health.

- ``Metrics``: every Prometheus family, in a registry of the gateway's own; components
  receive the part they report to (``metrics.upstream`` to the upstream client,
  ``metrics.watch`` to the watch hub, ``metrics.creates`` to the campaign use cases).
- ``current_request_id``: the request id of the rpc being served (a context variable),
  which the upstream client sends on as ``x-request-id``.
- ``configure_logging``: text or JSON log lines.
- ``gateway.observability.serving``: the pieces that need grpc, the database or an HTTP
  server (the interceptor, health, the ``/metrics`` port), for ``gateway.app`` only; this
  package itself needs only prometheus-client, so the upstream client and the watch can
  import it.

What each family and log field means: docs/operations.md.
"""

from __future__ import annotations

from ._context import (
    MAX_REQUEST_ID,
    REQUEST_ID_HEADER,
    accept_request_id,
    current_request_id,
    forget_request_id,
    set_request_id,
)
from ._logging import LOG_FORMATS, JsonFormatter, configure_logging
from ._metrics import CREATE_OUTCOMES, CacheMetrics, CreateMetrics, LimitMetrics, Metrics
from ._upstream import UpstreamMetrics, route_of, status_class
from ._watch import WatchMetrics

__all__ = [
    "CREATE_OUTCOMES",
    "LOG_FORMATS",
    "MAX_REQUEST_ID",
    "REQUEST_ID_HEADER",
    "CacheMetrics",
    "CreateMetrics",
    "JsonFormatter",
    "LimitMetrics",
    "Metrics",
    "UpstreamMetrics",
    "WatchMetrics",
    "accept_request_id",
    "configure_logging",
    "current_request_id",
    "forget_request_id",
    "route_of",
    "set_request_id",
    "status_class",
]
