"""The one place where errors become gRPC statuses (google.rpc.Status).

Every status carries ``google.rpc.ErrorInfo`` (reason, domain, and the
upstream's HTTP status when it answered); field errors add
``google.rpc.BadRequest``, rate limits ``google.rpc.RetryInfo``. Messages never
contain the API key: upstream errors are already redacted at the boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from .. import errors as gw
from .. import upstream as up
from ..store._errors import StoreUnavailable, unreachable

__all__ = ["DOMAIN", "status_for"]

DOMAIN = "revox.campaigns.v1"
_log = logging.getLogger("gateway.rpc")


def status_for(exc: BaseException, *, creating: bool = False) -> grpc.Status:
    """The gRPC status a caller gets for ``exc``; ``creating`` marks CreateCampaign."""
    code, reason, message, meta, details = _classify(exc, creating)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=meta)
    packed = [_pack(info), *(_pack(d) for d in details)]
    status = status_pb2.Status(code=code, message=message, details=packed)
    return rpc_status.to_status(status)


_Classified = tuple[int, str, str, dict[str, str], Sequence[Message]]

_UPSTREAM: dict[type[up.UpstreamError], tuple[int, str]] = {
    up.Unauthenticated: (code_pb2.UNAUTHENTICATED, "UPSTREAM_UNAUTHENTICATED"),
    up.PermissionDenied: (code_pb2.PERMISSION_DENIED, "UPSTREAM_PERMISSION_DENIED"),
    up.NotFound: (code_pb2.NOT_FOUND, "UPSTREAM_NOT_FOUND"),
    up.PreconditionFailed: (code_pb2.FAILED_PRECONDITION, "UPSTREAM_PRECONDITION_FAILED"),
    up.ServerError: (code_pb2.UNAVAILABLE, "UPSTREAM_SERVER_ERROR"),
    up.UpstreamUnavailable: (code_pb2.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    up.UpstreamTimeout: (code_pb2.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"),
    up.MalformedResponse: (code_pb2.INTERNAL, "UPSTREAM_MALFORMED_RESPONSE"),
    up.OtherStatus: (code_pb2.UNKNOWN, "UPSTREAM_UNEXPECTED_STATUS"),
}

_GATEWAY: dict[type[gw.GatewayError], int] = {
    gw.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    gw.NoCredentials: code_pb2.UNAUTHENTICATED,
    gw.RequestIdReused: code_pb2.INVALID_ARGUMENT,
    gw.CreateInFlight: code_pb2.ABORTED,
    gw.CreateOutcomeUnknown: code_pb2.ABORTED,
    gw.OperationRefused: code_pb2.FAILED_PRECONDITION,
    gw.CampaignRecreated: code_pb2.FAILED_PRECONDITION,
    gw.ResumeTokenInvalid: code_pb2.INVALID_ARGUMENT,
    gw.ResumeTokenExpired: code_pb2.OUT_OF_RANGE,
    gw.ShuttingDown: code_pb2.UNAVAILABLE,
    gw.LimitExceeded: code_pb2.RESOURCE_EXHAUSTED,
}


def _classify(exc: BaseException, creating: bool) -> _Classified:
    if isinstance(exc, gw.GatewayError):
        return _classify_gateway(exc)
    if isinstance(exc, up.UpstreamError):
        return _classify_upstream(exc, creating)
    if unreachable(exc):
        return _database_unavailable(exc)
    _log.exception("unexpected error", exc_info=exc)
    return code_pb2.INTERNAL, "INTERNAL", "internal error in the gateway", {}, ()


def _classify_gateway(exc: gw.GatewayError) -> _Classified:
    code = _GATEWAY.get(type(exc), code_pb2.INTERNAL)
    meta: dict[str, str] = {}
    details: list[Message] = []
    if isinstance(exc, gw.InvalidArgument):
        details.append(_bad_request([(v.field, v.description) for v in exc.violations]))
    elif isinstance(exc, gw.RequestIdReused):
        details.append(_bad_request([("request_id", exc.message)]))
    elif isinstance(exc, gw.ResumeTokenInvalid):
        details.append(_bad_request([("resume_token", exc.message)]))
    elif isinstance(exc, gw.ResumeTokenExpired):
        meta["oldest_revision"] = str(exc.oldest_revision)
    elif isinstance(exc, gw.LimitExceeded):
        meta["cap"] = exc.cap
        meta["retry_after_seconds"] = f"{exc.retry_after:g}"
        details.append(_retry_info(exc.retry_after))
    elif isinstance(exc, gw.CreateOutcomeUnknown):
        if exc.candidates:
            meta["candidate_campaign_ids"] = ",".join(exc.candidates)
        if exc.retry_after is not None:
            details.append(_retry_info(exc.retry_after))
            meta["retry_after_seconds"] = f"{exc.retry_after:g}"
    return code, exc.reason, exc.message, meta, details


# A database outage is short or long; a retry after a second finds out which.
_DATABASE_RETRY = 1.0


def _database_unavailable(exc: BaseException) -> _Classified:
    """The gateway's own database does not answer: retry (here or on another replica)."""
    message = str(exc) if isinstance(exc, StoreUnavailable) else (
        "the gateway's database does not answer; retry shortly")
    meta = {"retry_after_seconds": f"{_DATABASE_RETRY:g}"}
    return (code_pb2.UNAVAILABLE, "DATABASE_UNAVAILABLE", message, meta,
            [_retry_info(_DATABASE_RETRY)])


def _classify_upstream(exc: up.UpstreamError, creating: bool) -> _Classified:
    meta = {"upstream_status": str(exc.status)} if exc.status is not None else {}
    details: list[Message] = []
    message = f"Revox API: {exc.message}"
    if isinstance(exc, up.BadRequest):
        field = exc.field or "request"
        details.append(_bad_request([(field, exc.message)]))
        return code_pb2.INVALID_ARGUMENT, "UPSTREAM_INVALID_ARGUMENT", message, meta, details
    if isinstance(exc, up.Conflict):
        if creating:
            return code_pb2.ALREADY_EXISTS, "UPSTREAM_CONFLICT", message, meta, details
        return code_pb2.ABORTED, "UPSTREAM_CONFLICT", message, meta, details
    if isinstance(exc, up.RateLimited | up.ServerError) and exc.retry_after is not None:
        details.append(_retry_info(exc.retry_after))
        meta["retry_after_seconds"] = f"{exc.retry_after:g}"
    if isinstance(exc, up.RateLimited):
        return code_pb2.RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED", message, meta, details
    for cls in type(exc).__mro__:
        if cls in _UPSTREAM:
            code, reason = _UPSTREAM[cls]
            return code, reason, message, meta, details
    return code_pb2.UNAVAILABLE, "UPSTREAM_ERROR", message, meta, details


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(seconds * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=delay)


def _bad_request(violations: Sequence[tuple[str, str]]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
        ]
    )


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
