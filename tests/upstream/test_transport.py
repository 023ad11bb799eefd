"""The aiohttp-backed transport keeps httpx's contract: same request on the wire, bodies
decoded per Content-Encoding, one keep-alive connection, creates on httpx's own transport,
and a proxy from the environment still honoured by httpx."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from gateway.upstream import RevoxClient
from gateway.upstream._transport import AiohttpTransport, proxied

from ._fakes import FakeRevox, fast_policy, reply

API_KEY = "sk_test_transport"


async def test_bodyless_calls_send_httpx_headers_and_reuse_one_connection(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    fake_revox.script(reply(200, {"campaign": {"id": "c"}}))
    for _ in range(3):
        await client.get_campaign(API_KEY, "c")
    await client.get_rows(API_KEY, "c", page=0, page_size=5, statuses=("calling", "scheduled"))
    sent = fake_revox.requests
    assert {r.peer for r in sent} == {sent[0].peer}  # keep-alive: one connection
    first = sent[0].headers
    assert first["Authorization"] == f"Bearer {API_KEY}"
    assert first["Accept"] == "application/json"
    assert first["User-Agent"].startswith("revox-grpc-gateway/")
    assert "Content-Type" not in first
    assert sent[-1].raw_path == "/api/campaigns/c/rows?page=0&page_size=5&statuses=calling%2Cscheduled"


async def test_gzip_answers_are_decoded_by_httpx(client: RevoxClient, fake_revox: FakeRevox) -> None:
    body = gzip.compress(json.dumps({"campaign": {"id": "c", "name": "zipped"}}).encode())
    fake_revox.script(
        reply(200, body, Content_Type="application/json", Content_Encoding="gzip")
    )
    got = await client.get_campaign(API_KEY, "c")
    assert got["campaign"]["name"] == "zipped"


async def test_a_create_with_a_body_goes_through_httpx_own_transport(fake_revox: FakeRevox) -> None:
    fallback: list[str] = []

    class Spy(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            fallback.append(f"{request.method} {request.url.path}")
            return await super().handle_async_request(request)

    limits = httpx.Limits(max_connections=4)
    transport = AiohttpTransport(limits=limits, fallback=Spy(limits=limits))
    fake_revox.script(reply(200, {"campaign": {"id": "new"}}))
    async with RevoxClient(fake_revox.base_url, transport=transport, retry=fast_policy()) as c:
        await c.create_campaign(API_KEY, {"name": "x", "contacts": []})
        await c.cancel_campaign(API_KEY, "new")
        await c.get_campaign(API_KEY, "new")
    assert fallback == ["POST /api/campaigns"]  # cancel and get rode aiohttp
    create, cancel, get = fake_revox.requests
    assert json.loads(create.body) == {"name": "x", "contacts": []}
    assert cancel.body == b"" and "Content-Type" not in cancel.headers
    assert not transport.is_open  # closed with the client


def test_a_proxy_in_the_environment_keeps_httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert proxied("https://www.getrevox.com/api")
    assert not proxied("http://127.0.0.1:9/api")
    client = RevoxClient("https://www.getrevox.com/api")
    assert not isinstance(client._client._transport, AiohttpTransport)
