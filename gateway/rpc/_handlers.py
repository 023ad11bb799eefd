"""The method table of CampaignService, with error mapping at the boundary.

Built by hand rather than by the generated ``add_*_to_server`` so that (a) every
rpc maps exceptions through ``status_for`` in one place, (b) a handler may
return already-serialized bytes (cache hits skip re-encoding), and (c) a request
that does not parse answers INVALID_ARGUMENT: grpc's own handling of a failing
deserializer answers UNKNOWN, with the exception's class in the message, and
logs a traceback per call, so a client sending garbage could flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ._servicer import CampaignServicer
from ._status import DOMAIN, status_for

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    _Unary = Callable[[Any, Context], Awaitable[Any]]
    _Stream = Callable[[Any, Context], AsyncIterator[Any]]

__all__ = ["SERVICE_NAME", "generic_handler"]

SERVICE_NAME = "revox.campaigns.v1.CampaignService"
UNDECODABLE = "UNDECODABLE_REQUEST"
DECODE_LOG_INTERVAL = 10.0  # seconds between two log lines about one method's bad requests

_log = logging.getLogger("gateway.rpc")
_monotonic = time.monotonic  # read at each call: tests move time without sleeping


def _serialize(message: Message | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


class _Undecodable:
    """Handed to the handler in place of a request whose bytes did not parse."""

    __slots__ = ("status",)

    def __init__(self, message_type: str) -> None:
        why = (
            f"the request is not a valid {message_type}: its bytes are corrupt, or it nests "
            "messages deeper than the protobuf parser's limit of 100"
        )
        info = error_details_pb2.ErrorInfo(reason=UNDECODABLE, domain=DOMAIN)
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="request", description=why)]
        )
        details = []
        for detail in (info, bad):
            packed = any_pb2.Any()
            packed.Pack(detail)
            details.append(packed)
        status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=why, details=details)
        self.status = rpc_status.to_status(status)


class _DecodeFailures:
    """One log line per method per DECODE_LOG_INTERVAL, saying how many it held back."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[float, int]] = {}  # method -> (last line, held back)

    def record(self, method: str, message_type: str) -> None:
        now = _monotonic()
        last = self._since.get(method)
        if last is not None and now - last[0] < DECODE_LOG_INTERVAL:
            self._since[method] = (last[0], last[1] + 1)
            return
        held = f"; {last[1]} more since the last report" if last is not None and last[1] else ""
        _log.warning("%s: a request that is not a %s was refused%s", method, message_type, held)
        self._since[method] = (now, 0)


def _decoder(method: str, request: type[Message], failures: _DecodeFailures) -> Callable[[bytes], Any]:
    """``request.FromString`` that yields an ``_Undecodable`` instead of raising."""
    message_type = request.DESCRIPTOR.full_name
    parse = request.FromString

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # noqa: BLE001 - DecodeError, RecursionError, whatever the parser raises
            failures.record(method, message_type)
            return _Undecodable(message_type)

    return deserialize


def _unary(method: _Unary, *, creating: bool = False) -> _Unary:
    async def handler(request: Any, context: Context) -> Any:
        if isinstance(request, _Undecodable):
            await context.abort_with_status(request.status)
        try:
            return await method(request, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: everything becomes a status
            await context.abort_with_status(status_for(exc, creating=creating))

    return handler


def _stream(method: _Stream) -> _Stream:
    async def handler(request: Any, context: Context) -> AsyncIterator[Any]:
        if isinstance(request, _Undecodable):
            await context.abort_with_status(request.status)
        try:
            async for message in method(request, context):
                yield message
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            await context.abort_with_status(status_for(exc))

    return handler


def generic_handler(servicer: CampaignServicer) -> grpc.GenericRpcHandler:
    failures = _DecodeFailures()

    def unary(method: _Unary, request: type[Message], *, creating: bool = False) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(
            _unary(method, creating=creating),
            request_deserializer=_decoder(method.__name__, request, failures),
            response_serializer=_serialize,
        )

    def stream(method: _Stream, request: type[Message]) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(
            _stream(method),
            request_deserializer=_decoder(method.__name__, request, failures),
            response_serializer=_serialize,
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
