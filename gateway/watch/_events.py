"""Shared per-revision batches and the per-subscriber mailbox.

Why: with 1,000 subscribers on one campaign, building a Row message per
subscriber per change would dominate commit-to-delivery latency. A
:class:`Batch` holds one committed revision; it decodes each row once and
memoises the finished response messages per filter fingerprint, so every
subscriber with the same filter yields the very same (immutable, never
mutated) message objects, serialized once: a gRPC stream sends those bytes
as they are, so 1,000 subscribers cost one encoding. The :class:`Mailbox` is bounded: on overflow it
drops everything and flags the subscriber, which then catches up from the
durable log instead of holding memory or slowing the poller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from ..convert import decode, number_of
from ..store import Change
from ._filter import MODIFIED, RowFilter
from ._token import Position

__all__ = ["Batch", "Entry", "Mailbox", "TokenFn", "timestamp"]

_STATUS = row_pb2.CallStatus.DESCRIPTOR
_RESULT = row_pb2.CallResult.DESCRIPTOR

TokenFn = Any  # Callable[[Position], str]
# (seq, message, its serialized bytes): a stream yields whichever its consumer wants.
Entry = tuple[int, pb.WatchCampaignRowsResponse, bytes]


def timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


class Batch:
    """The changes of one committed revision, shared by every subscriber."""

    __slots__ = ("revision", "changes", "committed_at", "end", "_rows", "_by_fp", "_ts")

    def __init__(self, revision: int, changes: Sequence[Change], committed_at: float) -> None:
        self.revision = revision
        # The position after the whole revision, shared: one object, not one per subscriber.
        self.end = Position(revision)
        self.changes = changes
        self.committed_at = committed_at
        self._rows: list[row_pb2.Row | None] = [None] * len(changes)
        self._by_fp: dict[str, list[Entry]] = {}
        self._ts = timestamp(committed_at)

    def _row(self, i: int) -> row_pb2.Row:
        msg = self._rows[i]
        if msg is None:
            msg = self._rows[i] = decode(self.changes[i].row, row_pb2.Row)
        return msg

    def responses(self, flt: RowFilter, token: TokenFn) -> list[Entry]:
        """The entries of the changes visible through ``flt``, memoised per filter."""
        out = self._by_fp.get(flt.fingerprint)
        if out is not None:
            return out
        out = []
        for i, ch in enumerate(self.changes):
            verdict = flt.classify(ch)
            if verdict is None:
                continue
            kind, reason = verdict
            rc = pb.RowChange(type=kind, row=flt.mask.project(self._row(i)), removal_reason=reason)
            if kind == MODIFIED:
                if ch.prev_status is not None:
                    rc.previous_status = cast(row_pb2.CallStatus, number_of(_STATUS, ch.prev_status))
                    rc.previous_status_raw = ch.prev_status
                if ch.prev_result is not None:
                    rc.previous_result = cast(row_pb2.CallResult, number_of(_RESULT, ch.prev_result))
                    rc.previous_result_raw = ch.prev_result
            resp = pb.WatchCampaignRowsResponse(
                resume_token=token(Position(self.revision, ch.seq)),
                revision=self.revision,
                commit_time=self._ts,
                row_change=rc,
            )
            out.append((ch.seq, resp, resp.SerializeToString()))
        self._by_fp[flt.fingerprint] = out
        return out


def group(changes: Sequence[Change]) -> list[Batch]:
    """Split a ``changes_since`` page into per-revision batches (log catch-up path)."""
    out: list[Batch] = []
    start = 0
    for i in range(1, len(changes) + 1):
        if i == len(changes) or changes[i].revision != changes[start].revision:
            part = changes[start:i]
            out.append(Batch(part[0].revision, part, part[0].committed_at))
            start = i
    return out


class Mailbox:
    """Bounded queue of batches of one subscriber, plus its control flags."""

    __slots__ = ("api_key", "maxsize", "_items", "_waiter", "_timer", "overflowed", "error",
                 "notified")

    def __init__(self, api_key: str, maxsize: int) -> None:
        self.api_key = api_key
        self.maxsize = max(1, maxsize)
        self._items: list[Batch] = []  # a deque's first block alone is ~600 bytes
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.overflowed = False
        self.error: BaseException | None = None
        self.notified = False  # campaign state changed (ready, degraded, final)

    def push(self, batch: Batch) -> None:
        if self.error is not None or self.overflowed:
            return
        if len(self._items) >= self.maxsize:
            self.overflowed = True
            self._items.clear()
        else:
            self._items.append(batch)
        self._wake()

    def notify(self) -> None:
        self.notified = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pending(self) -> bool:
        return bool(self._items) or self.overflowed or self.error is not None or self.notified

    def _due(self, batches: bool) -> bool:
        if batches:
            return self.pending()
        return self.error is not None or self.notified

    async def wait(self, timeout: float, *, batches: bool = True) -> bool:
        """True when something is pending, False once ``timeout`` has passed.

        ``batches=False``: queued batches do not end the wait, only a notification or an
        error do (a stream not live yet reads them from the log later). Without it, a
        stream waiting for the campaign to be ready while batches are queued would get
        True at once, forever, without ever yielding to the loop: a follower replica
        publishes what the holder committed before it tells its streams the campaign is
        ready, and its own event loop would never get there."""
        if self._due(batches):
            return True
        # One timer per mailbox, kept across waits, not one per wait: every subscriber
        # waits here once per revision, and at 1,000 subscribers a timer armed and
        # cancelled per wait (or asyncio.wait_for) is 1,000 timer handles per revision,
        # left in the loop's heap until it is swept (garbage that lives long enough to
        # be promoted). The heartbeat deadline only moves later between waits, so the
        # timer left from an earlier wait fires early at worst: then it is re-armed here.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            timer = self._timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(deadline, self._ring)
            fut: asyncio.Future[None] = loop.create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                self._waiter = None
            if self._due(batches):
                return True
            if loop.time() >= deadline:
                return False

    def _ring(self) -> None:
        self._timer = None
        self._wake()

    def close(self) -> None:
        """The stream is over: drop its timer (the loop would hold the mailbox till then)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def take(self) -> list[Batch]:
        items, self._items = self._items, []
        self.notified = False
        return items

    def reset(self) -> None:
        """Clear an overflow before catching up (still registered, so nothing is lost)."""
        self.overflowed = False
        self._items.clear()
