"""The per-rpc JSON line is written by hand (it is the hot one, issue 17's benchmark): it
must be byte for byte what the general JSON encoder writes, keys in the documented order,
whatever its strings hold; a line with other fields still gets them all."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.observability import JsonFormatter, set_request_id

CREATED = 1_777_939_331.169


@pytest.fixture(autouse=True)
def _serving_an_rpc() -> Iterator[None]:
    set_request_id("req-1")
    yield
    set_request_id(None)


def _rpc_record(**overrides: Any) -> logging.LogRecord:
    fields: dict[str, Any] = {
        "service": "revox.campaigns.v1.CampaignService", "method": "GetCampaign",
        "code": "NOT_FOUND", "duration_ms": 12.41, "request_id": "req-1",
        "tenant": "f7348abd0eed3c4c9733e4c1404dee1f", "messages_sent": 0,
    }
    fields.update(overrides)
    record = logging.LogRecord("gateway.access", logging.INFO, "", 0, "rpc %s", ("x",), None)
    record.created, record.msecs = CREATED, 169.0
    record.event, record.fields = "rpc", fields
    return record


def _expected(record: logging.LogRecord) -> str:
    fields = record.fields  # type: ignore[attr-defined]
    line = {"ts": "2026-05-05T00:02:11.169Z", "level": "INFO", "logger": "gateway.access",
            "msg": "rpc", "request_id": fields["request_id"],
            **{k: v for k, v in fields.items() if k != "request_id"}}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("overrides", [
    {},
    {"tenant": None},
    {"code": "OK", "duration_ms": 0.001, "messages_sent": 1},
    {"duration_ms": 123456.789, "messages_sent": 10_000},
    {"method": 'Get"Campaign\\', "service": "naïve\u2028svc\x01"},  # escapes, non-ASCII kept
    {"request_id": "other-id"},
])
def test_the_rpc_line_is_what_the_json_encoder_writes(overrides: dict[str, Any]) -> None:
    record = _rpc_record(**overrides)
    assert JsonFormatter().format(record) == _expected(record)


def test_a_line_with_other_fields_keeps_them_all() -> None:
    record = _rpc_record(trace_id="abc", duration_ms=float("inf"))
    line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == "abc"
    assert line["duration_ms"] == float("inf")
    assert line["request_id"] == "req-1"
