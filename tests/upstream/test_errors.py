"""Non-2xx statuses, bad bodies and broken connections map onto the UpstreamError tree."""

from __future__ import annotations

import logging
import pickle
import socket

import pytest

from gateway.upstream import (
    BadRequest,
    Conflict,
    MalformedResponse,
    NotFound,
    OtherStatus,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    RetryPolicy,
    RevoxClient,
    ServerError,
    Unauthenticated,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

from ._fakes import API_KEY, FakeRevox, drop_connection, reply


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (422, BadRequest),
        (401, Unauthenticated),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (412, PreconditionFailed),
        (429, RateLimited),
        (500, ServerError),
        (501, ServerError),
        (503, ServerError),
        (302, OtherStatus),
        (405, OtherStatus),
        (418, OtherStatus),
    ],
)
async def test_status_maps_to_class(
    client: RevoxClient, fake_revox: FakeRevox, status: int, cls: type[UpstreamStatusError]
) -> None:
    fake_revox.script(reply(status, {"error": {"message": "nope", "code": "E_X"}}, Location="/x"))
    with pytest.raises(cls) as info:
        await client.create_campaign(API_KEY, {"name": "x"})
    err = info.value
    assert type(err) is cls
    assert isinstance(err, UpstreamStatusError)
    assert (err.status, err.message, err.code) == (status, "nope", "E_X")
    assert (err.method, err.path) == ("POST", "/campaigns")
    assert err.body == {"error": {"message": "nope", "code": "E_X"}}
    assert str(err) == f"POST /campaigns -> {status}: nope"
    assert len(fake_revox.requests) == 1  # create is never retried


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"error": {"message": "bad phone", "field": "contacts[0].to_phone_number"}},
         "bad phone", "contacts[0].to_phone_number"),
        ({"message": "name required", "field": "name"}, "name required", "name"),
        ({"error": "assistant not found"}, "assistant not found", None),
        ({"detail": "Invalid page"}, "Invalid page", None),
        ({"detail": [{"loc": ["body", "contacts", 0], "msg": "field required"}]},
         "field required", "contacts.0"),
        ({"unexpected": True}, "upstream returned HTTP 400", None),
        ([1, 2], "upstream returned HTTP 400", None),
    ],
)  # fmt: skip
async def test_bad_request_message_and_field(
    client: RevoxClient, fake_revox: FakeRevox, body: object, message: str, field: str | None
) -> None:
    fake_revox.script(reply(400, body))
    with pytest.raises(BadRequest) as info:
        await client.get_campaign(API_KEY, "c")
    assert (info.value.message, info.value.field) == (message, field)
    assert info.value.body == body


async def test_text_and_html_error_bodies(client: RevoxClient, fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(404, "no such campaign"))
    with pytest.raises(NotFound) as info:
        await client.get_campaign(API_KEY, "c")
    assert info.value.message == "no such campaign"
    assert info.value.body == "no such campaign"

    html = "<html>" + "x" * 5000 + "</html>"
    fake_revox.script(reply(403, html.encode(), Content_Type="text/html"))
    with pytest.raises(PermissionDenied) as info2:
        await client.get_campaign(API_KEY, "c")
    assert info2.value.message == "upstream returned HTTP 403"
    assert isinstance(info2.value.body, str) and len(info2.value.body) <= 1024


@pytest.mark.parametrize(
    "body", [b"not json", b"", b"[1, 2]", b'"campaign"', b"\xff\xfe{", b"[" * 100_000]
)
async def test_malformed_success_bodies(
    client: RevoxClient, fake_revox: FakeRevox, body: bytes
) -> None:
    fake_revox.script(reply(200, body))
    with pytest.raises(MalformedResponse) as info:
        await client.list_campaigns(API_KEY)
    assert info.value.status == 200
    assert len(fake_revox.requests) == 1  # a bad body is not retried
    if not body.startswith(b"["):
        assert isinstance(info.value.body, str) and len(info.value.body) <= 1024


async def test_dropped_connection_is_unavailable(
    client: RevoxClient, fake_revox: FakeRevox
) -> None:
    fake_revox.script(drop_connection)
    with pytest.raises(UpstreamUnavailable) as info:
        await client.create_campaign(API_KEY, {"name": "x"})
    assert info.value.status is None
    assert info.value.__cause__ is not None  # the httpx error is chained
    assert len(fake_revox.requests) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_is_unavailable_after_retries() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001)
    async with RevoxClient(f"http://127.0.0.1:{_closed_port()}/api", retry=policy) as c:
        with pytest.raises(UpstreamUnavailable) as info:
            await c.list_campaigns(API_KEY, timeout=1.0)
    assert "ConnectError" in info.value.message


async def test_api_key_never_leaks(
    client: RevoxClient, fake_revox: FakeRevox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"invalid key {API_KEY}", "field": API_KEY}}
    fake_revox.script(reply(401, echo), reply(400, f"bad key {API_KEY}"), drop_connection)
    errors: list[UpstreamError] = []
    for _ in range(3):
        with pytest.raises(UpstreamError) as info:
            await client.get_campaign(API_KEY, "c")
        errors.append(info.value)
    assert [type(e) for e in errors] == [Unauthenticated, BadRequest, UpstreamUnavailable]
    assert errors[0].message == "invalid key [REDACTED]"
    for err in errors:
        for text in (str(err), repr(err), repr(err.body), repr(err.__dict__)):
            assert API_KEY not in text
    assert caplog.records, "expected per-attempt debug logs"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)


@pytest.mark.parametrize("bad_key", ["sk\nX-Evil: 1", "sk-é", "sk key", "sk\x00"])
async def test_unsendable_api_key_is_rejected_without_echo(
    client: RevoxClient, fake_revox: FakeRevox, bad_key: str
) -> None:
    with pytest.raises(Unauthenticated) as info:
        await client.list_campaigns(bad_key)
    assert bad_key not in str(info.value) and bad_key not in repr(info.value)
    assert info.value.status is None
    assert fake_revox.requests == []


def test_errors_pickle_and_repr() -> None:
    err = RateLimited(
        "slow down", status=429, body={"a": 1}, method="GET", path="/campaigns", retry_after=2.0
    )
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is RateLimited
    assert (clone.retry_after, clone.body, clone.path) == (2.0, {"a": 1}, "/campaigns")
    assert repr(err) == (
        "RateLimited(status=429, method='GET', path='/campaigns', message='slow down', "
        "code=None, retry_after=2.0)"
    )
    bad = pickle.loads(pickle.dumps(BadRequest("x", field="name", status=400)))
    assert bad.field == "name"
    assert str(UpstreamTimeout("late")) == "late"
    assert issubclass(MalformedResponse, UpstreamError)
    assert not issubclass(UpstreamTimeout, UpstreamStatusError)


def test_errors_keep_their_words_and_fields_through_pickling() -> None:
    dropped = pickle.loads(pickle.dumps(UpstreamUnavailable(
        "connection reset", retry_safe=True, method="POST", path="/campaigns", maybe_sent=True)))
    assert type(dropped) is UpstreamUnavailable
    assert (dropped.message, dropped.retry_safe, dropped.maybe_sent) == (
        "connection reset", True, True)
    assert str(dropped) == "POST /campaigns: connection reset"
    limited = pickle.loads(pickle.dumps(RateLimited("slow down", status=429)))
    assert limited.message == "slow down"


def test_an_errors_text_names_what_it_knows_of_the_request() -> None:
    assert str(UpstreamError("m", status=503)) == " -> 503: m"
    assert str(UpstreamError("m", method="GET", path="/campaigns")) == "GET /campaigns: m"
    assert str(UpstreamError("m", method="GET", path="/x", status=404)) == "GET /x -> 404: m"
    assert str(UpstreamError("m")) == "m"


def test_an_error_may_have_been_sent_unless_it_says_otherwise() -> None:
    """What a caller may retry rests on these defaults: an error says "maybe sent" (so a
    create is never assumed unsent) and a dropped connection is not retry-safe unless the
    transport said so."""
    assert UpstreamError("m").maybe_sent is True
    assert UpstreamError("m").args == ("m",)
    assert UpstreamUnavailable("m").retry_safe is False
