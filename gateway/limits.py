"""Load limits of one gateway process: what it refuses before it runs out of something.

Every refusal is RESOURCE_EXHAUSTED (``LimitExceeded``, ErrorInfo reason
``LIMIT_EXCEEDED`` with metadata ``cap``) with RetryInfo, and counts in
``revox_gateway_limit_refusals_total{cap}``. The caps (settings, ``LimitSettings``):

* ``watch_streams_per_key`` (1,000: a 1,000-subscriber dashboard fan-out on one key fits) and ``watch_streams`` (10,000): concurrent
  WatchCampaignRows streams of one API key, and of the process. A stream holds a queue
  (``subscriber_queue`` messages) and a task; one key must not take them all.
* watch admission (each stream's key must see the campaign) is cached per
  (key, campaign) for ``admission_ttl`` (5 s), and concurrent admissions share one GET:
  N streams opened at once cost one upstream read, not N. So a revoked key can still
  open a stream for up to that TTL; its streams then end at the next poll, which also
  checks the keys. A DeleteCampaign through the gateway drops the campaign's admissions
  (its id may be reused); a campaign deleted and recreated directly upstream within the
  TTL is noticed by its poller, as before.
* ``create_contacts`` (500,000): total contacts of the CreateCampaigns in flight. A
  100,000-contact create holds ~10 MB of request, its JSON body and the upstream's
  answer at once; the bound keeps a burst of large creates within memory.
* ``rate`` (per key, unary rpcs): a token bucket, ``rate_per_second`` (2,000) refilled,
  ``rate_burst`` (4,000) deep: a bound on abuse, above what one process serves on these machines; a key past it waits the RetryInfo delay.

All caps are per process, on purpose: each counts what *this* process holds (its
memory, its tasks, its streams), which is what a cap protects; sharing counts through
the database would put a write on every call. With several processes (``--workers`` or
replicas) the totals a client can reach are N times the caps: size them per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from .errors import LimitExceeded

__all__ = ["LimitSettings", "Limits", "attach", "limits_of"]

# Buckets/admissions kept before the idle ones are dropped (memory bound per process).
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class LimitSettings:
    """What ``Limits`` reads (fields of ``gateway.config.Settings``)."""

    max_watch_streams_per_key: int = 1000
    max_watch_streams: int = 10000
    admission_ttl: float = 5.0
    max_create_contacts: int = 500_000
    rate_per_second: float = 2000.0
    rate_burst: int = 4000


class Limits:
    """See module docstring. ``refused(cap)`` counts a refusal (metrics)."""

    def __init__(
        self, settings: LimitSettings, *, refused: Callable[[str], None] = lambda cap: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._refused = refused
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._creating = 0  # contacts of the creates in flight
        self._admitted: dict[tuple[str, str], tuple[float, asyncio.Future[str]]] = {}

    def _refuse(self, cap: str, message: str, retry_after: float) -> LimitExceeded:
        self._refused(cap)
        return LimitExceeded(message, cap=cap, retry_after=retry_after)

    # -- unary rate ---------------------------------------------------------------------

    def take(self, key: str) -> None:
        """One unary call of ``key`` (a tenant id): refused past its token bucket."""
        s, now = self.settings, self._clock()
        tokens, at = self._buckets.get(key, (float(s.rate_burst), now))
        tokens = min(float(s.rate_burst), tokens + (now - at) * s.rate_per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / s.rate_per_second
            raise self._refuse("rate", f"more than {s.rate_per_second:g} calls per second "
                               f"(burst {s.rate_burst}) with this API key; retry after "
                               f"{wait:.2f} s", wait)
        if len(self._buckets) >= _MAX_ENTRIES and key not in self._buckets:
            self._buckets.clear()  # every bucket refills within burst / rate seconds anyway
        self._buckets[key] = (tokens - 1.0, now)

    # -- creates in flight --------------------------------------------------------------

    @contextlib.contextmanager
    def creating(self, contacts: int) -> Iterator[None]:
        """Hold ``contacts`` of the in-flight budget while a create runs. One create is
        always admitted when nothing else is in flight, whatever its size."""
        cap = self.settings.max_create_contacts
        if self._creating and self._creating + contacts > cap:
            raise self._refuse("create_contacts", f"{self._creating} contacts are being "
                               f"created on this gateway, and {contacts} more would pass "
                               f"{cap}; retry shortly", 1.0)
        self._creating += contacts
        try:
            yield
        finally:
            self._creating -= contacts

    # -- watch streams ------------------------------------------------------------------

    def check_streams(self, of_key: int, total: int) -> None:
        """A new stream, given the open ones of its key and of the process."""
        s = self.settings
        if total >= s.max_watch_streams:
            raise self._refuse("watch_streams", f"this gateway already serves {total} watch "
                               "streams, its limit; retry shortly or use another replica", 5.0)
        if of_key >= s.max_watch_streams_per_key:
            raise self._refuse("watch_streams_per_key", f"this API key already has {of_key} "
                               "watch streams open on this gateway, its limit; close one "
                               "first", 5.0)

    async def admitted(
        self, api_key: str, campaign_id: str, admit: Callable[[], Awaitable[str]]
    ) -> str:
        """``admit()``'s answer, shared by the streams of (key, campaign) for
        ``admission_ttl`` seconds; a failure is not kept."""
        key, now = (api_key, campaign_id), self._clock()
        held = self._admitted.get(key)
        if held is None or (held[1].done() and now - held[0] >= self.settings.admission_ttl):
            if len(self._admitted) >= _MAX_ENTRIES:
                self._admitted = {k: v for k, v in self._admitted.items() if not v[1].done()}
            held = (now, asyncio.ensure_future(admit()))
            self._admitted[key] = held
            held[1].add_done_callback(lambda fut: self._forget_failure(key, fut))
        return await asyncio.shield(held[1])

    def forget(self, campaign_id: str) -> None:
        """Drop the admissions of a campaign (deleted through this gateway: its id may
        soon name another campaign, which every new stream must be admitted to afresh)."""
        for key in [k for k in self._admitted if k[1] == campaign_id]:
            del self._admitted[key]

    def _forget_failure(self, key: tuple[str, str], fut: asyncio.Future[str]) -> None:
        if (fut.cancelled() or fut.exception() is not None) and \
                self._admitted.get(key, (0.0, None))[1] is fut:
            del self._admitted[key]


# The limits a component (the watch hub) enforces, attached by ``gateway.app``: the
# hub's constructor stays as it is, and a hub without limits (unit tests) has none.
_ATTACHED: weakref.WeakKeyDictionary[object, Limits] = weakref.WeakKeyDictionary()


def attach(owner: object, limits: Limits) -> None:
    _ATTACHED[owner] = limits


def limits_of(owner: object) -> Limits | None:
    return _ATTACHED.get(owner)
