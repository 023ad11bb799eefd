"""The gRPC server families, named and labelled as go-grpc-prometheus names them.

Why those names: dashboards and alerts written for Go services (``grpc_server_handled_total``
by ``grpc_code``, the handling-time histogram) then work on the gateway unchanged. The code
label takes Go's spelling of a status code (``OK``, ``NotFound``, ``DeadlineExceeded``), as
go-grpc-prometheus writes it.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["GO_CODE_NAMES", "GrpcMetrics", "MethodMetrics"]

# grpc.StatusCode.name -> codes.Code.String() of grpc-go (no grpc import: the upstream
# client imports this package).
GO_CODE_NAMES: dict[str, str] = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
# prometheus.DefBuckets, go-grpc-prometheus's default for the handling-time histogram.
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MethodMetrics:
    """The children of one method (labels resolved once, not per call)."""

    __slots__ = ("_by_code", "_handled", "_labels", "received", "seconds", "sent", "started")

    def __init__(self, family: GrpcMetrics, labels: tuple[str, str, str]) -> None:
        self._labels = labels
        self.started = family.started.labels(*labels)
        self.received = family.received.labels(*labels)
        self.sent = family.sent.labels(*labels)
        self.seconds = family.seconds.labels(*labels)
        self._handled = family.handled
        # ``.labels()`` costs a lock, a tuple and a dict lookup per call: the handled
        # child of each code is resolved once, at its first rpc (a series appears only
        # once a code has happened, as go-grpc-prometheus's do).
        self._by_code: dict[str, Any] = {}

    def handled(self, code: str, seconds: float) -> None:
        """The rpc ended with ``code`` (a ``grpc.StatusCode`` name) after ``seconds``."""
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._handled.labels(
                *self._labels, GO_CODE_NAMES.get(code, "Unknown"))
        child.inc()
        self.seconds.observe(seconds)


class GrpcMetrics:
    """``grpc_server_*``: started, handled (by code), messages received and sent, and the
    handling-time histogram, per type (unary, server_stream, ...), service and method."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_server_started", "Total number of RPCs started on the server.",
            _LABELS, registry=registry)
        self.handled = Counter(
            "grpc_server_handled", "Total number of RPCs completed on the server, regardless "
            "of success or failure.", (*_LABELS, "grpc_code"), registry=registry)
        self.received = Counter(
            "grpc_server_msg_received", "Total number of RPC stream messages received on the "
            "server.", _LABELS, registry=registry)
        self.sent = Counter(
            "grpc_server_msg_sent", "Total number of gRPC stream messages sent by the server.",
            _LABELS, registry=registry)
        self.seconds = Histogram(
            "grpc_server_handling_seconds", "Histogram of response latency (seconds) of gRPC "
            "that had been application-level handled by the server.", _LABELS,
            buckets=HANDLING_BUCKETS, registry=registry)
        self._methods: dict[tuple[str, str, str], MethodMetrics] = {}

    def method(self, grpc_type: str, service: str, method: str) -> MethodMetrics:
        """The children of a method the server has a handler for (so a bounded set)."""
        key = (grpc_type, service, method)
        found = self._methods.get(key)
        if found is None:
            found = self._methods[key] = MethodMetrics(self, key)
        return found
