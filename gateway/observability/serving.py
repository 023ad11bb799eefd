"""The observability pieces a serving process adds around its gRPC server: the
interceptor (``grpc_server_*``, request ids, one log line per rpc), health per
dependency and the ``/metrics`` + ``/healthz`` port.

Kept apart from the package's ``__init__`` because they import grpc, SQLAlchemy and
aiohttp's server: ``gateway.app`` imports them, the upstream client and the watch
(which only report to ``Metrics``) do not.
"""

from __future__ import annotations

from ._grpc import CACHE_TRAILER, RpcObserver
from ._health import DATABASE_SERVICE, UPSTREAM_SERVICE, DatabaseProbe, HealthMonitor
from ._http import OpsServer

__all__ = [
    "CACHE_TRAILER",
    "DATABASE_SERVICE",
    "UPSTREAM_SERVICE",
    "DatabaseProbe",
    "HealthMonitor",
    "OpsServer",
    "RpcObserver",
]
