"""The gRPC server: build, add, bind, start — and drain on stop.

Transport only: it serves a ``CampaignServicer`` it is given, plus health and
reflection, on the address and TLS files of ``ServerSettings``, through the
interceptors it is given (metrics, request ids, access log: ``gateway.observability``).
What the servicer delegates to (database, upstream client, watch hub) is assembled by
``gateway.app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ..config import ServerSettings, StartupError
from ._handlers import SERVICE_NAME, generic_handler
from ._reflection import REFLECTION_SERVICES, enable_reflection
from ._servicer import CampaignServicer

__all__ = ["RpcServer"]

_MAX_MESSAGE = 64 * 1024 * 1024  # a 100k-contact CreateCampaign is ~10 MB
# --workers: connections are closed after 5 min (then 30 s for calls in flight) so that
# clients reconnect and the kernel spreads them over the workers again.
_WORKER_OPTIONS = (("grpc.max_connection_age_ms", 300_000),
                   ("grpc.max_connection_age_grace_ms", 30_000))


# HTTP/2 limits, per connection, set on purpose rather than left to grpc's defaults:
_HTTP2_LIMITS = (
    # Streams one connection may have open at once: one client cannot hold more watch
    # streams than this on one connection (the per-key and per-process caps of
    # gateway.limits still apply); beyond it the client queues, it is not refused.
    ("grpc.max_concurrent_streams", 1000),
    # ... counting the streams open on the wire. grpc's default also counts streams the
    # client has ended but whose handler has not finished yet, and refuses new ones
    # (RST_STREAM REFUSED_STREAM) while it lags: a stream that had waited for a free slot
    # then failed UNAVAILABLE "Stream removed" as soon as the client freed one, unseen by
    # the gateway (tests/rpc/test_http2_limits.py). The process caps and the backlog limit
    # below bound what such handlers hold.
    ("grpc.http.overload_protection", 0),
    # Keepalive enforcement: a client may ping at most every 10 s while no data flows;
    # pinging faster twice (max_ping_strikes) earns a GOAWAY (too_many_pings). Without
    # it a misconfigured client could keep the event loop busy answering pings.
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 2),
    # Clients may keep an idle connection alive with pings (a watch client between
    # streams, behind a NAT that forgets quiet flows), within the interval above.
    ("grpc.keepalive_permit_without_calls", 1),
    # The server pings a quiet connection every 60 s and drops it when no answer comes
    # within 20 s: a watch client that vanished (host gone, no FIN) frees its stream.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
)

# Calls grpc core has received but the event loop has not accepted yet (grpc.aio accepts
# one per loop turn, so a burst of streams waits there while the loop serves the first
# ones). Past the soft limit core drops a growing random share of them, all of them past
# the hard one, and a dropped call ends CANCELLED with no detail, never reaching the
# gateway: no log line, no metric, no RESOURCE_EXHAUSTED. grpc's defaults (1,000/3,000)
# dropped ~9 % of 2,000 streams opened at once (issue 16, tests/reliability/streams.py).
# The soft limit is the process's watch-stream cap (gateway.limits, 10,000): a burst up
# to it reaches the gateway, which serves it or refuses the excess with a detail. A
# waiting call costs ~15 KB (6,000 held behind a stalled loop: +92 MB RSS), so the hard
# limit bounds that backlog to ~300 MB; only past it may core still drop calls silently.
_PENDING_CALLS = (
    ("grpc.server.max_pending_requests", 10_000),
    ("grpc.server.max_pending_requests_hard_limit", 20_000),
)


class RpcServer:
    """CampaignService, health and reflection on one port (``port`` once started)."""

    def __init__(
        self, servicer: CampaignServicer, settings: ServerSettings,
        *, interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.settings = settings
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                # grpc sets SO_REUSEPORT by default: a second gateway on a busy port would
                # then bind, share the port and receive half of the connections. Only
                # --workers processes share it on purpose (gateway.workers).
                ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
                *(_WORKER_OPTIONS if settings.reuse_port else ()),
                *_HTTP2_LIMITS,
                *_PENDING_CALLS,
            ]
        )
        self._server.add_generic_rpc_handlers((generic_handler(servicer),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        # error_details lets grpcurl decode the google.rpc details of an error.
        enable_reflection(
            self._server,
            (SERVICE_NAME, health.SERVICE_NAME, *REFLECTION_SERVICES),
            extra=(health_pb2.DESCRIPTOR, error_details_pb2.DESCRIPTOR),
        )

    async def start(self) -> int:
        assert self._server is not None, "a stopped server does not start again"
        self.port = self._bind(self._server)
        await self._server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    def _bind(self, server: grpc.aio.Server) -> int:
        s = self.settings
        creds: grpc.ServerCredentials | None = None
        if s.tls_cert is None:
            if s.tls_key is not None or s.tls_client_ca is not None:
                # Fail closed: never downgrade a TLS/mTLS configuration to plaintext.
                raise ValueError("tls_key and tls_client_ca need tls_cert")
        else:
            key = (s.tls_key or s.tls_cert).read_bytes()
            chain = s.tls_cert.read_bytes()
            ca = s.tls_client_ca.read_bytes() if s.tls_client_ca else None
            creds = grpc.ssl_server_credentials(
                [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
            )
        # gateway.preflight checks the port and the TLS files first; this is for what it
        # cannot see (a port taken since, a file grpc reads differently), still one line.
        try:
            if creds is None:
                port = server.add_insecure_port(s.listen)
            else:
                port = server.add_secure_port(s.listen, creds)
        except RuntimeError:  # grpc's "Failed to bind to address ...; set GRPC_VERBOSITY"
            port = 0
        if port == 0:
            tls = " with the files of --tls-cert/--tls-key" if creds else ""
            raise StartupError(f"grpc cannot listen on {s.listen}{tls} (in use, or not an "
                               "address of this machine?); choose another with --listen "
                               "HOST:PORT")
        return port

    async def stop(
        self, grace: float | None = None, *, before_drain: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """NOT_SERVING, then ``before_drain`` (e.g. end the watch streams), then let
        unary calls finish within the grace period."""
        server, self._server = self._server, None
        if server is None:
            return
        await self.health.enter_graceful_shutdown()
        if before_drain is not None:
            await before_drain()
        await server.stop(self.settings.shutdown_grace if grace is None else grace)
