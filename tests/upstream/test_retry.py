"""Retry policy, Retry-After and deadline handling."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time

import httpx
import pytest
from aiohttp import web

from gateway.upstream import (
    RateLimited,
    RetryPolicy,
    RevoxClient,
    ServerError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
    parse_retry_after,
)

from ._fakes import API_KEY, FakeRevox, FakeTime, FixedRandom, drop_connection, fast_policy, reply

OK = {"campaign": {"id": "c"}}

# -- parse_retry_after / RetryPolicy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    naive = email.utils.formatdate(now + 30).replace("+0000", "-0000")
    assert parse_retry_after(naive, now=now) == pytest.approx(30.0)


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset (POSIX)")
def test_a_date_without_a_zone_is_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC 5322's "-0000" (no zone information) parses without a zone; read as local time
    it would be hours off on any machine not set to UTC."""
    now = 1_700_000_000.0
    naive = email.utils.formatdate(now + 30).replace("+0000", "-0000")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_retry_after(naive, now=now) == pytest.approx(30.0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    top = RetryPolicy(base_delay=0.05, max_delay=2.0, rng=FixedRandom(0.999999))
    ceilings = [top.backoff(n) for n in range(1, 9)]
    assert ceilings == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0], rel=1e-5)
    assert top.backoff(10_000) == pytest.approx(2.0, rel=1e-5)
    assert RetryPolicy(rng=FixedRandom(0.0)).backoff(3) == 0.0
    seeded = [RetryPolicy(rng=random.Random(1)).backoff(4) for _ in range(2)]
    assert seeded[0] == seeded[1] and 0 <= seeded[0] <= 0.4


def test_policy_defaults_and_validation() -> None:
    p = RetryPolicy()
    assert (p.max_attempts, p.base_delay, p.max_delay) == (4, 0.05, 2.0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)


# -- retry behaviour over real HTTP -------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_get_retries_transient_statuses(
    client: RevoxClient, fake_revox: FakeRevox, status: int
) -> None:
    fake_revox.script(reply(status), reply(status), reply(200, OK))
    assert await client.get_campaign(API_KEY, "c") == OK
    assert len(fake_revox.requests) == 3


async def test_get_gives_up_after_max_attempts(client: RevoxClient, fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(503, {"error": {"message": "down"}}))
    with pytest.raises(ServerError) as info:
        await client.list_campaigns(API_KEY)
    assert info.value.message == "down"
    assert len(fake_revox.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 404, 409, 501])
async def test_get_does_not_retry_permanent_errors(
    client: RevoxClient, fake_revox: FakeRevox, status: int
) -> None:
    fake_revox.script(reply(status))
    with pytest.raises(UpstreamStatusError):
        await client.get_campaign(API_KEY, "c")
    assert len(fake_revox.requests) == 1


async def test_delete_and_cancel_retry_dropped_connections(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    fake_revox.script(drop_connection, reply(200, {"success": True}))
    assert await client.delete_campaign(API_KEY, "c") == {"success": True}
    fake_revox.script(reply(502), drop_connection, reply(200, {"success": True}))
    assert await client.cancel_campaign(API_KEY, "c") == {"success": True}
    assert [r.method for r in fake_revox.requests] == ["DELETE", "DELETE", "POST", "POST", "POST"]


@pytest.mark.parametrize("step", [reply(503), reply(500), reply(429), drop_connection])
async def test_create_is_never_retried_once_sent(
    client: RevoxClient, fake_revox: FakeRevox, step: object
) -> None:
    fake_revox.script(step, reply(200, OK))  # type: ignore[arg-type]
    with pytest.raises((ServerError, RateLimited, UpstreamUnavailable)):
        await client.create_campaign(API_KEY, {"name": "x"})
    assert len(fake_revox.requests) == 1


async def test_create_retries_connect_errors_only() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=OK)

    transport = httpx.MockTransport(handler)
    async with RevoxClient("http://revox.test/api", transport=transport, retry=fast_policy()) as c:
        assert await c.create_campaign(API_KEY, {"name": "x"}) == OK
        assert len(calls) == 3
        calls.clear()

        def read_error(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            raise httpx.ReadError("reset", request=request)

        transport.handler = read_error  # type: ignore[attr-defined]
        with pytest.raises(UpstreamUnavailable):
            await c.create_campaign(API_KEY, {"name": "x"})
        assert len(calls) == 1


async def test_retry_after_is_honoured(fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(429, Retry_After="0.15"), reply(200, OK))
    policy = RetryPolicy(rng=FixedRandom(0.0))  # backoff 0: any wait comes from Retry-After
    t = FakeTime()
    async with RevoxClient(fake_revox.base_url, retry=policy, clock=t.clock, sleep=t.sleep) as c:
        assert await c.get_campaign(API_KEY, "c", timeout=2.0) == OK
    assert t.slept == [0.15]
    assert len(fake_revox.requests) == 2


async def test_retry_after_beyond_deadline_raises_rate_limited_now(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    fake_revox.script(reply(429, {"error": {"message": "slow down"}}, Retry_After="5"))
    t = FakeTime()
    async with RevoxClient(fake_revox.base_url, retry=fast_policy(), clock=t.clock, sleep=t.sleep) as c:
        with pytest.raises(RateLimited) as info:
            await c.list_campaigns(API_KEY, timeout=1.0)
    assert t.slept == []  # no wait started that would end past the deadline
    assert info.value.retry_after == 5.0
    assert len(fake_revox.requests) == 1


async def test_retry_after_beyond_policy_cap_without_deadline(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    date = email.utils.formatdate(time.time() + 3600, usegmt=True)
    fake_revox.script(reply(503, Retry_After=date))
    with pytest.raises(ServerError) as info:
        await client.export_rows(API_KEY, "c")
    assert info.value.retry_after == pytest.approx(3600, abs=5)
    assert len(fake_revox.requests) == 1


async def test_deadline_bounds_backoff(fake_revox: FakeRevox) -> None:
    # Backoff ceilings 0.1, 0.2, 0.4 s: after the 2nd failure (~0.1 s) a 0.2 s wait would end
    # past the 0.25 s deadline, so the client stops with the real error instead.
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=2.0, rng=FixedRandom(1.0))
    fake_revox.script(reply(503))
    t = FakeTime()
    async with RevoxClient(fake_revox.base_url, retry=policy, clock=t.clock, sleep=t.sleep) as c:
        with pytest.raises(ServerError):
            await c.get_campaign(API_KEY, "c", timeout=0.25)
    assert t.slept == [0.1]
    assert len(fake_revox.requests) == 2


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(5)
    return web.json_response(OK)


async def trickle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"campaign": {"id": "c", "pad": "')
    for _ in range(100):
        await asyncio.sleep(0.02)
        await response.write(b"x")
    await response.write(b'"}}')
    return response


@pytest.mark.parametrize("handler", [slow, trickle])
async def test_deadline_bounds_slow_answers(
    client: RevoxClient, fake_revox: FakeRevox, handler: object
) -> None:
    fake_revox.script(handler)  # type: ignore[arg-type]
    # The client's own deadline ends it: well before the handler (5 s, 2 s trickle)
    # or the client's default timeout (2 s) would, which this outer bound would catch.
    with pytest.raises(UpstreamTimeout) as info:
        async with asyncio.timeout(1.5):
            await client.get_campaign(API_KEY, "c", timeout=0.3)
    assert info.value.__cause__ is not None
    assert len(fake_revox.requests) == 1  # timeouts are not retried
    # The abandoned connection must not poison the pool.
    fake_revox.script(reply(200, OK))
    assert await client.get_campaign(API_KEY, "c", timeout=1.0) == OK


async def test_default_timeout_applies_without_deadline(fake_revox: FakeRevox) -> None:
    fake_revox.script(slow)
    async with RevoxClient(fake_revox.base_url, default_timeout=0.2, retry=fast_policy()) as c:
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(3):  # the handler sleeps 5 s: only 0.2 s may end it
                await c.get_campaign(API_KEY, "c")


@pytest.mark.parametrize("timeout", [0.0, -1.0])
async def test_expired_deadline_sends_nothing(
    client: RevoxClient, fake_revox: FakeRevox, timeout: float
) -> None:
    with pytest.raises(UpstreamTimeout):
        await client.get_campaign(API_KEY, "c", timeout=timeout)
    assert fake_revox.requests == []


async def test_one_debug_line_per_attempt(
    client: RevoxClient, fake_revox: FakeRevox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.upstream")
    fake_revox.script(reply(503), drop_connection, reply(200, OK))
    await client.get_campaign(API_KEY, "c")
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.upstream"]
    assert len(lines) == 3
    assert lines[0].startswith("upstream GET /campaigns/c -> 503 in ")
    assert lines[0].endswith("(attempt 1)")
    assert "RemoteProtocolError" in lines[1] and lines[1].endswith("(attempt 2)")
    assert "-> 200" in lines[2] and lines[2].endswith("(attempt 3)")


def test_a_policy_refuses_what_cannot_work_and_takes_its_edges() -> None:
    """One attempt (no retry) and zero delays are valid policies; fewer attempts or a
    negative delay are refused with their reason."""
    RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)
    with pytest.raises(ValueError, match="^max_attempts must be >= 1$"):
        RetryPolicy(max_attempts=0)
    for bad in ({"base_delay": -0.1}, {"max_delay": -1.0}, {"max_retry_after": -1.0}):
        with pytest.raises(ValueError, match="^delays must be >= 0$"):
            RetryPolicy(**bad)  # type: ignore[arg-type]
