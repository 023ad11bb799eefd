"""Each endpoint sends exactly the request the Revox API reference describes."""

from __future__ import annotations

import json

import pytest

from gateway.upstream import BadRequest, RevoxClient

from ._fakes import API_KEY, FakeRevox, reply

CAMPAIGN = {"id": "cmp_1", "name": "x", "status": "running"}


async def test_create_campaign_posts_json_body(client: RevoxClient, fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(200, {"campaign": CAMPAIGN}))
    body = {
        "assistant_id": "asst_1",
        "name": "Relance été",
        "contacts": [{"to_phone_number": "+33612345678", "prompt_variables": {"a": "b"}}],
        "max_concurrent_calls": 3,
    }
    result = await client.create_campaign(API_KEY, body)
    assert result == {"campaign": CAMPAIGN}
    (req,) = fake_revox.requests
    assert (req.method, req.raw_path) == ("POST", "/api/campaigns")
    assert json.loads(req.body) == body
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert req.headers["User-Agent"] == "revox-grpc-gateway/0.1"
    assert req.headers["Accept"] == "application/json"


async def test_create_campaign_rejects_unserialisable_body_before_io(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    with pytest.raises(ValueError):
        await client.create_campaign(API_KEY, {"max_concurrent_calls": float("nan")})
    assert fake_revox.requests == []


@pytest.mark.parametrize(
    ("call", "method", "raw_path", "answer"),
    [
        ("list_campaigns", "GET", "/api/campaigns", {"campaigns": [CAMPAIGN]}),
        ("get_campaign", "GET", "/api/campaigns/cmp_1", {"campaign": CAMPAIGN}),
        ("delete_campaign", "DELETE", "/api/campaigns/cmp_1", {"success": True}),
        ("cancel_campaign", "POST", "/api/campaigns/cmp_1/cancel", {"success": True}),
        (
            "export_rows",
            "GET",
            "/api/campaigns/cmp_1/export",
            {"csv": "a,b\n", "filename": "x.csv"},
        ),
    ],
)
async def test_simple_endpoints(
    client: RevoxClient,
    fake_revox: FakeRevox,
    call: str,
    method: str,
    raw_path: str,
    answer: dict[str, object],
) -> None:
    fake_revox.script(reply(200, answer))
    args = (API_KEY,) if call == "list_campaigns" else (API_KEY, "cmp_1")
    assert await getattr(client, call)(*args) == answer
    (req,) = fake_revox.requests
    assert (req.method, req.raw_path) == (method, raw_path)
    assert req.body == b""
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Content-Type" not in req.headers


async def test_get_rows_sends_all_params(fake_revox: FakeRevox) -> None:
    answer = {"page": 2, "page_size": 50, "rows": [], "total": 0}
    fake_revox.script(reply(200, answer))
    async with RevoxClient(fake_revox.base_url, page_base=0) as client:
        result = await client.get_rows(
            API_KEY,
            "cmp_1",
            page=2,
            page_size=50,
            query="jean dupont",
            result="voicemail",
            statuses=["calling", "completed"],
        )
    assert result == answer
    (req,) = fake_revox.requests
    assert req.method == "GET"
    assert req.path == "/api/campaigns/cmp_1/rows"
    assert req.query == {
        "page": "2",
        "page_size": "50",
        "query": "jean dupont",
        "result": "voicemail",
        "statuses": "calling,completed",
    }


async def test_get_rows_omits_unset_params(fake_revox: FakeRevox) -> None:
    # page=None is the first page, which is always named: the upstream's default is unknown.
    async with RevoxClient(fake_revox.base_url, page_base=1) as client:
        await client.get_rows(API_KEY, "cmp_1", page=None, page_size=None, query="", statuses=())
    (req,) = fake_revox.requests
    assert req.path == "/api/campaigns/cmp_1/rows"
    assert req.query == {"page": "1"}


async def test_get_rows_numbers_are_ints(fake_revox: FakeRevox) -> None:
    async with RevoxClient(fake_revox.base_url, page_base=0) as client:
        await client.get_rows(API_KEY, "c", page=1.0, page_size=20)  # type: ignore[arg-type]
    assert fake_revox.requests[0].query == {"page": "1", "page_size": "20"}
    with pytest.raises(TypeError):
        await client.get_rows(API_KEY, "c", page=True, page_size=20)
    with pytest.raises(TypeError):
        await client.get_rows(API_KEY, "c", page=1.5, page_size=20)  # type: ignore[arg-type]


async def test_get_rows_statuses_as_single_string(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    await client.get_rows(API_KEY, "c", page=1, page_size=10, statuses="calling")
    assert fake_revox.requests[0].query["statuses"] == "calling"


@pytest.mark.parametrize(
    ("campaign_id", "segment"),
    [
        ("a/b", "a%2Fb"),
        ("../x", "..%2Fx"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b?c#d", "a%20b%3Fc%23d"),
        ("%2F", "%252F"),
        ("été", "%C3%A9t%C3%A9"),
    ],
)
async def test_campaign_id_is_one_escaped_segment(
    client: RevoxClient, fake_revox: FakeRevox, campaign_id: str, segment: str
) -> None:
    await client.get_campaign(API_KEY, campaign_id)
    await client.get_rows(API_KEY, campaign_id, page=1, page_size=1)
    await client.cancel_campaign(API_KEY, campaign_id)
    paths = [r.path for r in fake_revox.requests]
    assert paths == [
        f"/api/campaigns/{segment}",
        f"/api/campaigns/{segment}/rows",
        f"/api/campaigns/{segment}/cancel",
    ]


async def test_empty_campaign_id_is_rejected_locally(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    with pytest.raises(BadRequest) as info:
        await client.delete_campaign(API_KEY, "")
    assert info.value.field == "id"
    assert info.value.status is None
    assert fake_revox.requests == []


async def test_base_url_trailing_slash_and_keepalive(fake_revox: FakeRevox) -> None:
    async with RevoxClient(fake_revox.base_url + "/") as c:
        for _ in range(5):
            await c.list_campaigns(API_KEY)
    assert {r.path for r in fake_revox.requests} == {"/api/campaigns"}
    # One pooled connection serves sequential calls: every request came from the same socket.
    assert len({r.peer for r in fake_revox.requests}) == 1


async def test_204_without_body_is_empty_object(client: RevoxClient, fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(204, b""))
    assert await client.delete_campaign(API_KEY, "c") == {}


async def test_client_validates_config() -> None:
    with pytest.raises(ValueError):
        RevoxClient("ftp://example.com")
    with pytest.raises(ValueError):
        RevoxClient("http://example.com", default_timeout=0)
    c = RevoxClient("http://example.com/api/")
    assert c.base_url == "http://example.com/api"
    assert repr(c) == "RevoxClient(base_url='http://example.com/api')"
    await c.aclose()
