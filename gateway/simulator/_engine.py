"""The call lifecycle, driven by a heap of due events on the simulated clock.

Row (call order) lifecycle::

    initializing ──(2 s)──► queued_for_calling ──(slot free, window open)──► calling
         │                        ▲    │ window closed while waiting              │
         │ scheduled_at future    │    ▼                                          ▼
         └──────────────────► scheduled ◄──── voicemail / busy / no_answer ── attempt ends
                                              (after retry_delay_seconds)         │
                                    completed (answered: human, IVR, unknown, …) ◄┤
                                    errored (other dial errors, retries exhausted) ◄┘

Attempt lifecycle: ``queued`` → ``ringing`` → ``ongoing`` → ``completed``, or ``queued`` →
``ringing`` → ``error`` (dial error). After an answered attempt the row spends a few seconds in
``post_processing`` (transcript/structured output), which 0.1.1 shapes render as ``calling``;
its concurrency slot is freed only then, so ``calling`` rows never exceed the cap.

``max_retry_attempts`` counts retries: a call makes at most ``1 + max_retry_attempts`` attempts.

Only due events are touched, so 100,000 idle rows cost nothing per tick. Rows waiting for a
slot sit in a per-campaign FIFO (``Campaign.queue``), not in the heap.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from ._content import attempt_rng, plan_attempt, structured_output_for, transcript_for
from ._model import Attempt, Campaign, Row
from ._windows import PhoneInfo

__all__ = ["EVENT_HANDLERS", "INIT_DELAY_S", "RETRYABLE_DIAL_ERRORS", "Engine", "Event"]

INIT_DELAY_S = 2.0
RETRYABLE_DIAL_ERRORS = frozenset({"busy", "no_answer"})
_PENDING = frozenset({"initializing", "queued_for_calling", "scheduled"})

Handler = Callable[[Campaign, Row | None, int], None]
# A pending event with its handler named (the state file stores names, never code): due
# time, FIFO tie-break, handler name, campaign, row (None: campaign-level), row token.
Event = tuple[float, int, str, Campaign, Row | None, int]
# The handlers an event may name; a state file naming anything else is refused.
EVENT_HANDLERS = frozenset(
    {"_init", "_release", "_wake", "_ring", "_answer", "_hangup", "_post_processed"})


class Engine:
    def __init__(self, *, seed: int, phones: PhoneInfo, outcome_weights: dict[str, float],
                 ignore_windows: bool = False,
                 on_call_end: Callable[[Campaign, Row], None] | None = None) -> None:
        self.seed = seed
        self.phones = phones
        self.weights = outcome_weights
        self.ignore_windows = ignore_windows
        self.on_call_end = on_call_end
        self.now = 0.0
        self._heap: list[tuple[float, int, Handler, Campaign, Row | None, int]] = []
        self.next_seq = 0  # tie-break of events due at the same instant (FIFO)
        self.events_processed = 0

    # -- scheduling -----------------------------------------------------------------------
    def _at(self, when: float, handler: Handler, campaign: Campaign, row: Row | None = None,
            token: int = 0) -> None:
        heapq.heappush(self._heap, (when, self.next_seq, handler, campaign, row, token))
        self.next_seq += 1

    def pending_events(self) -> int:
        return len(self._heap)

    def events(self) -> list[Event]:
        """The pending events of live campaigns, handlers by name (for the state file)."""
        return [(when, seq, getattr(handler, "__name__", ""), campaign, row, token)
                for when, seq, handler, campaign, row, token in self._heap
                if not campaign.deleted]

    def restore_events(self, events: list[Event]) -> None:
        """Replace the pending events with ``events`` (a state file's); ValueError if one
        names an unknown handler."""
        heap: list[tuple[float, int, Handler, Campaign, Row | None, int]] = []
        for when, seq, name, campaign, row, token in events:
            if name not in EVENT_HANDLERS:
                raise ValueError(f"unknown engine event {name!r}")
            heap.append((when, seq, getattr(self, name), campaign, row, token))
        heapq.heapify(heap)
        self._heap = heap

    def change_mark(self) -> tuple[int, int, int]:
        """Differs whenever the pending events changed (pushed, processed or dropped)."""
        return self.events_processed, self.next_seq, len(self._heap)

    def next_event_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, t: float) -> int:
        """Process every event due at or before ``t``, in time order; returns the count."""
        heap = self._heap
        done = 0
        while heap and heap[0][0] <= t:
            when, _, handler, campaign, row, token = heapq.heappop(heap)
            if campaign.deleted:
                continue
            self.now = max(self.now, when)
            handler(campaign, row, token)
            done += 1
        self.now = max(self.now, t)
        self.events_processed += done
        return done

    # -- API-driven transitions ---------------------------------------------------------------
    def campaign_created(self, campaign: Campaign, now: float) -> None:
        self.now = max(self.now, now)
        self._at(now + INIT_DELAY_S, self._init, campaign)

    def cancel(self, campaign: Campaign, now: float) -> None:
        """Abort pending and queued calls; calls in progress finish on their own."""
        if campaign.is_cancelled:
            return
        campaign.is_cancelled = True
        campaign.updated_at = now
        for row in campaign.rows:
            if row.status in _PENDING:
                campaign.set_status(row, "cancelled", now)
        campaign.queue.clear()

    # -- event handlers -----------------------------------------------------------------------
    def _tz(self, campaign: Campaign, row: Row) -> str:
        if row.tz is None:
            row.tz = campaign.tz_override or self.phones.timezone_for(row.phone)
        return row.tz

    def _window_open(self, campaign: Campaign, row: Row, now: float) -> bool:
        return self.ignore_windows or campaign.windows.is_open(now, self._tz(campaign, row))

    def _init(self, campaign: Campaign, _row: Row | None, _token: int) -> None:
        now = self.now
        future = campaign.scheduled_at is not None and campaign.scheduled_at > now
        for row in campaign.rows:
            if row.status != "initializing":
                continue  # cancelled before initialisation
            if future:
                row.next_at = campaign.scheduled_at
                campaign.set_status(row, "scheduled", now)
        if future:
            assert campaign.scheduled_at is not None
            self._at(campaign.scheduled_at, self._release, campaign)
        else:
            self._release(campaign, None, 0)

    def _release(self, campaign: Campaign, _row: Row | None, _token: int) -> None:
        now = self.now
        campaign.released = True
        campaign.updated_at = now
        # Rows sharing a timezone share the window verdict: evaluate it once per zone.
        verdicts: dict[str, float] = {}
        for row in campaign.rows:
            if row.status not in ("initializing", "scheduled"):
                continue
            tz = self._tz(campaign, row)
            opens = verdicts.get(tz)
            if opens is None:
                opens = now if self.ignore_windows else campaign.windows.next_open(now, tz)
                verdicts[tz] = opens
            self._queue_or_wait(campaign, row, opens, now)
        self._dispatch(campaign)

    def _queue_or_wait(self, campaign: Campaign, row: Row, opens: float, now: float) -> None:
        if opens <= now:
            row.next_at = None
            campaign.set_status(row, "queued_for_calling", now)
            campaign.queue.append(row)
        else:
            row.next_at = opens
            campaign.set_status(row, "scheduled", now)
            self._at(opens, self._wake, campaign, row, row.token)

    def _wake(self, campaign: Campaign, row: Row | None, token: int) -> None:
        assert row is not None
        if row.token != token or row.status != "scheduled" or campaign.is_cancelled:
            return
        now = self.now
        opens = now if self.ignore_windows else campaign.windows.next_open(
            now, self._tz(campaign, row))
        self._queue_or_wait(campaign, row, opens, now)
        self._dispatch(campaign)

    def _dispatch(self, campaign: Campaign) -> None:
        now = self.now
        queue = campaign.queue
        while campaign.active < campaign.cap and queue and not campaign.is_cancelled:
            row = queue.popleft()
            if row.status != "queued_for_calling":
                continue
            if not self._window_open(campaign, row, now):
                # The window closed while the row waited for a slot.
                self._queue_or_wait(
                    campaign, row, campaign.windows.next_open(now, self._tz(campaign, row)), now)
                continue
            self._start_attempt(campaign, row, now)

    def _start_attempt(self, campaign: Campaign, row: Row, now: float) -> None:
        attempt = Attempt(f"att_{row.suffix}{len(row.attempts) + 1:02d}", now)
        rng = attempt_rng(self.seed, attempt.id)
        attempt.planned = plan_attempt(
            rng, self.weights, float(campaign.assistant.get("max_call_duration_secs") or 600))
        row.attempts.append(attempt)
        row.next_at = None
        campaign.active += 1
        campaign.set_status(row, "calling", now)
        self._at(now + attempt.planned["queue_s"], self._ring, campaign, row)

    def _ring(self, campaign: Campaign, row: Row | None, _token: int) -> None:
        assert row is not None
        attempt = row.attempts[-1]
        attempt.status = "ringing"
        attempt.started_at = self.now
        self._touch(campaign, row)
        self._at(self.now + attempt.planned["ring_s"], self._answer, campaign, row)

    def _answer(self, campaign: Campaign, row: Row | None, _token: int) -> None:
        assert row is not None
        attempt = row.attempts[-1]
        plan = attempt.planned
        if "dial_error" in plan:
            attempt.status = "error"
            attempt.dial_error = plan["dial_error"]
            attempt.ended_at = self.now
            attempt.ended_by = "system"
            self._end_attempt(campaign, row)
            return
        attempt.status = "ongoing"
        attempt.answered_at = self.now
        self._touch(campaign, row)
        self._at(self.now + plan["talk_s"], self._hangup, campaign, row)

    def _hangup(self, campaign: Campaign, row: Row | None, _token: int) -> None:
        assert row is not None
        attempt = row.attempts[-1]
        plan = attempt.planned
        result = plan["result"]
        rng = attempt_rng(self.seed, attempt.id + ":content")
        attempt.status = "completed"
        attempt.ended_at = self.now
        attempt.result = result
        attempt.transcript = transcript_for(rng, result, campaign.assistant, row.vars)
        if result == "human":
            attempt.structured_output = structured_output_for(
                rng, campaign.assistant, row.vars, attempt.transcript)
        attempt.recording_url = f"https://recordings.getrevox.com/sim/{attempt.id}.ogg"
        if plan.get("max_duration"):
            attempt.ended_by, attempt.end_reason = "system", None
        elif result == "human":
            attempt.ended_by, attempt.end_reason = "agent", "tool_end_call"
        elif result == "voicemail":
            attempt.ended_by, attempt.end_reason = "agent", "voicemail"
        elif result == "IVR":
            attempt.ended_by, attempt.end_reason = "agent", "ivr_no_navigate"
        else:
            attempt.ended_by, attempt.end_reason = "user", None
        campaign.set_status(row, "post_processing", self.now)
        self._at(self.now + plan["post_s"], self._post_processed, campaign, row)

    def _post_processed(self, campaign: Campaign, row: Row | None, _token: int) -> None:
        assert row is not None
        self._end_attempt(campaign, row)

    def _end_attempt(self, campaign: Campaign, row: Row) -> None:
        now = self.now
        attempt = row.attempts[-1]
        campaign.active -= 1
        retryable = attempt.result == "voicemail" or attempt.dial_error in RETRYABLE_DIAL_ERRORS
        max_retries = int(campaign.effective_retry.get("max_retry_attempts", 3))
        if retryable and campaign.is_cancelled:
            campaign.set_status(row, "cancelled", now)
        elif retryable and len(row.attempts) <= max_retries:
            tz = self._tz(campaign, row)
            delay = campaign.windows.retry_delay(now, tz)
            due = now + delay
            opens = due if self.ignore_windows else campaign.windows.next_open(due, tz)
            row.next_at = opens
            campaign.set_status(row, "scheduled", now)
            self._at(opens, self._wake, campaign, row, row.token)
        elif retryable or attempt.dial_error is not None:
            campaign.set_status(row, "errored", now)
        else:
            campaign.set_status(row, "completed", now)
        if row.status != "scheduled" and self.on_call_end is not None:
            self.on_call_end(campaign, row)
        self._dispatch(campaign)

    def _touch(self, campaign: Campaign, row: Row) -> None:
        # Attempt-level changes are visible in the row too.
        row.updated_at = campaign.updated_at = self.now
        if campaign.dirty is not None:
            campaign.dirty.add(row)

    def snapshot(self) -> dict[str, Any]:
        return {"pending_events": len(self._heap), "engine_now": self.now,
                "events_processed": self.events_processed}
