"""extra_fields never stand in for a typed field: not at any depth, not in either spelling,
and, should validation ever let one through, not in the body sent upstream either."""

from __future__ import annotations

import copy
from typing import Any

import grpc
import pytest

from gateway.rpc import _validation
from gateway.simulator import Simulator
from gateway.upstream import RevoxClient
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, violated_fields

WINDOW = "call_retry_config.calling_windows[0]"
COLLISIONS = [
    ("", "assistantId", "asst_other"),
    ("", "maxConcurrentCalls", 99999),
    ("", "max_concurrent_calls", 99999),
    ("", "request_id", "r-1"),
    ("", "allowDuplicateContacts", True),
    ("call_retry_config", "max_retry_attempts", 50),
    ("call_retry_config", "maxRetryAttempts", 50),
    ("call_retry_config", "callingWindows", []),
    (WINDOW, "retry_delay_seconds", 999999999),
    (WINDOW, "retryDelaySeconds", -5),
    (WINDOW, "calling_window_start_time", "99:99"),
    (WINDOW, "callingWindowEndTime", "99:99"),
]


def _owner(request: pb.CreateCampaignRequest, where: str) -> Any:
    if where == "":
        return request
    if where == "call_retry_config":
        return request.call_retry_config
    return request.call_retry_config.calling_windows[0]


@pytest.mark.parametrize(("where", "key", "value"), COLLISIONS, ids=[f"{w or 'top'}-{k}" for w, k, _ in COLLISIONS])
async def test_a_typed_field_in_extra_fields_is_refused_with_its_path(
    stub, upstream: Simulator, where: str, key: str, value: object
) -> None:
    request = create_request(2)
    _owner(request, where).extra_fields.update({key: value})
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    path = f"{where}.extra_fields.{key}" if where else f"extra_fields.{key}"
    assert violated_fields(info.value) == [path]
    assert upstream.request_count == before


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The bodies of POST /campaigns as the gateway hands them to the HTTP client."""
    bodies: list[dict[str, Any]] = []
    create = RevoxClient.create_campaign

    async def spy(self: RevoxClient, api_key: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        bodies.append(copy.deepcopy(body))
        return await create(self, api_key, body, **kw)

    monkeypatch.setattr(RevoxClient, "create_campaign", spy)
    return bodies


async def test_unknown_keys_still_reach_the_upstream(stub, sent: list[dict[str, Any]]) -> None:
    request = create_request(2)
    request.extra_fields.update({"voicemail_message": "Call us back"})
    request.call_retry_config.extra_fields.update({"jitter_seconds": 30})
    request.call_retry_config.calling_windows[0].extra_fields.update({"days": ["mon", "tue"]})
    await stub.CreateCampaign(request, metadata=auth())
    [body] = sent
    assert body["voicemail_message"] == "Call us back"
    assert body["call_retry_config"]["jitter_seconds"] == 30
    assert body["call_retry_config"]["calling_windows"][0]["days"] == ["mon", "tue"]


async def test_the_body_keeps_the_typed_values_even_without_validation(
    stub, upstream: Simulator, sent: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the collision check gone, the encoder still sends the
    validated values, never the extra_fields' (nor their camelCase twins)."""
    monkeypatch.setattr(_validation, "check_create", lambda request: None)
    request = create_request(2, request_id="r-1", allow_duplicate_contacts=False)
    request.extra_fields.update(
        {"max_concurrent_calls": 99999, "maxConcurrentCalls": 99999, "assistantId": "asst_other",
         "requestId": "r-2", "allow_duplicate_contacts": True, "voicemail_message": "hi"}
    )
    config = request.call_retry_config
    config.extra_fields.update({"max_retry_attempts": 50, "maxRetryAttempts": 50})
    window = config.calling_windows[0]
    window.ClearField("retry_delay_seconds")  # unset: the documented default must be sent
    window.extra_fields.update({"retry_delay_seconds": -5, "callingWindowStartTime": "99:99"})
    created = await stub.CreateCampaign(request, metadata=auth())
    [body] = sent
    assert set(body) == {
        "assistant_id", "contacts", "name", "call_retry_config", "max_concurrent_calls", "voicemail_message"
    }
    assert body["max_concurrent_calls"] == 2
    assert set(body["call_retry_config"]) == {"calling_windows", "max_retry_attempts", "timezone"}
    assert body["call_retry_config"]["max_retry_attempts"] == 2
    assert body["call_retry_config"]["calling_windows"] == [
        {"calling_window_start_time": "9am", "calling_window_end_time": "18:00", "retry_delay_seconds": 7200}
    ]
    stored = upstream.campaign(created.id)
    assert stored is not None and stored.max_concurrent_calls == 2
