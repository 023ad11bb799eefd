"""The one place that assembles a gateway process: the upstream (or the embedded
simulator), the database, the upstream client, the campaign use cases, the watch
hub and the gRPC server, owned by one async context manager.

Tests run the real thing on port 0 with a temporary database (``Gateway``);
production runs it through ``serve`` until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx

from .config import SIMULATOR_KEY, Settings
from .rpc import CampaignServicer, RpcServer
from .service import Campaigns
from .store import Database
from .upstream import RevoxClient
from .watch import WatchHub

if TYPE_CHECKING:
    from grpc_health.v1._async import HealthServicer

    from .simulator import Simulator

__all__ = ["Gateway", "serve"]


class Gateway:
    """A running gateway. ``port`` is known once entered (bind to port 0 in tests)."""

    def __init__(
        self, settings: Settings, *, upstream_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = upstream_transport
        self._stack = AsyncExitStack()
        self.port = 0
        self.upstream_url = settings.upstream_url
        self.default_api_key = settings.api_key
        self.simulator: Simulator | None = None
        self.db: Database | None = None
        self.watch: WatchHub | None = None
        self.rpc: RpcServer | None = None

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
            await self._start_simulator()
        self.db = db = await self._stack.enter_async_context(
            Database(s.database_url, tenant_secret=s.tenant_secret)
        )
        client = await self._stack.enter_async_context(
            RevoxClient(self.upstream_url, transport=self._transport,
                        default_timeout=s.upstream_timeout, page_base=s.upstream_page_base)
        )
        campaigns = Campaigns(client, db, ttl=s.cache_ttl)
        self._stack.push_async_callback(campaigns.drain)
        # A key derived from the tenant secret signs resume tokens, so a token
        # from another gateway database does not verify.
        token_key = bytes.fromhex(db.tenants.tenant_of("\x00watch-token-key"))
        self.watch = await self._stack.enter_async_context(
            WatchHub(client=client, changelog=db.changelog, settings=s.watch, token_key=token_key)
        )
        servicer = CampaignServicer(campaigns, default_api_key=self.default_api_key, watcher=self.watch)
        self.rpc = RpcServer(servicer, s.server)
        self.port = await self.rpc.start()

    async def _start_simulator(self) -> None:
        from .simulator import Simulator, SimulatorConfig

        s = self.settings
        config = SimulatorConfig(seed=s.simulator_seed, clock="real")
        if s.simulator_speedup is not None:
            config = SimulatorConfig(seed=s.simulator_seed, clock="real", speedup=s.simulator_speedup)
        self.simulator = await self._stack.enter_async_context(Simulator(config))
        self.upstream_url = self.simulator.base_url
        self.default_api_key = s.api_key or SIMULATOR_KEY

    @property
    def health(self) -> HealthServicer:
        assert self.rpc is not None
        return self.rpc.health

    @property
    def address(self) -> str:
        host = self.settings.listen.rsplit(":", 1)[0] or "127.0.0.1"
        return f"{host}:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, end watch streams with UNAVAILABLE, let unary calls finish
        within the grace period, then close the upstream client and database."""
        rpc, self.rpc = self.rpc, None
        try:
            if rpc is not None:
                await rpc.stop(grace, before_drain=self.watch.shutdown if self.watch else None)
        finally:
            await self._stack.aclose()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings) as gateway:
        print(banner(gateway), flush=True)
        await stop.wait()
        print("revox-gateway: shutting down", file=sys.stderr, flush=True)


def banner(gateway: Gateway) -> str:
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
    return "\n".join(lines)
