"""ReadMask: paths checked against the contract, messages projected, and changed upstream
JSON paths matched conservatively (a mask may get a change it did not need, never miss one)."""

from __future__ import annotations

import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from gateway.convert import ReadMask, mask_violations
from generated.revox.campaigns.v1 import row_pb2

ROW = row_pb2.Row.DESCRIPTOR


def row_mask(*paths: str) -> ReadMask:
    mask = FieldMask(paths=list(paths))
    assert mask_violations(mask, ROW) == []
    return ReadMask.of(mask, ROW)


@pytest.mark.parametrize(("paths", "bad"), [
    (["id", "nope"], [1]),
    (["call.status.x"], [0]),  # through a leaf
    (["call.call_attempts.id"], [0]),  # through a repeated field
    (["input_data.first_name"], [0]),  # through a map
    (["*", "id"], [0]),
    (["id", "call.assistant.name", "*"], [2]),
    (["*"], []),
    (["call.last_call_attempt.result_raw"], []),
])
def test_paths_are_checked_against_the_resource(paths: list[str], bad: list[int]) -> None:
    assert [i for i, _ in mask_violations(FieldMask(paths=paths), ROW)] == bad


@pytest.mark.parametrize(("paths", "changed", "touched"), [
    (("id", "call.status"), ["call.status"], True),
    (("id", "call.status"), ["call.last_call_attempt.status"], False),
    (("id", "call.status_raw"), ["call.status"], True),  # the literal comes from "status"
    (("call",), ["call.status"], True),
    (("call.last_call_attempt.result",), ["call.last_call_attempt"], True),  # replaced whole
    (("call.status",), ["call.brand_new_field"], True),  # unknown key: "call" as a whole
    (("id",), ["brand_new_top_level"], True),  # unknown at the top: the whole row
    (("call.status",), ["call.call_attempts"], False),
    (("call.status",), None, True),  # not known what changed: deliver
    ((), ["call.last_call_attempt.status"], True),  # no mask: everything
])
def test_a_change_is_seen_when_it_may_touch_a_masked_field(
    paths: tuple[str, ...], changed: list[str] | None, touched: bool
) -> None:
    assert row_mask(*paths).touches(changed, ROW) is touched


def test_projection_keeps_the_masked_fields_only() -> None:
    row = row_pb2.Row(id="r1", phone_number="+33612340000", row_index=3)
    row.call.status = row_pb2.CALL_STATUS_CALLING
    row.call.status_raw = "calling"
    row.call.assistant.name = "Ada"
    projected = row_mask("id", "call.status").project(row)
    assert projected == row_pb2.Row(id="r1", call=row_pb2.Call(status=row_pb2.CALL_STATUS_CALLING))
    assert row_mask("call.status_raw").project(row) == row_pb2.Row(
        call=row_pb2.Call(status_raw="calling")
    )
    assert ReadMask.ALL.project(row) is row
    assert row_mask("*").project(row) is row


def test_a_masked_enum_keeps_a_literal_newer_than_the_contract() -> None:
    row = row_pb2.Row(id="r1", phone_number="+33612340000")
    row.call.status_raw = "waiting_in_line"  # drift: no enum value names it
    row.call.assistant.name = "Ada"
    projected = row_mask("id", "call.status").project(row)
    # the literal is the status here: dropping it would leave the client nothing
    assert projected == row_pb2.Row(id="r1", call=row_pb2.Call(status_raw="waiting_in_line"))
    assert row_mask("id").project(row) == row_pb2.Row(id="r1")
    assert row_mask("call.status").fingerprint == ReadMask(["call.status"]).fingerprint
    no_call = row_pb2.Row(id="r2")
    assert row_mask("call.status").project(no_call) == row_pb2.Row()


def test_the_fingerprint_ignores_order_and_duplicates() -> None:
    assert row_mask("id", "call.status").fingerprint == row_mask("call.status", "id", "id").fingerprint
    assert row_mask("id").fingerprint != row_mask("call.status").fingerprint
    assert ReadMask.ALL.fingerprint == row_mask("*").fingerprint == ""
