"""Upstream REST client: the only part of the gateway that talks HTTP to the Revox API.

Usage::

    async with RevoxClient("https://www.getrevox.com/api") as revox:
        campaign = await revox.get_campaign(api_key, "cmp_123", timeout=2.5)

Every failure is an :class:`UpstreamError` subclass (tree in ``_errors``).
"""

from __future__ import annotations

from ._client import DEFAULT_BASE_URL, RevoxClient
from ._errors import (
    BadRequest,
    Conflict,
    MalformedResponse,
    NotFound,
    OtherStatus,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    ServerError,
    Unauthenticated,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._paging import unpaged
from ._retry import RETRYABLE_STATUSES, RandomSource, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "BadRequest",
    "Conflict",
    "MalformedResponse",
    "NotFound",
    "OtherStatus",
    "PermissionDenied",
    "PreconditionFailed",
    "RandomSource",
    "RateLimited",
    "RetryPolicy",
    "RevoxClient",
    "ServerError",
    "Unauthenticated",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "parse_retry_after",
    "unpaged",
]
