"""Value types of the watch change log (events, results, errors, extractor).

Split from ``_changelog`` to keep modules small; re-exported from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = [
    "Change",
    "ChangeKind",
    "CommitResult",
    "Extractor",
    "RevisionAhead",
    "RevisionCompacted",
    "Snapshot",
    "WatchState",
    "default_extractor",
]

ChangeKind = Literal["added", "modified", "removed"]
Extractor = Callable[[dict[str, Any]], tuple[str | None, str | None]]


def default_extractor(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(status, result) from ``row.call.status`` / ``row.call.last_call_attempt.result``."""
    status = result = None
    call = row.get("call")
    if isinstance(call, dict):
        if call.get("status") is not None:
            status = str(call["status"])
        attempt = call.get("last_call_attempt")
        if isinstance(attempt, dict) and attempt.get("result") is not None:
            result = str(attempt["result"])
    return status, result


class RevisionCompacted(Exception):
    """The requested revision's changes were compacted away; re-snapshot."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted; oldest resumable is {compacted_revision}")
        self.compacted_revision = compacted_revision


class RevisionAhead(Exception):
    """The requested revision is newer than anything this database committed."""

    def __init__(self, requested: int, current_revision: int) -> None:
        super().__init__(f"revision {requested} is ahead of current {current_revision}")
        self.requested = requested
        self.current_revision = current_revision


@dataclass(frozen=True, slots=True)
class Change:
    revision: int
    seq: int
    row_id: str
    kind: ChangeKind
    row: dict[str, Any]  # new row; for 'removed' the last known row
    status: str | None
    result: str | None
    prev_status: str | None  # None for 'added'
    prev_result: str | None
    committed_at: float
    # 'modified': the JSON paths (dotted, cut at lists) whose values differ from the
    # previous row; None when unknown (other kinds, or logged before schema v4).
    changed: tuple[str, ...] | None = None


class CommitResult(NamedTuple):
    revision: int  # current revision after the commit (unchanged if no changes)
    changes: list[Change]


class Snapshot(NamedTuple):
    revision: int
    rows: list[dict[str, Any]]  # ordered by row_id


class WatchState(NamedTuple):
    current_revision: int
    compacted_revision: int
    epoch: str
    last_polled_at: float | None
    terminal: bool
    # The poller's report of its last poll's failure (None: it succeeded): the same
    # ``upstream_degraded`` on every replica's heartbeats.
    degraded_detail: str | None = None
