"""The one place that assembles a gateway process: the upstream (or the embedded
simulator), the database, the upstream client, the campaign use cases, the watch
hub and the gRPC server, owned by one async context manager; and what an operator sees
of them (``gateway.observability``): one ``Metrics`` every component reports to, the
rpc interceptor, health per dependency, the ``/metrics`` + ``/healthz`` port.

Tests run the real thing on port 0 with a temporary database (``Gateway``);
production runs it through ``serve`` until SIGTERM: ``serve`` first checks the settings
(``gateway.preflight``), and its banner says whether real phones ring, from a probe of
the upstream rather than from how the process was started.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2

from . import preflight
from .config import SIMULATOR_KEY, Settings, StartupError
from .errors import NoCredentials
from .limits import Limits, LimitSettings, attach
from .observability import Metrics, configure_logging
from .observability._tracing import Tracing, tracing_from_env
from .observability.serving import DatabaseProbe, HealthMonitor, OpsServer, RpcObserver
from .rpc import CampaignServicer, RpcServer, api_key_from
from .service import Campaigns
from .store import Database
from .upstream import RevoxClient
from .watch import NotifyDoorbell, WatchHub

if TYPE_CHECKING:
    from grpc_health.v1._async import HealthServicer

    from .simulator import Simulator

__all__ = ["GC_THRESHOLDS", "Gateway", "serve", "settle_collector"]

SERVICE_NAME = campaign_service_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name


class Gateway:
    """A running gateway. ``port`` is known once entered (bind to port 0 in tests).
    ``tracing`` (None: off, nothing installed) traces its rpcs and upstream calls; it is
    closed (flushed) once everything else has stopped."""

    def __init__(
        self, settings: Settings, *, upstream_transport: httpx.AsyncBaseTransport | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()
        self._transport = upstream_transport
        self._stack = AsyncExitStack()
        self.port = 0
        self.upstream_url = settings.upstream_url
        self.default_api_key = settings.api_key
        self.simulator: Simulator | None = None
        self.db: Database | None = None
        self.watch: WatchHub | None = None
        self.rpc: RpcServer | None = None
        # Counts from the start; served on --metrics-listen (``ops``) when set.
        self.metrics = Metrics()
        self.ops: OpsServer | None = None
        self.health_monitor: HealthMonitor | None = None

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
        s, metrics, tracing = self.settings, self.metrics, self.tracing
        if tracing is not None:  # entered first, so closed last: every span has ended
            await self._stack.enter_async_context(tracing)
        if s.simulator:
            await self._start_simulator()
        self.db = db = await self._stack.enter_async_context(
            Database(s.database_url, tenant_secret=s.tenant_secret, migrate=not s.no_migrate,
                     # a --workers process: the others write the same cache, so no memo of it
                     campaign_memo_size=0 if s.reuse_port else None)
        )
        client = await self._stack.enter_async_context(
            RevoxClient(self.upstream_url, transport=self._transport,
                        default_timeout=s.upstream_timeout, page_base=s.upstream_page_base,
                        observer=metrics.upstream,
                        tracer=None if tracing is None else tracing.upstream(self.upstream_url))
        )
        campaigns = Campaigns(client, db, ttl=s.cache_ttl, creates=metrics.creates,
                              reconcile_grace=s.reconcile_grace)
        self._stack.push_async_callback(campaigns.drain)
        # A key derived from the tenant secret signs resume tokens, so a token
        # from another gateway database does not verify.
        token_key = bytes.fromhex(db.tenants.tenant_of("\x00watch-token-key"))
        # Replicas: the lease decides who polls a campaign; the others follow its log,
        # woken by NOTIFY on PostgreSQL (reading it every second anyway), or every 0.2 s.
        dsn = db.notify_dsn
        self.watch = await self._stack.enter_async_context(
            WatchHub(client=client, changelog=db.changelog, settings=s.watch, token_key=token_key,
                     observer=metrics.watch, follow_interval=0.2 if dsn is None else 1.0)
        )
        if dsn is not None:
            await self._stack.enter_async_context(
                NotifyDoorbell(dsn, ring=self.watch.ring, ring_all=self.watch.ring_all))
        metrics.watch.attach(self.watch)
        metrics.database.attach(db.errors)
        limits = Limits(LimitSettings(**{f.name: getattr(s, f.name) for f in fields(LimitSettings)}),
                        refused=metrics.limits.refused)
        attach(self.watch, limits)  # watch stream caps and admission sharing
        servicer = CampaignServicer(campaigns, default_api_key=self.default_api_key, watcher=self.watch,
                                    limits=limits)
        observer = RpcObserver(metrics, tenant_of=partial(_tenant_of, campaigns, self.default_api_key),
                               logged_services=(SERVICE_NAME,))
        # Tracing outermost: the rpc's span covers the observer's work and log line. Health
        # checks and reflection are not traced: a prober's every few seconds would drown them.
        self.interceptors = (observer,) if tracing is None else (
            tracing.interceptor(services=(SERVICE_NAME,)), observer)
        self.rpc = RpcServer(servicer, s.server, interceptors=self.interceptors)
        probe = DatabaseProbe(db.read_engine, write_engine=db.engine)
        metrics.add_refresh(partial(probe.refresh_gauges, metrics))
        self.health_monitor = HealthMonitor(database=probe, upstream=metrics.upstream,
                                            health=self.rpc.health, services=("", SERVICE_NAME))
        ops = s.observability
        if ops.metrics_listen is not None:  # before gRPC listens: a busy port stops the start
            self.ops = await self._stack.enter_async_context(OpsServer(
                ops.metrics_listen, metrics=metrics, health=self.health_monitor,
                fallback=ops.metrics_port_fallback))
        self.port = await self.rpc.start()
        await self._stack.enter_async_context(self.health_monitor)

    async def _start_simulator(self) -> None:
        from .simulator import Simulator, SimulatorConfig, StateFileError

        s = self.settings
        config = SimulatorConfig(seed=s.simulator_seed, clock="real", speedup=s.simulator_speedup,
                                 state_path=s.simulator_state)
        try:
            self.simulator = await self._stack.enter_async_context(Simulator(config))
        except StateFileError as exc:  # corrupt, not ours, or locked by another process
            raise StartupError(f"{exc}; choose another with --simulator-state PATH "
                               "(:memory: keeps none)") from None
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

    @property
    def metrics_address(self) -> str | None:
        """``HOST:PORT`` of ``/metrics`` and ``/healthz`` (None: ``--metrics-listen off``)."""
        return None if self.ops is None else self.ops.address

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, end watch streams with UNAVAILABLE, let unary calls finish
        within the grace period, then close the upstream client and database."""
        rpc, self.rpc = self.rpc, None
        try:
            if rpc is not None:
                await rpc.stop(grace, before_drain=self.watch.shutdown if self.watch else None)
        finally:
            await self._stack.aclose()


# Python's default (700, 10, 10) runs a young collection every 700 net new containers; a
# fan-out makes and frees a few per message per subscriber, so at 1,000 watch streams the
# collector took 0.4-0.6 s of CPU per 49,000 deliveries (one full collection among them,
# 0.2-0.3 s), a third of what the gateway spent beyond a bare grpc.aio server. Most of
# those objects die by reference count: what the collector is for (cycles) builds up
# slowly, so collecting young objects 30x less often holds at most a few MB more. The
# older generations keep Python's ratios (10, 10): cycles that live long (a cancelled
# stream's exception and frames) are not kept any longer than that. BENCHMARKS.md issue 15.
GC_THRESHOLDS = (20_000, 10, 10)


def settle_collector() -> None:
    """Once start-up is done: what it built lives as long as the process, so it goes out
    of the collector's sight (a full collection no longer walks it: 145-199 ms at 1,000
    watch streams, 67 ms frozen), and collections run at ``GC_THRESHOLDS``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(settings: Settings) -> None:
    """Check the settings, then run until SIGTERM or SIGINT and shut down gracefully.
    A configuration that cannot work raises ``StartupError`` before anything starts."""
    preflight.check(settings)
    try:
        tracing = tracing_from_env(os.environ)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings, tracing=tracing) as gateway:
        probe = await preflight.probe_upstream(gateway.upstream_url)
        settle_collector()
        print(banner(gateway, probe), flush=True)
        await stop.wait()
        if settings.observability.log_format == "json":  # stderr stays one JSON object a line
            logging.getLogger("gateway").info("shutting down")
        else:
            print("revox-gateway: shutting down", file=sys.stderr, flush=True)


def _tenant_of(campaigns: Campaigns, default_key: str | None,
               metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
    """The tenant id (an HMAC of the key, as the store keys it) an rpc's log line names."""
    try:
        key = api_key_from(metadata, default_key)
    except NoCredentials:
        return None
    return campaigns.caller(key).tenant


def _upstream_lines(gateway: Gateway, probe: preflight.UpstreamProbe) -> list[str]:
    url = gateway.upstream_url
    if gateway.simulator is not None:
        lines = [f"  upstream: the embedded Revox simulator at {url}"]
    elif probe.simulator:
        lines = [f"  upstream: a Revox simulator at {url} (it answers {preflight.SIMULATOR_HEADER})"]
    elif probe.reachable:
        return [f"  upstream: {url} (REAL calls are placed: real phones ring)"]
    else:
        return [f"  upstream: {url} did not answer ({probe.detail}); rpcs fail with UNAVAILABLE "
                "until it does (if it is the real API, REAL calls will be placed)"]
    lines.append("  simulator: no real calls are placed (every call is simulated)")
    if probe.clock is not None:
        pace = ("moves only on POST /_simulator/advance" if probe.clock.mode == "manual"
                else f"runs {probe.clock.speedup:g}x real time")
        lines += [f"  simulated clock: now {probe.clock.now}, {pace} "
                  f"(GET {url}/_simulator/state);",
                  "    campaign and call times follow it, watch heartbeats and logs show "
                  "wall-clock time"]
    state = gateway.settings.simulator_state if gateway.simulator is not None else None
    if state is not None:
        lines.append(f"  simulator state: {state} (campaigns survive a restart)")
    return lines


def banner(gateway: Gateway, probe: preflight.UpstreamProbe) -> str:
    lines = [f"revox-gateway: serving revox.campaigns.v1.CampaignService on {gateway.address}"]
    lines += _upstream_lines(gateway, probe)
    if gateway.ops is not None:
        url = f"http://{gateway.ops.address}"
        taken = (f" ({gateway.settings.metrics_listen} was in use)"
                 if gateway.ops.fell_back else "")
        lines.append(f"  metrics: {url}/metrics, health: {url}/healthz{taken}")
    if gateway.tracing is not None and gateway.tracing.destination is not None:
        lines.append(f"  traces: OTLP/HTTP to {gateway.tracing.destination}")
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
