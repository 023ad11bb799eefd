"""status_for, the one mapping of every error to a google.rpc.Status: code, reason,
message, metadata and details, exception class by exception class."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from sqlalchemy.exc import OperationalError

from gateway import errors as gw
from gateway import upstream as up
from gateway.rpc import DOMAIN, status_for
from gateway.store._errors import StoreUnavailable


def _decoded(exc: BaseException, *, creating: bool = False) -> tuple[status_pb2.Status, dict[str, object]]:
    status = status_for(exc, creating=creating)
    (key, raw), = [(k, v) for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    rich = status_pb2.Status.FromString(raw)
    details: dict[str, object] = {}
    for any_ in rich.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if any_.Is(kind.DESCRIPTOR):
                message = kind()
                any_.Unpack(message)
                details[kind.__name__] = message
    assert status.code.value[0] == rich.code and status.details == rich.message
    return rich, details


def test_an_unexpected_error_is_internal_and_says_nothing_of_itself() -> None:
    rich, details = _decoded(KeyError("secret internals"))
    assert (rich.code, rich.message) == (code_pb2.INTERNAL, "internal error in the gateway")
    info = details["ErrorInfo"]
    assert (info.reason, info.domain, dict(info.metadata)) == ("INTERNAL", DOMAIN, {})


def test_a_gateway_error_outside_the_table_is_internal_with_its_reason() -> None:
    rich, details = _decoded(gw.GatewayError("odd"))
    assert (rich.code, rich.message, details["ErrorInfo"].reason) == (code_pb2.INTERNAL, "odd", "GATEWAY_ERROR")


def test_invalid_arguments_name_each_field_with_its_description() -> None:
    violations = [gw.FieldViolation("name", "required"), gw.FieldViolation("contacts[0]", "bad")]
    rich, details = _decoded(gw.InvalidArgument(violations))
    assert rich.code == code_pb2.INVALID_ARGUMENT and rich.message.startswith("invalid request: name")
    bad = details["BadRequest"]
    assert [(v.field, v.description) for v in bad.field_violations] == [("name", "required"), ("contacts[0]", "bad")]


@pytest.mark.parametrize(
    ("exc", "field"),
    [(gw.ResumeTokenInvalid("forged"), "resume_token"), (gw.RequestIdReused("other body"), "request_id")],
)
def test_a_refused_token_or_request_id_is_named(exc: gw.GatewayError, field: str) -> None:
    rich, details = _decoded(exc)
    assert rich.code == code_pb2.INVALID_ARGUMENT and details["ErrorInfo"].reason == exc.reason
    (violation,) = details["BadRequest"].field_violations
    assert (violation.field, violation.description) == (field, exc.message)


def test_an_expired_token_says_the_oldest_revision_kept() -> None:
    rich, details = _decoded(gw.ResumeTokenExpired("too old", oldest_revision=42))
    assert rich.code == code_pb2.OUT_OF_RANGE
    assert dict(details["ErrorInfo"].metadata) == {"oldest_revision": "42"}


UPSTREAM = [
    (up.BadRequest("bad", status=400, field="contacts[0]"), code_pb2.INVALID_ARGUMENT, "UPSTREAM_INVALID_ARGUMENT"),
    (up.Unauthenticated("no", status=401), code_pb2.UNAUTHENTICATED, "UPSTREAM_UNAUTHENTICATED"),
    (up.PermissionDenied("no", status=403), code_pb2.PERMISSION_DENIED, "UPSTREAM_PERMISSION_DENIED"),
    (up.NotFound("gone", status=404), code_pb2.NOT_FOUND, "UPSTREAM_NOT_FOUND"),
    (up.PreconditionFailed("no", status=412), code_pb2.FAILED_PRECONDITION, "UPSTREAM_PRECONDITION_FAILED"),
    (up.RateLimited("slow", status=429), code_pb2.RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED"),
    (up.ServerError("down", status=503), code_pb2.UNAVAILABLE, "UPSTREAM_SERVER_ERROR"),
    (up.UpstreamUnavailable("reset"), code_pb2.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    (up.UpstreamTimeout("slow"), code_pb2.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"),
    (up.MalformedResponse("not json", status=200), code_pb2.INTERNAL, "UPSTREAM_MALFORMED_RESPONSE"),
    (up.OtherStatus("teapot", status=418), code_pb2.UNKNOWN, "UPSTREAM_UNEXPECTED_STATUS"),
    (up.UpstreamError("other"), code_pb2.UNAVAILABLE, "UPSTREAM_ERROR"),
]


@pytest.mark.parametrize(("exc", "code", "reason"), UPSTREAM, ids=lambda x: type(x).__name__)
def test_each_upstream_error_has_its_code_reason_and_message(exc: up.UpstreamError, code: int, reason: str) -> None:
    rich, details = _decoded(exc)
    assert (rich.code, rich.message, details["ErrorInfo"].reason) == (code, f"Revox API: {exc.message}", reason)
    # The upstream's HTTP status is named when there was one, and only then.
    expected = {} if exc.status is None else {"upstream_status": str(exc.status)}
    assert dict(details["ErrorInfo"].metadata) == expected


def test_an_upstream_400_without_a_field_names_the_request() -> None:
    _, details = _decoded(up.BadRequest("nope", status=400))
    (violation,) = details["BadRequest"].field_violations
    assert (violation.field, violation.description) == ("request", "nope")


def test_a_conflict_is_already_exists_only_when_creating() -> None:
    conflict = up.Conflict("exists", status=409)
    assert _decoded(conflict, creating=True)[0].code == code_pb2.ALREADY_EXISTS
    assert _decoded(conflict)[0].code == code_pb2.ABORTED  # the default: not a create
    assert status_for(conflict).code == grpc.StatusCode.ABORTED


@pytest.mark.parametrize("exc", [up.RateLimited("slow", status=429, retry_after=2.5),
                                 up.ServerError("down", status=503, retry_after=2.5)])
def test_retry_after_becomes_retry_info_to_the_nanosecond(exc: up.UpstreamError) -> None:
    _, details = _decoded(exc)
    delay = details["RetryInfo"].retry_delay
    assert (delay.seconds, delay.nanos) == (2, 500_000_000)
    assert details["ErrorInfo"].metadata["retry_after_seconds"] == "2.5"


def test_no_retry_info_without_retry_after() -> None:
    assert "RetryInfo" not in _decoded(up.RateLimited("slow", status=429))[1]


@pytest.mark.parametrize("exc, message", [
    (StoreUnavailable("the gateway's database does not answer, so this create could not be "
                      "kept idempotent"),
     "the gateway's database does not answer, so this create could not be kept idempotent"),
    (OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")),
     "the gateway's database does not answer; retry shortly"),
])
def test_the_gateways_database_not_answering_is_unavailable_for_a_second(
    exc: BaseException, message: str
) -> None:
    """Retried here or on another replica; the driver's own words (host names, SQL) never
    reach the caller."""
    rich, details = _decoded(exc, creating=True)
    assert rich.code == code_pb2.UNAVAILABLE
    assert rich.message == message
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "DATABASE_UNAVAILABLE" and info.domain == DOMAIN
    assert dict(info.metadata) == {"retry_after_seconds": "1"}
    retry = details["RetryInfo"]
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.0


@pytest.mark.parametrize("exc", [
    gw.LimitExceeded("too many streams", cap="watch_streams", retry_after=2.5),
    gw.CreateOutcomeUnknown("not there yet", retry_after=2.5),
])
def test_a_retry_after_is_in_the_metadata_as_well_as_in_retry_info(exc: Exception) -> None:
    """A client reading only ErrorInfo (grpcurl, a log line) sees when to retry too."""
    _, details = _decoded(exc, creating=True)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.metadata["retry_after_seconds"] == "2.5"
