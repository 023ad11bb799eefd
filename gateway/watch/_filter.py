"""A watch's row filter and how a logged change looks through it.

Why here and not in SQL: every subscriber of a campaign shares one change
log; filters differ per subscriber, so a change is classified per filter
(ADDED when a row enters the filter, MODIFIED while it stays, REMOVED when it
leaves or is deleted upstream). The previous state comes from the log's
prev_status/prev_result; phone number and input data never change, so the
query part of the filter is evaluated on the row itself. A read mask rides
along: it shapes the rows sent and hides modifications of unmasked fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf.descriptor import Descriptor

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from ..convert import ReadMask, result_literal, status_literals
from ..store import Change, default_extractor

__all__ = ["RowFilter", "Verdict"]

ADDED = pb.ROW_CHANGE_TYPE_ROW_ADDED
MODIFIED = pb.ROW_CHANGE_TYPE_ROW_MODIFIED
REMOVED = pb.ROW_CHANGE_TYPE_ROW_REMOVED
LEFT = pb.ROW_REMOVAL_REASON_LEFT_FILTER
DELETED = pb.ROW_REMOVAL_REASON_DELETED
NO_REASON = pb.ROW_REMOVAL_REASON_UNSPECIFIED

ROW = cast(Descriptor, row_pb2.Row.DESCRIPTOR)

# (RowChangeType, RowRemovalReason) or None when the change is invisible.
Verdict = tuple[pb.RowChangeType, pb.RowRemovalReason] | None


def _text_values(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _text_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _text_values(v)
    elif value is not None:
        yield str(value)


@dataclass(frozen=True, slots=True)
class RowFilter:
    statuses: frozenset[str] | None  # None: any status
    result: str | None  # None: any; "none": no result yet
    query: str | None  # lower-cased substring
    fingerprint: str  # of the filters and the mask: what resume tokens are bound to
    mask: ReadMask = ReadMask.ALL  # the Row fields a subscriber receives

    @classmethod
    def build(
        cls, statuses: Iterable[str] = (), result: str | None = None, query: str | None = None,
        mask: ReadMask = ReadMask.ALL,
    ) -> RowFilter:
        st = frozenset(statuses) or None
        res = None if result in (None, "", "all") else result
        q = (query or "").strip().lower() or None
        parts: list[Any] = [sorted(st) if st else None, res, q]
        if mask.paths:  # unmasked watches keep the fingerprint (and tokens) they had
            parts.append(mask.fingerprint)
        canon = json.dumps(parts, separators=(",", ":"))
        fp = hashlib.sha256(canon.encode()).hexdigest()[:16]
        return cls(st, res, q, fp, mask)

    @classmethod
    def from_request(cls, req: pb.WatchCampaignRowsRequest) -> RowFilter:
        mask = ReadMask.of(req.read_mask, ROW)
        return cls.build(status_literals(req.statuses), result_literal(req.result), req.query, mask)

    @property
    def is_all(self) -> bool:
        return self.statuses is None and self.result is None and self.query is None

    def _query_ok(self, row: Mapping[str, Any]) -> bool:
        if self.query is None:
            return True
        phone = row.get("phone_number")
        if phone is not None and self.query in str(phone).lower():
            return True
        return any(self.query in v.lower() for v in _text_values(row.get("input_data")))

    def _state_ok(self, status: str | None, result: str | None) -> bool:
        if self.statuses is not None and status not in self.statuses:
            return False
        if self.result is None:
            return True
        if self.result == "none":
            return result is None
        return result == self.result

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.is_all:
            return True
        status, result = default_extractor(dict(row))
        return self._state_ok(status, result) and self._query_ok(row)

    def classify(self, change: Change) -> Verdict:
        verdict = self._classify(change)
        if verdict is not None and verdict[0] == MODIFIED and self.mask.paths:
            # A masked watch hears of a modification only if it can see it.
            return verdict if self.mask.touches(change.changed, ROW) else None
        return verdict

    def _classify(self, change: Change) -> Verdict:
        if self.is_all:
            if change.kind == "added":
                return (ADDED, NO_REASON)
            if change.kind == "removed":
                return (REMOVED, DELETED)
            return (MODIFIED, NO_REASON)
        if not self._query_ok(change.row):
            return None
        if change.kind == "added":
            return (ADDED, NO_REASON) if self._state_ok(change.status, change.result) else None
        prev = self._state_ok(change.prev_status, change.prev_result)
        if change.kind == "removed":
            return (REMOVED, DELETED) if prev else None
        new = self._state_ok(change.status, change.result)
        if new:
            return (MODIFIED, NO_REASON) if prev else (ADDED, NO_REASON)
        return (REMOVED, LEFT) if prev else None
