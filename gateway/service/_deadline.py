"""What an upstream read or a wait leaves of the caller's deadline, when something can still
answer after it (a stale copy, a recorded answer, CREATE_IN_FLIGHT)."""

from __future__ import annotations

__all__ = ["with_reserve"]

# 20 %, but at least half a second (a loaded event loop and the way back take that much;
# 20 % of a 1.5 s deadline did not always suffice), and never more than half.
_RESERVE_SHARE = 0.2
_RESERVE_MIN = 0.5


def with_reserve(timeout: float | None) -> float | None:
    """``timeout`` less the reserve kept to answer before the caller's deadline."""
    if timeout is None:
        return None
    return timeout - min(max(timeout * _RESERVE_SHARE, _RESERVE_MIN), timeout / 2)
