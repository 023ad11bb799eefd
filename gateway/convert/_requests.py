"""Contract requests → the upstream's JSON bodies and query parameters.

A request's ``extra_fields`` are merged *under* its typed fields, never over
them: validation refuses a key that names a typed field (either spelling),
and should one get here anyway it is dropped rather than allowed to replace a
validated value (a 50-attempt retry config, a negative delay).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, cast

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from generated.revox.campaigns.v1 import campaign_service_pb2 as s
from generated.revox.campaigns.v1 import row_pb2 as r

from ._codec import encode, struct_json
from ._layout import EXTRA
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
        body["call_retry_config"] = _with_defaults(_encode_input(req.call_retry_config))
    if req.HasField("from_phone_number"):
        body["from_phone_number"] = req.from_phone_number
    if req.HasField("max_concurrent_calls"):
        body["max_concurrent_calls"] = req.max_concurrent_calls
    if req.HasField("scheduled_at"):
        body["scheduled_at"] = req.scheduled_at.ToJsonString()
    # Gateway-only fields (request_id, allow_duplicate_contacts) are not in the body,
    # and their names are kept out of it too.
    _merge_extra(body, req)
    return body


@cache
def _typed_keys(desc: Descriptor) -> frozenset[str]:
    """Every spelling of every field of ``desc``: proto name and JSON (camelCase) name."""
    return frozenset(n for f in desc.fields for n in (f.name, f.json_name))


def _merge_extra(out: dict[str, Any], message: Message) -> None:
    """Add ``message``'s extra_fields to its JSON ``out``, never over a typed key."""
    if not message.HasField(EXTRA):
        return
    typed = _typed_keys(cast(Descriptor, message.DESCRIPTOR))
    for key, value in struct_json(getattr(message, EXTRA)).items():
        if key not in typed and key not in out:
            out[key] = value


def _encode_input(message: Message) -> dict[str, Any]:
    """``encode`` of a request message, each level's extra_fields merged by ``_merge_extra``.

    ``encode`` lays extra_fields over the typed keys (it must, to give back drifted
    upstream JSON as it came); for input that would let them override what was
    validated, so they are taken off first and merged back under the typed keys.
    """
    bare = type(message)()
    bare.CopyFrom(message)
    _strip_extra(bare)
    out = encode(bare)
    _merge_back(out, message)
    return out


def _nested(message: Message) -> Iterable[tuple[str, list[Message]]]:
    """The contract's message fields of ``message`` that are set, as lists."""
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None or kind.full_name.startswith("google.protobuf.") or kind.GetOptions().map_entry:
            continue
        yield field.name, list(value) if field.is_repeated else [value]


def _strip_extra(message: Message) -> None:
    if EXTRA in message.DESCRIPTOR.fields_by_name:
        message.ClearField(EXTRA)
    for _, items in _nested(message):
        for item in items:
            _strip_extra(item)


def _merge_back(out: dict[str, Any], message: Message) -> None:
    for name, items in _nested(message):
        encoded = out.get(name)
        nested = encoded if isinstance(encoded, list) else [encoded]
        for item_out, item in zip(nested, items, strict=False):
            if isinstance(item_out, dict):
                _merge_back(item_out, item)
    if EXTRA in message.DESCRIPTOR.fields_by_name:
        _merge_extra(out, message)


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
