"""Contract requests → the upstream's JSON bodies and query parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from generated.revox.campaigns.v1 import campaign_service_pb2 as s
from generated.revox.campaigns.v1 import row_pb2 as r

from ._codec import encode, struct_json
from ._literals import literal_of

__all__ = ["DEFAULT_PAGE_SIZE", "create_body", "rows_filters", "status_literals", "result_literal"]

DEFAULT_PAGE_SIZE = 50
# The reference's documented defaults of fields a client may leave unset: sent explicitly, so
# an upstream that requires them (or defaults them otherwise) still gets the documented value.
RETRY_DEFAULTS: dict[str, Any] = {"max_retry_attempts": 3}
WINDOW_DEFAULTS: dict[str, Any] = {
    "calling_window_end_time": "18:00",
    "calling_window_start_time": "10:00",
    "retry_delay_seconds": 7200,
}
_STATUS = r.CallStatus.DESCRIPTOR
_RESULT = s.RowResultFilter.DESCRIPTOR


def create_body(req: s.CreateCampaignRequest) -> dict[str, Any]:
    """The JSON body of ``POST /campaigns`` (validated requests only)."""
    body: dict[str, Any] = {
        "assistant_id": req.assistant_id,
        "contacts": [
            {"prompt_variables": dict(c.prompt_variables), "to_phone_number": c.to_phone_number}
            for c in req.contacts
        ],
        "name": req.name,
    }
    if req.HasField("call_retry_config"):
        body["call_retry_config"] = _with_defaults(encode(req.call_retry_config))
    if req.HasField("from_phone_number"):
        body["from_phone_number"] = req.from_phone_number
    if req.HasField("max_concurrent_calls"):
        body["max_concurrent_calls"] = req.max_concurrent_calls
    if req.HasField("scheduled_at"):
        body["scheduled_at"] = req.scheduled_at.ToJsonString()
    if req.HasField("extra_fields"):
        body.update(struct_json(req.extra_fields))
    return body


def _with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    for key, value in RETRY_DEFAULTS.items():
        config.setdefault(key, value)
    for window in config.get("calling_windows") or ():
        for key, value in WINDOW_DEFAULTS.items():
            window.setdefault(key, value)
    return config


def status_literals(statuses: Iterable[int]) -> list[str]:
    return [lit for lit in (literal_of(_STATUS, st) for st in statuses) if lit is not None]


def result_literal(result: int) -> str | None:
    return literal_of(_RESULT, result)


def rows_filters(req: s.ListCampaignRowsRequest) -> dict[str, Any]:
    """The filter keyword arguments of ``RevoxClient.get_rows`` for a validated request."""
    return {
        "query": req.query or None,
        "result": result_literal(req.result),
        "statuses": status_literals(req.statuses),
    }
