"""The simulated clock.

Simulated time is a float of POSIX seconds (UTC). Two modes:

* ``manual`` – time only moves when :meth:`SimClock.advance` is called. Tests use this so
  that the call lifecycle is deterministic and nothing depends on real sleeping.
* ``real`` – simulated time is ``start + speedup * real_elapsed + offset``; ``advance``
  adds to ``offset`` so that a user can still jump ahead (e.g. over a retry delay).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["SimClock", "format_ts", "parse_ts"]


class SimClock:
    """Simulated wall clock; see the module docstring for the two modes."""

    def __init__(self, *, mode: str, start: float, speedup: float) -> None:
        if mode not in ("manual", "real"):
            raise ValueError(f"clock mode must be 'manual' or 'real', not {mode!r}")
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        self.mode = mode
        self.start = start
        self.speedup = speedup
        self._offset = 0.0
        self._real_origin = time.monotonic()

    def now(self) -> float:
        if self.mode == "manual":
            return self.start + self._offset
        return self.start + self._offset + (time.monotonic() - self._real_origin) * self.speedup

    def resume_at(self, instant: float) -> None:
        """Continue from ``instant`` (a restored state's time): now() is ``instant`` at once
        and, with the real clock, runs on from there."""
        self.start = instant
        self._offset = 0.0
        self._real_origin = time.monotonic()

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the simulated clock cannot go backwards")
        self._offset += seconds
        return self.now()

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time (real mode)."""
        return simulated / self.speedup


def format_ts(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``: ``2026-03-02T09:00:00.000Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> float:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
