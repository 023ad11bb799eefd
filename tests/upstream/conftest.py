"""Fixtures: a scriptable aiohttp server on 127.0.0.1 standing in for the Revox API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.upstream import RevoxClient

from ._fakes import FakeRevox, fast_policy, serving


@pytest.fixture
async def fake_revox() -> AsyncIterator[FakeRevox]:
    async with serving("/api") as fake:
        yield fake


@pytest.fixture
async def client(fake_revox: FakeRevox) -> AsyncIterator[RevoxClient]:
    async with RevoxClient(fake_revox.base_url, retry=fast_policy(), default_timeout=2.0) as c:
        yield c
