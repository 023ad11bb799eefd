"""Every string a request carries is bounded and sanitised before anything is sent: what the
proto documents on each field, refused as INVALID_ARGUMENT naming the field, without the
offending text echoed back (a bad key may be megabytes long)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, rich_status, violated_fields

Change = Callable[[pb.CreateCampaignRequest], None]
WINDOW = "call_retry_config.calling_windows[0]"
BIG_KEY = "k" * (5 * 1024 * 1024)


def _deep(levels: int) -> dict[str, Any]:
    """A JSON object nested ``levels`` deep, itself counted: _deep(1) is {"leaf": 1}."""
    return {"leaf": 1} if levels == 1 else {"a": _deep(levels - 1)}


def _variables(**variables: str) -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        request.contacts[0].prompt_variables.clear()
        request.contacts[0].prompt_variables.update(variables)

    return change


def _set(**fields: Any) -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        for name, value in fields.items():
            setattr(request, name, value)

    return change


def _extra(values: dict[str, Any], where: str = "") -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        owner = request.call_retry_config.calling_windows[0] if where else request
        owner.extra_fields.update(values)

    return change


def _timezone(name: str) -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        request.call_retry_config.timezone = name

    return change


def _phone(number: str) -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        request.contacts[0].to_phone_number = number

    return change


def _window_start(time: str) -> Change:
    def change(request: pb.CreateCampaignRequest) -> None:
        request.call_retry_config.calling_windows[0].calling_window_start_time = time

    return change


CREATE = [
    ("name-nul", _set(name="Spring\x00outreach"), "name"),
    ("name-newline", _set(name="Spring\noutreach"), "name"),
    ("name-del", _set(name="Spring\x7f"), "name"),
    ("name-501", _set(name="n" * 501), "name"),
    ("assistant-nul", _set(assistant_id="asst\x00demo"), "assistant_id"),
    ("assistant-257", _set(assistant_id="a" * 257), "assistant_id"),
    ("variable-key-5MB", _variables(**{BIG_KEY: "x"}), "contacts[0].prompt_variables"),
    ("variable-key-257", _variables(**{"k" * 257: "x"}), "contacts[0].prompt_variables"),
    ("variable-key-nul", _variables(**{"first\x00name": "x"}), "contacts[0].prompt_variables"),
    ("variable-key-tab", _variables(**{"first\tname": "x"}), "contacts[0].prompt_variables"),
    ("variable-key-empty", _variables(**{"": "x"}), "contacts[0].prompt_variables"),
    ("variable-value-nul", _variables(first_name="Ada\x00"), "contacts[0].prompt_variables[first_name]"),
    ("variable-value-esc", _variables(first_name="Ada\x1b[2J"), "contacts[0].prompt_variables[first_name]"),
    ("variable-value-cr", _variables(first_name="Ada\r"), "contacts[0].prompt_variables[first_name]"),
    ("variable-value-c1", _variables(first_name="Ada\x85"), "contacts[0].prompt_variables[first_name]"),
    ("variable-value-10001", _variables(first_name="x" * 10_001), "contacts[0].prompt_variables[first_name]"),
    ("timezone-65", _timezone("Europe/" + "x" * 58), "call_retry_config.timezone"),
    ("phone-arabic-digits", _phone("+1415\u0665\u0665\u0665\u0660\u0661\u0660\u0660"), "contacts[0].to_phone_number"),
    ("window-arabic-digits", _window_start("09:3\u0660"), f"{WINDOW}.calling_window_start_time"),
    ("window-vertical-tab", _window_start("9\x0bam"), f"{WINDOW}.calling_window_start_time"),
    ("extra-key-newline", _extra({"new\nline": 1}), "extra_fields"),
    ("extra-key-257", _extra({"k" * 257: 1}), "extra_fields"),
    ("extra-key-empty", _extra({"": 1}), "extra_fields"),
    ("extra-nested-key-nul", _extra({"outer": {"in\x00ner": 1}}), "extra_fields.outer"),
    ("extra-value-nul", _extra({"note": "a\x00b"}), "extra_fields.note"),
    ("extra-list-value-nul", _extra({"notes": ["ok", "a\x00b"]}), "extra_fields.notes[1]"),
    ("window-extra-value-nul", _extra({"note": "a\x00b"}, WINDOW), f"{WINDOW}.extra_fields.note"),
    ("extra-65KiB", _extra({"blob": "x" * (64 * 1024)}), "extra_fields"),
]


def _small(error: grpc.aio.AioRpcError) -> bool:
    """The whole error, details included, is small: nothing the caller sent is echoed."""
    return len(rich_status(error).SerializeToString()) < 2048


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in CREATE], ids=[c[0] for c in CREATE])
async def test_create_refuses_unbounded_or_unsanitised_strings(
    stub, upstream: Simulator, change: Change, field: str
) -> None:
    request = create_request(2)
    change(request)
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == [field]
    assert _small(info.value)
    assert upstream.request_count == before


async def test_extra_fields_nest_at_most_16_levels(stub, upstream: Simulator) -> None:
    lists: Any = 1
    for _ in range(16):
        lists = [lists]
    for key, value in (("objects", _deep(16)), ("lists", lists)):
        request = create_request(1)
        request.extra_fields.update({key: value})  # 17 levels with extra_fields itself
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateCampaign(request, metadata=auth())
        [field] = violated_fields(info.value)
        assert field.startswith(f"extra_fields.{key}")
        assert "deeper than 16 levels" in info.value.details()


async def test_what_the_bounds_allow_is_sent(stub, upstream: Simulator) -> None:
    request = create_request(1, name="Ünïcode outreach — été", assistant_id="a" * 256)
    request.contacts[0].prompt_variables.update(
        {"k" * 256: "v" * 10_000, "notes": "line one\n\tline two"}
    )
    request.extra_fields.update({"tree": _deep(15), "text": "tab\tand\nnewline", "blob": "x" * 60_000})
    request.call_retry_config.timezone = "America/Argentina/ComodRivadavia"
    created = await stub.CreateCampaign(request, metadata=auth())
    stored = upstream.campaign(created.id)
    assert stored is not None
    assert stored.name == request.name
    assert stored.rows[0].vars["notes"] == "line one\n\tline two"


OTHER = [
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", query="+33\x00"), "query"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page_token="t" * 513), "page_token"),
    ("ListCampaigns", pb.ListCampaignsRequest(page_token="t" * 513), "page_token"),
    ("GetCampaign", pb.GetCampaignRequest(id="c\x00"), "id"),
    ("GetCampaign", pb.GetCampaignRequest(id="c", read_mask={"paths": ["id"] * 101}), "read_mask.paths"),
    ("GetCampaign", pb.GetCampaignRequest(id="c", read_mask={"paths": ["x" * 300]}), "read_mask.paths[0]"),
    ("DeleteCampaign", pb.DeleteCampaignRequest(id="c" * 257), "id"),
]


@pytest.mark.parametrize(("rpc", "request_", "field"), OTHER, ids=[f"{o[0]}-{o[2]}" for o in OTHER])
async def test_other_rpcs_bound_their_strings(stub, upstream: Simulator, rpc: str, request_, field: str) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(stub, rpc)(request_, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == [field]
    assert _small(info.value)
    assert upstream.request_count == before


async def test_watch_refuses_a_control_character_in_its_query(stub, upstream: Simulator) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id="c", query="a\x00"), metadata=auth()):
            pass
    assert violated_fields(info.value) == ["query"]
    assert upstream.request_count == before


@pytest.mark.parametrize("kind", ["phone", "duplicate", "variable-name"])
async def test_many_violations_still_make_an_error_a_client_can_read(stub, kind: str) -> None:
    """Trailers over 8 KiB are refused by the client (RESOURCE_EXHAUSTED, the details
    lost): the violations listed stop before that, the first ones always kept."""
    request = create_request(150)
    for contact in request.contacts:
        if kind == "phone":
            contact.to_phone_number = "0612"
        elif kind == "duplicate":
            contact.to_phone_number = request.contacts[0].to_phone_number
        else:
            contact.prompt_variables["é" * 256] = "\x00"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = violated_fields(info.value)
    first = 1 if kind == "duplicate" else 0
    assert fields[0].startswith(f"contacts[{first}].")
    assert len(fields) < 150
