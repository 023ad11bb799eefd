"""The call-completed webhook triggers an immediate poll."""

from __future__ import annotations

import aiohttp

from gateway.watch._webhook import campaign_of

from .conftest import Env, Sub, kind, request


def test_campaign_of_shapes() -> None:
    assert campaign_of({"campaign_id": "cmp_1"}) == "cmp_1"
    assert campaign_of({"call": {"campaign": {"id": "cmp_2"}}}) == "cmp_2"
    assert campaign_of({"call": {}}) is None and campaign_of([1]) is None


async def test_webhook_pokes_the_poller(env: Env) -> None:
    await env.stop()
    await env.start(webhook_listen="127.0.0.1:0", poll_interval=30.0, max_poll_interval=30.0)
    assert env.hub
    port = env.hub.webhook_port
    cid = await env.campaign(2)
    s = Sub(env.hub, request(cid, hb=60))
    await s.until(lambda m: kind(m) == "snapshot_complete")
    await env.sim.advance(60)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{port}/webhooks/revox", json={"campaign_id": cid}) as r:
            assert r.status == 202
        async with http.post(f"http://127.0.0.1:{port}/webhooks/revox", data=b"nope") as r:
            assert r.status == 400
    m = await s.until(lambda m: kind(m) == "row_change", timeout=5)  # long before the 30 s poll
    assert not m.row_change.in_snapshot
    await s.cancel()
