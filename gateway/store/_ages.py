"""How old a pending idempotency row is, on a clock a wall-clock step cannot move.

Why: the reconcile grace (``release_unknown``) and ``pending_timeout`` guard against a
duplicate campaign: a retry may create again only once the lost attempt is old enough
that the upstream cannot still be committing it. Rows carry wall-clock times (epoch
seconds; other processes read them), but a wall clock steps: forward by hours (NTP
after a VM resumed), and every pending row would look old at once and be created again
while the upstream may still commit the first; backward, and every row would look
younger than zero for hours, its request_id stuck.

So an age is the row's wall-clock age *when this process first saw it* (its own
attempts: 0 when they start; a row an earlier process left: what the wall clock says
then, never below 0) plus the time since on the *duration* clock (monotonic). Steps
while the process runs change nothing; only a step between an attempt and a restart
is believed, once, when the new process first reads the row.

Memory: one entry per request this process saw pending, dropped when it ends (done,
aborted, settled, released); at most ``cap`` requests (the oldest seen goes first:
forgetting one only makes its next age restart from its wall-clock age).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["Ages", "duration_clock"]

Request = tuple[str, str]  # (tenant, request_id)


def duration_clock(wall: Callable[[], float]) -> Callable[[], float]:
    """The clock ages advance on beside ``wall``: ``time.monotonic`` beside the real
    wall clock; an injected clock's own ``monotonic`` attribute when it has one (a test
    that steps the wall and lets time pass on its own); else the injected clock itself
    (tests that move one clock to make time pass)."""
    companion = getattr(wall, "monotonic", None)
    if callable(companion):
        return companion  # type: ignore[no-any-return]
    return time.monotonic if wall is time.time else wall


class Ages:
    """Step-proof ages of the pending rows this process has seen (module docstring)."""

    def __init__(self, wall: Callable[[], float], monotonic: Callable[[], float] | None = None,
                 *, cap: int = 10_000) -> None:
        self._wall = wall
        self._duration = monotonic or duration_clock(wall)
        self._cap = cap
        # request -> {(what, wall stamp): (age when first seen, duration clock then)}
        self._seen: OrderedDict[Request, dict[tuple[str, float], tuple[float, float]]] = (
            OrderedDict())

    def started(self, request: Request, stamp: float) -> None:
        """This process wrote ``stamp`` (created and updated) just now: age 0."""
        now = self._duration()
        self._entries(request).update({("created", stamp): (0.0, now),
                                       ("updated", stamp): (0.0, now)})

    def age(self, request: Request, stamp: float, what: str = "created") -> float:
        """Seconds since ``stamp`` (the row's ``created_at`` or ``updated_at``, by
        ``what``), counted on the duration clock since this process first saw it."""
        entries = self._entries(request)
        first = entries.get((what, stamp))
        if first is None:
            first = entries[(what, stamp)] = (max(0.0, self._wall() - stamp), self._duration())
        age0, since = first
        return age0 + max(0.0, self._duration() - since)

    def forget(self, request: Request) -> None:
        self._seen.pop(request, None)

    def __len__(self) -> int:
        return len(self._seen)

    def _entries(self, request: Request) -> dict[tuple[str, float], tuple[float, float]]:
        entries = self._seen.get(request)
        if entries is None:
            entries = self._seen[request] = {}
            while len(self._seen) > self._cap:
                self._seen.popitem(last=False)
        return entries
