"""Fixtures: a scriptable aiohttp server on 127.0.0.1 standing in for the Revox API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.upstream import RevoxClient

from ._fakes import FakeRevox, fast_policy


@pytest.fixture
async def fake_revox() -> AsyncIterator[FakeRevox]:
    fake = FakeRevox()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    # handler_cancellation: a client that timed out hangs up, and the slow handler must stop
    # with it so teardown doesn't wait for it.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}/api"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(fake_revox: FakeRevox) -> AsyncIterator[RevoxClient]:
    async with RevoxClient(fake_revox.base_url, retry=fast_policy(), default_timeout=2.0) as c:
        yield c
