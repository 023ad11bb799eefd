"""Test doubles for the upstream client tests: a scripted fake Revox API and fixed RNGs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.upstream import RetryPolicy

__all__ = [
    "API_KEY",
    "serving",
    "FakeRevox",
    "FixedRandom",
    "Recorded",
    "Reply",
    "drop_connection",
    "fast_policy",
    "reply",
]

API_KEY = "sk-test-SECRET-0123456789"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Recorded:
    method: str
    raw_path: str  # path + query exactly as sent, still percent-encoded
    path: str  # raw path without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict/list -> JSON, bytes/str -> raw
    headers: dict[str, str] = field(default_factory=dict)

    def to_response(self) -> web.Response:
        if isinstance(self.body, bytes):
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=self.headers)
        return web.Response(
            status=self.status,
            body=json.dumps(self.body).encode(),
            headers={"Content-Type": "application/json", **self.headers},
        )


def reply(status: int = 200, body: Any = None, **headers: str) -> Reply:
    return Reply(
        status, {} if body is None else body, {k.replace("_", "-"): v for k, v in headers.items()}
    )


class FakeRevox:
    """Answers each request with the next scripted step; the last step repeats forever."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: list[Reply | Handler] = []
        self.base_url = ""

    def script(self, *steps: Reply | Handler) -> None:
        self._script = list(steps)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw = request.raw_path
        self.requests.append(
            Recorded(
                method=request.method,
                raw_path=raw,
                path=raw.split("?", 1)[0],
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
                peer=request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        if not self._script:
            return reply().to_response()
        step = self._script.pop(0) if len(self._script) > 1 else self._script[0]
        if isinstance(step, Reply):
            return step.to_response()
        return await step(request)


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Hang up without answering, like a crashed upstream or a reset load balancer."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


class FixedRandom:
    """Deterministic jitter: ``random()`` always returns ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def fast_policy(**overrides: Any) -> RetryPolicy:
    kwargs: dict[str, Any] = {"base_delay": 0.001, "max_delay": 0.004, "rng": random.Random(7)}
    kwargs.update(overrides)
    return RetryPolicy(**kwargs)


class FakeTime:
    """A clock and a sleep for RevoxClient: sleeping records the delay and moves the
    clock on at once, so retry and deadline tests assert the waits the client chose
    instead of reading the wall clock (the exchanges themselves still take real time)."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self._offset = 0.0

    def clock(self) -> float:
        return asyncio.get_running_loop().time() + self._offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._offset += seconds
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def serving(root: str = "") -> AsyncIterator[FakeRevox]:
    """A FakeRevox on a real port of 127.0.0.1; ``base_url`` ends with ``root``."""
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
    fake.base_url = f"http://{host}:{port}{root}"
    try:
        yield fake
    finally:
        await runner.cleanup()
