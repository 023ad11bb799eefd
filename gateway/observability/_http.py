"""``OpsServer``: the operator's HTTP port (``--metrics-listen``): ``GET /metrics``
(Prometheus text, or OpenMetrics when the scraper asks for it) and ``GET /healthz``
(the per-dependency report as JSON; 200 while the database answers, else 503).

Separate from the gRPC port on purpose: scrapers and probes speak HTTP/1.1, and the
port can be bound to an address only the monitoring network reaches.

In a ``--workers`` process (``metrics.shared``) the supervisor serves the port for the
whole set (``_multiproc``): the worker binds nothing and publishes its scrape-time
gauges to its multiprocess files every ``PUBLISH_EVERY`` seconds instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from types import TracebackType

from aiohttp import web

from ..config import StartupError, split_host_port
from ._health import HealthMonitor
from ._metrics import Metrics
from ._multiproc import PUBLISH_EVERY

__all__ = ["OpsServer"]

_log = logging.getLogger("gateway.observability")


class OpsServer:
    """Serves ``/metrics`` and ``/healthz`` on ``listen`` (``HOST:PORT``; port 0 picks a
    free one). A port in use is a :class:`StartupError` naming ``--metrics-listen``,
    unless ``fallback``: then a free port is used instead (``fell_back``), as for the
    ``--simulator`` default, which nobody asked for explicitly."""

    def __init__(self, listen: str, *, metrics: Metrics, health: HealthMonitor,
                 fallback: bool = False) -> None:
        self._host, self._port = split_host_port(listen)
        self._metrics = metrics
        self._health = health
        self._fallback = fallback
        self._runner: web.AppRunner | None = None
        self._publishing: asyncio.Task[None] | None = None
        self.port = 0
        self.fell_back = False

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    async def __aenter__(self) -> OpsServer:
        if self._metrics.shared:  # a --workers process: the supervisor serves the port
            self.port = self._port
            await self._metrics.publish()  # the families exist before the first scrape
            self._publishing = asyncio.create_task(self._publish(), name="metrics-publish")
            return self
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            self.port = await self._bind(self._port)
        except OSError as exc:
            if not self._fallback:
                await self._runner.cleanup()
                raise StartupError(
                    f"cannot serve metrics on {self._host}:{self._port} ({exc.strerror or exc}); "
                    "choose another with --metrics-listen HOST:PORT, or --metrics-listen off"
                ) from None
            self.port = await self._bind(0)
            self.fell_back = True
            _log.warning("port %d is in use: metrics and health are served on port %d",
                         self._port, self.port)
        return self

    async def _bind(self, port: int) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self._host, port)
        try:
            await site.start()
        except OSError:
            await site.stop()  # registered with the runner before it failed to bind
            raise
        return int(self._runner.addresses[-1][1])  # the port picked, for port 0

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._publishing is not None:
            self._publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publishing
        if self._runner is not None:
            await self._runner.cleanup()

    async def _publish(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_EVERY)
            try:
                await self._metrics.publish()
            except Exception as exc:  # noqa: BLE001 - a gauge must not end the publishing
                _log.debug("metrics publish failed: %s", type(exc).__name__)

    async def _scrape(self, request: web.Request) -> web.Response:
        await self._metrics.refresh()
        body, content_type = self._metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await self._health.check()
        status = 200 if report["database"]["ok"] else 503
        return web.Response(status=status, text=json.dumps(report, indent=1) + "\n",
                            content_type="application/json")
