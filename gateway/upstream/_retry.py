"""Retry policy for upstream calls: which failures to retry and how long to wait.

The policy only computes delays; the client owns the loop, because only it knows the caller's
deadline and whether the request may already have reached the server.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_STATUSES",
    "RandomSource",
    "RetryPolicy",
    "parse_retry_after",
]

#: Statuses worth retrying for idempotent requests: transient overload or a bad hop.
RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
#: Statuses whose Retry-After header is honoured (RFC 9110 §10.2.3 names 503 and 3xx; 429 is
#: RFC 6585). Other statuses' Retry-After is ignored.
RETRY_AFTER_STATUSES: frozenset[int] = frozenset({429, 503})


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in [0, 1), e.g. ``random.Random(seed)``."""

    def random(self) -> float: ...


# A private instance so seeding the global ``random`` elsewhere can't synchronise jitter
# across processes (which would defeat its purpose).
_DEFAULT_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter").

    ``max_attempts`` counts the first try, so 1 disables retries. ``max_retry_after`` bounds how
    long an upstream Retry-After may make us wait when the caller has no deadline: beyond it we
    surface the RateLimited/ServerError (with its retry_after) rather than hold a request open.
    """

    max_attempts: int = 4
    base_delay: float = 0.05
    max_delay: float = 2.0
    rng: RandomSource | None = field(default=None, compare=False)
    max_retry_after: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not (self.base_delay >= 0 and self.max_delay >= 0 and self.max_retry_after >= 0):
            raise ValueError("delays must be >= 0")

    def backoff(self, attempt: int) -> float:
        """Delay before the retry that follows failed attempt number ``attempt`` (1-based)."""
        # Cap the exponent too, so a large attempt count can't overflow the float.
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** min(attempt - 1, 62)))
        rng = self.rng if self.rng is not None else _DEFAULT_RNG
        return ceiling * rng.random()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a Retry-After header into seconds to wait, or None if absent or unparseable.

    Accepts delay-seconds (``"120"``; fractions tolerated) and an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``); a date in the past means "retry now" (0.0).
    ``now`` is the wall-clock time (``time.time()``) to measure a date against.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # NaN/inf or negative values are protocol violations; ignore them rather than sleep
        # forever or crash.
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None instead of raising
        return None
    if when.tzinfo is None:
        # "-0000" parses as naive; HTTP dates are always UTC, never local time.
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
