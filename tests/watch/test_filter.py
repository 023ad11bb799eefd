"""RowFilter: how one logged change looks through one subscriber's filter and mask.

The rpc tests reach these paths only through a running campaign, and some not at
all: a row that appears after the snapshot (``added``) never happens through the
simulator, and a filter's fingerprint is only ever compared with itself there.
Here every (kind, before, after) case is classified directly, and the
fingerprint resume tokens are bound to is pinned, since a token issued by one
replica or release must still resume on another.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from gateway.convert import ReadMask
from gateway.store import Change
from gateway.watch._filter import ADDED, DELETED, LEFT, MODIFIED, REMOVED, ROW, RowFilter
from gateway.watch._filter import NO_REASON as NONE
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2


def _row(status: str | None = "calling", result: str | None = None, **extra: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"status": status}
    if result is not None:
        call["last_call_attempt"] = {"result": result}
    return {
        "id": "r1", "phone_number": "+33612345678", "input_data": {"name": "Ada Lovelace"},
        "call": call, **extra,
    }


def _change(
    kind: str, status: str | None, result: str | None = None, *,
    prev: tuple[str | None, str | None] = (None, None), row: dict[str, Any] | None = None,
    changed: tuple[str, ...] | None = None,
) -> Change:
    return Change(
        revision=2, seq=1, row_id="r1", kind=kind,  # type: ignore[arg-type]
        row=row if row is not None else _row(status, result),
        status=status, result=result, prev_status=prev[0], prev_result=prev[1],
        committed_at=0.0, changed=changed,
    )


def _mask(*paths: str) -> ReadMask:
    return ReadMask.of(FieldMask(paths=list(paths)), ROW)


# --- building ---------------------------------------------------------------------------


def test_the_fingerprint_of_a_filter_is_stable_across_processes_and_releases() -> None:
    # Resume tokens carry it: changing how it is computed strands every token in flight.
    assert RowFilter.build().fingerprint == "fe44a8cccd89edae"
    assert RowFilter.build(["calling", "completed"], "none", "  Ada ").fingerprint == (
        "14e78c3bbca4970c"
    )
    masked = RowFilter.build(["calling"], mask=_mask("call.status"))
    assert masked.fingerprint == "c99980f5d4a49d1a"
    assert len(masked.fingerprint) == 16


def test_the_fingerprint_tells_every_part_of_the_filter_apart() -> None:
    prints = {
        RowFilter.build().fingerprint,
        RowFilter.build(["calling"]).fingerprint,
        RowFilter.build(["completed"]).fingerprint,
        RowFilter.build(result="human").fingerprint,
        RowFilter.build(result="none").fingerprint,
        RowFilter.build(query="ada").fingerprint,
        RowFilter.build(mask=_mask("call.status")).fingerprint,
        RowFilter.build(mask=_mask("phone_number")).fingerprint,
    }
    assert len(prints) == 8
    # ...and only those: order, case and blanks of the same filter are one filter.
    assert RowFilter.build(["completed", "calling"], query=" ADA ").fingerprint == (
        RowFilter.build(["calling", "completed"], query="ada").fingerprint
    )


@pytest.mark.parametrize("any_result", [None, "", "all"])
def test_any_result_is_no_result_filter(any_result: str | None) -> None:
    f = RowFilter.build(result=any_result)
    assert f.result is None and f.is_all
    assert f.fingerprint == RowFilter.build().fingerprint


def test_a_blank_query_is_no_query() -> None:
    assert RowFilter.build(query="   ").query is None
    assert RowFilter.build(query=" AdA ").query == "ada"


def test_from_request_reads_statuses_result_query_and_mask() -> None:
    req = pb.WatchCampaignRowsRequest(
        campaign_id="c", statuses=[row_pb2.CALL_STATUS_CALLING], result=pb.ROW_RESULT_FILTER_NONE,
        query="Ada", read_mask=FieldMask(paths=["call.status"]),
    )
    f = RowFilter.from_request(req)
    assert f.statuses == frozenset({"calling"})
    assert f.result == "none"
    assert f.query == "ada"
    assert f.mask.paths == ("call.status",)
    assert f.fingerprint == RowFilter.build(["calling"], "none", "Ada", _mask("call.status")).fingerprint


# --- matching a row -------------------------------------------------------------------


def test_matches_by_status_result_and_query() -> None:
    calling = RowFilter.build(["calling"])
    assert calling.matches(_row("calling"))
    assert not calling.matches(_row("completed", "human"))
    no_result = RowFilter.build(result="none")
    assert no_result.matches(_row("calling"))
    assert not no_result.matches(_row("completed", "human"))
    human = RowFilter.build(result="human")
    assert human.matches(_row("completed", "human"))
    assert not human.matches(_row("completed", "voicemail"))
    assert not human.matches(_row("calling"))


def test_the_query_looks_into_the_phone_number_and_nested_input_data() -> None:
    row = _row(input_data={"name": "Ada", "tags": ["VIP", {"city": "Paris"}], "n": None})
    assert RowFilter.build(query="612345").matches(row)
    assert RowFilter.build(query="vip").matches(row)
    assert RowFilter.build(query="PARIS").matches(row)
    assert not RowFilter.build(query="london").matches(row)
    assert not RowFilter.build(query="none").matches(row)  # a null is no text
    letters = _row(phone_number="+1-800-FLOWERS")  # vanity numbers keep their letters
    assert RowFilter.build(query="flowers").matches(letters)


# --- classifying a change ---------------------------------------------------------------


def test_with_no_filter_every_change_is_told_as_it_happened() -> None:
    f = RowFilter.build()
    assert f.classify(_change("added", "queued_for_calling")) == (ADDED, NONE)
    assert f.classify(_change("modified", "calling", prev=("queued_for_calling", None))) == (
        MODIFIED, NONE,
    )
    assert f.classify(_change("removed", "calling", prev=("calling", None))) == (REMOVED, DELETED)


def test_an_added_row_is_told_only_if_it_is_inside_the_filter() -> None:
    calling = RowFilter.build(["calling"])
    assert calling.classify(_change("added", "calling")) == (ADDED, NONE)
    assert calling.classify(_change("added", "queued_for_calling")) is None
    human = RowFilter.build(["completed"], "human")
    assert human.classify(_change("added", "completed", "human")) == (ADDED, NONE)
    assert human.classify(_change("added", "completed", "voicemail")) is None
    by_query = RowFilter.build(query="ada")
    assert by_query.classify(_change("added", "calling")) == (ADDED, NONE)
    stranger = _row("calling", input_data={"name": "Grace"}, phone_number="+1555")
    assert by_query.classify(_change("added", "calling", row=stranger)) is None


@pytest.mark.parametrize(
    ("prev", "new", "verdict"),
    [
        ("calling", "calling", (MODIFIED, NONE)),  # stays inside
        ("queued_for_calling", "calling", (ADDED, NONE)),  # enters
        ("calling", "completed", (REMOVED, LEFT)),  # leaves
        ("queued_for_calling", "completed", None),  # never inside
    ],
)
def test_a_modified_row_enters_stays_in_or_leaves_the_filter(
    prev: str, new: str, verdict: tuple[int, int] | None,
) -> None:
    f = RowFilter.build(["calling"])
    assert f.classify(_change("modified", new, prev=(prev, None))) == verdict


def test_a_result_filter_judges_before_and_after_by_their_own_results() -> None:
    f = RowFilter.build(result="none")
    assert f.classify(_change("modified", "completed", "human", prev=("calling", None))) == (
        REMOVED, LEFT,
    )
    g = RowFilter.build(result="human")
    assert g.classify(_change("modified", "completed", "human", prev=("calling", None))) == (
        ADDED, NONE,
    )
    assert g.classify(
        _change("modified", "completed", "human", prev=("completed", "voicemail"))
    ) == (ADDED, NONE)


def test_a_deleted_row_is_told_only_to_filters_it_was_inside() -> None:
    f = RowFilter.build(["calling"])
    assert f.classify(_change("removed", "calling", prev=("calling", None))) == (REMOVED, DELETED)
    assert f.classify(_change("removed", "completed", prev=("completed", "human"))) is None


def test_a_row_outside_the_query_is_never_told() -> None:
    f = RowFilter.build(["calling"], query="ada")
    stranger = _row("calling", input_data={"name": "Grace"}, phone_number="+1555")
    for kind, prev in (("modified", "queued_for_calling"), ("removed", "calling")):
        assert f.classify(_change(kind, "calling", prev=(prev, None), row=stranger)) is None


def test_a_masked_watch_hears_only_of_modifications_it_can_see() -> None:
    f = RowFilter.build(mask=_mask("call.status"))
    seen = _change("modified", "calling", prev=("queued_for_calling", None),
                   changed=("call.status",))
    unseen = _change("modified", "calling", prev=("calling", None), changed=("input_data.name",))
    unknown = _change("modified", "calling", prev=("calling", None), changed=None)
    assert f.classify(seen) == (MODIFIED, NONE)
    assert f.classify(unseen) is None
    assert f.classify(unknown) == (MODIFIED, NONE)  # unknown paths: told, never lost
    # entering, leaving and deletion are told whatever changed
    g = RowFilter.build(["calling"], mask=_mask("call.status"))
    enters = _change("modified", "calling", prev=("queued_for_calling", None),
                     changed=("input_data.name",))
    leaves = _change("modified", "completed", "human", prev=("calling", None),
                     changed=("input_data.name",))
    assert g.classify(enters) == (ADDED, NONE)
    assert g.classify(leaves) == (REMOVED, LEFT)
    assert g.classify(_change("added", "calling", changed=("input_data.name",))) == (ADDED, NONE)


def test_an_unmasked_watch_hears_of_every_modification() -> None:
    f = RowFilter.build()
    change = _change("modified", "calling", prev=("calling", None), changed=("input_data.name",))
    assert f.classify(change) == (MODIFIED, NONE)
