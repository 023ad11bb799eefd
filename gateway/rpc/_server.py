"""The gateway process: build, add, bind, start, wait — and stop cleanly.

``Gateway`` owns every resource (simulator, database, upstream client, gRPC
server) as one async context manager, so tests run the real thing on port 0
with a temporary database and production runs it through ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import AsyncExitStack
from typing import Any

import grpc
from google.rpc import error_details_pb2  # noqa: F401 - lets grpcurl decode error details
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..config import SIMULATOR_KEY, Settings
from ..service import CampaignService
from ..store import Database
from ..upstream import RevoxClient
from ..watch import WatchHub
from ._handlers import SERVICE_NAME, generic_handler
from ._servicer import CampaignServicer

__all__ = ["Gateway", "serve"]

_log = logging.getLogger("gateway")
_MAX_MESSAGE = 64 * 1024 * 1024  # a 100k-contact CreateCampaign is ~10 MB


class Gateway:
    """A running gateway. ``port`` is known once entered (bind to port 0 in tests)."""

    def __init__(self, settings: Settings, *, upstream_transport: Any = None) -> None:
        self.settings = settings
        self._transport = upstream_transport
        self._stack = AsyncExitStack()
        self.port = 0
        self.upstream_url = settings.upstream_url
        self.default_api_key = settings.api_key
        self.simulator: Any = None
        self.db: Database | None = None
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.watch: WatchHub | None = None

    async def __aenter__(self) -> Gateway:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start(self) -> None:
        s = self.settings
        if s.simulator:
            from ..simulator import Simulator, SimulatorConfig

            config = SimulatorConfig(seed=s.simulator_seed, clock="real")
            if s.simulator_speedup is not None:
                config = SimulatorConfig(seed=s.simulator_seed, clock="real", speedup=s.simulator_speedup)
            self.simulator = await self._stack.enter_async_context(Simulator(config))
            self.upstream_url = self.simulator.base_url
            self.default_api_key = s.api_key or SIMULATOR_KEY
        self.db = await self._stack.enter_async_context(
            Database(s.database_url, tenant_secret=s.tenant_secret)
        )
        client = await self._stack.enter_async_context(
            RevoxClient(self.upstream_url, transport=self._transport, default_timeout=s.upstream_timeout)
        )
        campaigns = CampaignService(client, self.db, ttl=s.cache_ttl)
        self._stack.push_async_callback(campaigns.drain)
        self.watch = await self._start_watch(client)
        servicer = CampaignServicer(campaigns, default_api_key=self.default_api_key, watcher=self.watch)

        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ]
        )
        server.add_generic_rpc_handlers((generic_handler(servicer),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self.port = self._bind(server)
        await server.start()
        self.server = server
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def _start_watch(self, client: RevoxClient) -> WatchHub:
        assert self.db is not None
        # A key derived from the tenant secret signs resume tokens, so a token
        # from another gateway database does not verify.
        token_key = bytes.fromhex(self.db.tenants.tenant_of("\x00watch-token-key"))
        hub = WatchHub(client=client, changelog=self.db.changelog, settings=self.settings, token_key=token_key)
        return await self._stack.enter_async_context(hub)

    def _bind(self, server: grpc.aio.Server) -> int:
        s = self.settings
        if s.tls_cert is None:
            if s.tls_key is not None or s.tls_client_ca is not None:
                # Fail closed: never downgrade a TLS/mTLS configuration to plaintext.
                raise ValueError("tls_key and tls_client_ca need tls_cert")
            port = server.add_insecure_port(s.listen)
        else:
            key = (s.tls_key or s.tls_cert).read_bytes()
            chain = s.tls_cert.read_bytes()
            ca = s.tls_client_ca.read_bytes() if s.tls_client_ca else None
            creds = grpc.ssl_server_credentials(
                [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
            )
            port = server.add_secure_port(s.listen, creds)
        if port == 0:
            raise OSError(f"cannot listen on {s.listen}")
        return port

    @property
    def address(self) -> str:
        host = self.settings.listen.rsplit(":", 1)[0] or "127.0.0.1"
        return f"{host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, end watch streams with UNAVAILABLE, let unary calls finish
        within the grace period, then close the upstream client and database."""
        grace = self.settings.shutdown_grace if grace is None else grace
        server, self.server = self.server, None
        try:
            if server is not None:
                await self.health.enter_graceful_shutdown()
                if self.watch is not None:
                    await self.watch.shutdown()
                await server.stop(grace)
        finally:
            await self._stack.aclose()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings) as gateway:
        _banner(gateway)
        await stop.wait()
        print("revox-gateway: shutting down", file=sys.stderr, flush=True)


def _banner(gateway: Gateway) -> None:
    lines = [f"revox-gateway: serving revox.campaigns.v1.CampaignService on {gateway.address}"]
    if gateway.simulator is not None:
        lines += [
            f"  upstream: the embedded Revox simulator at {gateway.upstream_url}",
            "  NO REAL PHONE CALLS ARE PLACED: every call is simulated.",
        ]
    else:
        lines.append(f"  upstream: {gateway.upstream_url} (REAL calls are placed)")
    s = gateway.settings
    if s.tls_cert is None:
        plaintext = "-plaintext "
    else:  # grpcurl must trust the server's CA (and present a client cert under mTLS)
        plaintext = "-cacert <CA of --tls-cert> "
        if s.tls_client_ca is not None:
            plaintext += "-cert <client cert> -key <client key> "
    lines += [
        "  try:",
        f"    grpcurl {plaintext}{gateway.address} list",
        f"    grpcurl {plaintext}-d '{{}}' {gateway.address} revox.campaigns.v1.CampaignService/ListCampaigns",
    ]
    print("\n".join(lines), flush=True)
