"""The gateway's own errors: what it refuses before or beside the upstream.

Upstream failures are ``gateway.upstream.UpstreamError``; these are the rest.
One function, ``gateway.rpc.status_for``, maps both trees to gRPC statuses.

    GatewayError
    ├── InvalidArgument          a request field is missing or malformed
    ├── NoCredentials            neither caller metadata nor config gives a key
    ├── RequestIdReused          same request_id, different CreateCampaign body
    ├── CreateInFlight           same request_id is being created right now
    ├── CreateOutcomeUnknown     an earlier create with this request_id may or
    │                            may not have reached the upstream
    ├── OperationRefused         the upstream answered success: false
    ├── ResumeTokenInvalid       malformed, forged or foreign resume token
    ├── ResumeTokenExpired       resume token older than the retained log
    ├── LimitExceeded            a load cap of this process refused the call
    │                            (RESOURCE_EXHAUSTED with RetryInfo)
    ├── CampaignRecreated        the campaign id now names another incarnation
    │                            (deleted and created again): what referred to
    │                            the old one (a stream, a token, a request_id)
    │                            must not be applied to the new one
    └── ShuttingDown             the server is draining
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CampaignRecreated",
    "CreateInFlight",
    "CreateOutcomeUnknown",
    "FieldViolation",
    "GatewayError",
    "InvalidArgument",
    "LimitExceeded",
    "NoCredentials",
    "OperationRefused",
    "RequestIdReused",
    "ResumeTokenExpired",
    "ResumeTokenInvalid",
    "ShuttingDown",
]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: its path in the request (``contacts[2].to_phone_number``) and why."""

    field: str
    description: str


class GatewayError(Exception):
    """Base of the gateway's own errors; ``reason`` is the ErrorInfo reason."""

    reason = "GATEWAY_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(GatewayError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = tuple(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(f"invalid request: {fields}: {self.violations[0].description}")


class NoCredentials(GatewayError):
    reason = "MISSING_CREDENTIALS"


class RequestIdReused(GatewayError):
    reason = "REQUEST_ID_REUSED"


class CreateInFlight(GatewayError):
    reason = "CREATE_IN_FLIGHT"


class CreateOutcomeUnknown(GatewayError):
    """``candidates``: campaign ids that all match the request (ambiguous);
    ``retry_after``: seconds until a retry may find out more (e.g. the grace window)."""

    reason = "CREATE_OUTCOME_UNKNOWN"

    def __init__(
        self, message: str, *, candidates: Sequence[str] = (), retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)
        self.retry_after = retry_after


class OperationRefused(GatewayError):
    reason = "OPERATION_REFUSED"


class ResumeTokenInvalid(GatewayError):
    reason = "RESUME_TOKEN_INVALID"


class ResumeTokenExpired(GatewayError):
    reason = "RESUME_TOKEN_EXPIRED"

    def __init__(self, message: str, *, oldest_revision: int) -> None:
        super().__init__(message)
        self.oldest_revision = oldest_revision


class CampaignRecreated(GatewayError):
    reason = "CAMPAIGN_RECREATED"


class LimitExceeded(GatewayError):
    """``cap``: which cap refused (the metric label); ``retry_after``: seconds."""

    reason = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, cap: str, retry_after: float) -> None:
        super().__init__(message)
        self.cap = cap
        self.retry_after = retry_after


class ShuttingDown(GatewayError):
    reason = "SHUTTING_DOWN"
