"""Push: POST /webhooks/revox (the assistant's call-completed webhook) polls at once.

Why: without it, delivery latency is bounded by the poll interval. The body
is never trusted as data - it only names a campaign to poll; the poller then
reads the truth from the API with an admitted key. Unknown campaigns are
ignored (202 either way, so the endpoint reveals nothing).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ._hub import WatchHub

__all__ = ["WebhookServer", "campaign_of"]

_MAX_BODY = 1 << 20


def campaign_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    cid = body.get("campaign_id")
    if isinstance(cid, str) and cid:
        return cid
    call = body.get("call")
    camp = call.get("campaign") if isinstance(call, dict) else None
    cid = camp.get("id") if isinstance(camp, dict) else None
    if isinstance(cid, str) and cid:
        return cid
    cid = call.get("campaign_id") if isinstance(call, dict) else None
    return cid if isinstance(cid, str) and cid else None


class WebhookServer:
    def __init__(self, hub: WatchHub, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self._hub = hub
        self._host = host.strip("[]") or "0.0.0.0"
        self._port = int(port)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.content.read(_MAX_BODY + 1)
        if len(raw) > _MAX_BODY:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        cid = campaign_of(body)
        if cid is None:
            return web.json_response({"error": "no campaign id"}, status=400)
        self._hub.poke(cid)
        return web.json_response({"accepted": True}, status=202)

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post("/webhooks/revox", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
