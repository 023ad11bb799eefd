"""The served method table is the proto's: every rpc of CampaignService answers, and
nothing else is served under its name."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth

SERVICE = pb.DESCRIPTOR.services_by_name["CampaignService"]


def _call(channel: grpc.aio.Channel, method: str, streaming: bool) -> Any:
    path = f"/{SERVICE.full_name}/{method}"
    identity = (lambda b: b, lambda b: b)
    if streaming:
        return channel.unary_stream(path, *identity)(b"", metadata=auth(), timeout=5)
    return channel.unary_unary(path, *identity)(b"", metadata=auth(), timeout=5)


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
async def test_every_rpc_of_the_proto_is_served(channel, method: str) -> None:
    desc = SERVICE.methods_by_name[method]
    call = _call(channel, method, desc.server_streaming)
    try:  # an empty request: answered (mostly INVALID_ARGUMENT), never UNIMPLEMENTED
        if desc.server_streaming:
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as exc:
        assert exc.code() != grpc.StatusCode.UNIMPLEMENTED, method


async def test_nothing_else_is_served_under_the_service_name(channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _call(channel, "DropAllCampaigns", streaming=False)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
