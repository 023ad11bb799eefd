"""Optional call.completed webhook (off unless SimulatorConfig.webhook_url is set)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from aiohttp import web

from gateway.simulator import Simulator, SimulatorConfig

from ..support import contacts


async def test_webhook_posts_call_completed() -> None:
    received: list[dict[str, Any]] = []
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        got.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = SimulatorConfig(seed=2, clock="manual", webhook_url=f"http://127.0.0.1:{port}/hook",
                             outcome_weights={"human": 1})
    try:
        async with Simulator(config) as sim, httpx.AsyncClient(
                base_url=sim.base_url, headers={"Authorization": "Bearer sk_test_w"}) as c:
            created = (await c.post("/campaigns", json={
                "assistant_id": "asst_w", "name": "w", "contacts": contacts(1)})).json()
            assert created["campaign"]["assistant"]["webhook_url"] == config.webhook_url
            await sim.advance(600)
            await asyncio.wait_for(got.wait(), timeout=5)
            event = received[0]
            assert event["event"] == "call.completed"
            assert event["campaign_id"] == created["campaign"]["id"]
            assert event["call"]["status"] == "completed"
            assert event["call"]["last_call_attempt"]["result"] == "human"
            assert event["row_id"].startswith("row_")
    finally:
        await runner.cleanup()
