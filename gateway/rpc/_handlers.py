"""The method table of CampaignService, with error mapping at the boundary.

Built by hand rather than by the generated ``add_*_to_server`` so that (a) every
rpc maps exceptions through ``status_for`` in one place, and (b) a handler may
return already-serialized bytes (cache hits skip re-encoding).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ._servicer import CampaignServicer
from ._status import status_for

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    _Unary = Callable[[Any, Context], Awaitable[Any]]
    _Stream = Callable[[Any, Context], AsyncIterator[Any]]

__all__ = ["SERVICE_NAME", "generic_handler"]

SERVICE_NAME = "revox.campaigns.v1.CampaignService"


def _serialize(message: Message | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def _unary(method: _Unary, *, creating: bool = False) -> _Unary:
    async def handler(request: Any, context: Context) -> Any:
        try:
            return await method(request, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: everything becomes a status
            await context.abort_with_status(status_for(exc, creating=creating))

    return handler


def _stream(method: _Stream) -> _Stream:
    async def handler(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            async for message in method(request, context):
                yield message
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            await context.abort_with_status(status_for(exc))

    return handler


def generic_handler(servicer: CampaignServicer) -> grpc.GenericRpcHandler:
    def unary(method: _Unary, request: type[Message], *, creating: bool = False) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(
            _unary(method, creating=creating),
            request_deserializer=request.FromString,
            response_serializer=_serialize,
        )

    def stream(method: _Stream, request: type[Message]) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(
            _stream(method), request_deserializer=request.FromString, response_serializer=_serialize
        )

    s = servicer
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "CreateCampaign": unary(s.CreateCampaign, pb.CreateCampaignRequest, creating=True),
            "ListCampaigns": unary(s.ListCampaigns, pb.ListCampaignsRequest),
            "GetCampaign": unary(s.GetCampaign, pb.GetCampaignRequest),
            "DeleteCampaign": unary(s.DeleteCampaign, pb.DeleteCampaignRequest),
            "CancelCampaign": unary(s.CancelCampaign, pb.CancelCampaignRequest),
            "ListCampaignRows": unary(s.ListCampaignRows, pb.ListCampaignRowsRequest),
            "ExportCampaignRows": stream(s.ExportCampaignRows, pb.ExportCampaignRowsRequest),
            "WatchCampaignRows": stream(s.WatchCampaignRows, pb.WatchCampaignRowsRequest),
        },
    )
