"""In-memory records: campaigns, rows (one call order each) and call attempts.

Rows use ``__slots__`` because a campaign may hold 100,000 of them. A row's ``status`` is
its call's status and is only ever changed through :meth:`Campaign.set_status`, which keeps
the per-campaign counters behind ``row_stats`` exact (row_stats are O(1) to render and can
never disagree with the rows).

Internal call statuses are a superset of the 0.1.1 literals: ``post_processing`` (a short
phase after an attempt ends, rendered as ``calling`` in 0.1.1 shapes) exists so the drift
mode can show SDK 0.5.0's literal without a different engine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._windows import WindowSet

__all__ = [
    "ACTIVE",
    "Received",
    "TERMINAL",
    "Attempt",
    "Campaign",
    "Row",
    "bucket_of",
]

TERMINAL = frozenset({"completed", "cancelled", "errored"})
ACTIVE = frozenset({"calling", "post_processing"})


def bucket_of(status: str, attempted: bool) -> str:
    """The row_stats bucket of a call status (documented in the package docstring)."""
    if status in ACTIVE:
        return "calling"
    if status == "completed":
        return "completed"
    if status in ("errored", "cancelled"):
        return "failed"
    if status == "scheduled" and attempted:
        return "retry"
    return "pending"  # initializing, queued_for_calling, scheduled before any attempt


@dataclass(frozen=True)
class Received:
    """One API request as the simulator received it (tests read what was really sent)."""

    method: str
    path: str
    query: str
    body: bytes


class Attempt:
    __slots__ = (
        "answered_at",
        "dial_error",
        "end_reason",
        "ended_at",
        "ended_by",
        "id",
        "planned",
        "queued_at",
        "recording_url",
        "result",
        "started_at",
        "status",
        "structured_output",
        "transcript",
    )

    def __init__(self, attempt_id: str, queued_at: float) -> None:
        self.id = attempt_id
        self.status = "queued"
        self.queued_at = queued_at
        self.started_at: float | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.result: str | None = None
        self.dial_error: str | None = None
        self.end_reason: str | None = None
        self.ended_by: str | None = None
        self.transcript: list[dict[str, Any]] | None = None
        self.structured_output: dict[str, Any] | None = None
        self.recording_url: str | None = None
        # The outcome drawn when the attempt was placed; revealed phase by phase.
        self.planned: dict[str, Any] = {}


class Row:
    __slots__ = (
        "attempts",
        "counted",
        "haystack",
        "id",
        "index",
        "next_at",
        "phone",
        "status",
        "token",
        "tz",
        "updated_at",
        "vars",
    )

    def __init__(self, index: int, row_id: str, phone: str, variables: dict[str, str],
                 now: float) -> None:
        self.index = index
        self.id = row_id
        self.phone = phone
        self.vars = variables
        self.tz: str | None = None
        self.status = "initializing"
        self.attempts: list[Attempt] = []  # oldest first; rendered most recent first
        # Bumped on every transition so stale heap events for this row are ignored.
        self.token = 0
        self.next_at: float | None = None
        self.counted = ("initializing", False)
        self.haystack: str | None = None
        self.updated_at = now

    @property
    def suffix(self) -> str:
        return self.id[4:]

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def search_text(self) -> str:
        if self.haystack is None:
            self.haystack = "\x1f".join([self.phone, *self.vars.values()]).lower()
        return self.haystack


@dataclass(eq=False)
class Campaign:
    id: str
    org_id: str
    name: str
    assistant: dict[str, Any]
    retry_config: dict[str, Any] | None  # as given on create (None: not given)
    effective_retry: dict[str, Any]  # campaign's, else assistant's, else defaults
    windows: WindowSet
    tz_override: str | None
    from_phone_number: str | None
    max_concurrent_calls: int | None
    cap: int
    scheduled_at: float | None
    created_at: float
    updated_at: float
    rows: list[Row] = field(default_factory=list)
    counts: dict[tuple[str, bool], int] = field(default_factory=dict)
    is_cancelled: bool = False
    deleted: bool = False
    released: bool = False  # scheduled_at reached (or none): calls may be placed
    active: int = 0
    queue: deque[Row] = field(default_factory=deque)
    terminal: int = 0
    seq: int = 0  # creation order, for listing newest first
    # Rows changed since the state file last saved them (see _persistence); None when no
    # state file tracks this campaign (or it must be rewritten whole), so it costs nothing.
    dirty: set[Row] | None = None

    def set_status(self, row: Row, status: str, now: float) -> None:
        old = row.counted
        new = (status, bool(row.attempts))
        row.status = status
        row.token += 1
        row.updated_at = now
        self.updated_at = now
        if self.dirty is not None:
            self.dirty.add(row)
        if old != new:
            counts = self.counts
            counts[old] -= 1
            counts[new] = counts.get(new, 0) + 1
            row.counted = new
            if (old[0] in TERMINAL) != (new[0] in TERMINAL):
                self.terminal += 1 if new[0] in TERMINAL else -1

    def row_stats(self) -> dict[str, int]:
        stats = {"calling": 0, "completed": 0, "failed": 0, "pending": 0, "retry": 0}
        for (status, attempted), n in self.counts.items():
            if n:
                stats[bucket_of(status, attempted)] += n
        stats["total"] = len(self.rows)
        return stats

    def status_at(self, now: float) -> str:
        if self.rows and self.terminal == len(self.rows):
            return "completed"
        if not self.is_cancelled and not self.released and self.scheduled_at is not None \
                and now < self.scheduled_at:
            return "draft"
        return "running"
