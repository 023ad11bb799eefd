"""Contract requests → the upstream's JSON bodies and query parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.json_format import MessageToDict

from generated.revox.campaigns.v1 import campaign_service_pb2 as s
from generated.revox.campaigns.v1 import row_pb2 as r

from ._codec import encode
from ._literals import literal_of

__all__ = ["DEFAULT_PAGE_SIZE", "create_body", "rows_params", "status_literals", "result_literal"]

DEFAULT_PAGE_SIZE = 50
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
        body["call_retry_config"] = encode(req.call_retry_config)
    if req.HasField("from_phone_number"):
        body["from_phone_number"] = req.from_phone_number
    if req.HasField("max_concurrent_calls"):
        body["max_concurrent_calls"] = req.max_concurrent_calls
    if req.HasField("scheduled_at"):
        body["scheduled_at"] = req.scheduled_at.ToJsonString()
    if req.HasField("extra_fields"):
        body.update(MessageToDict(req.extra_fields))
    return body


def status_literals(statuses: Iterable[int]) -> list[str]:
    return [lit for lit in (literal_of(_STATUS, st) for st in statuses) if lit is not None]


def result_literal(result: int) -> str | None:
    return literal_of(_RESULT, result)


def rows_params(req: s.ListCampaignRowsRequest) -> dict[str, Any]:
    """Keyword arguments of ``RevoxClient.get_rows`` for a validated request."""
    return {
        "page": req.page,
        "page_size": req.page_size or DEFAULT_PAGE_SIZE,
        "query": req.query or None,
        "result": result_literal(req.result),
        "statuses": status_literals(req.statuses),
    }
