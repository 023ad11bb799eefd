"""The task behind one watched campaign: poll it under the lease, or follow the log.

Why: replicas sharing a database must poll each campaign once, not once each, and
every replica's subscribers must still see every revision. So per campaign with
subscribers here, this task either

* holds the campaign's poller lease (``store._watch_lease``) and runs the
  :class:`~gateway.watch._poller.Poller` with it, renewing it every third of
  ``--lease-ttl``; every commit is fenced by the lease's epoch, so a poller that lost
  it gets ``LeaseLost`` and stops; or
* follows: the change log in the database is the truth, and a doorbell (``ring``:
  PostgreSQL NOTIFY, see ``_doorbell``; else a timer every ``follow_interval``) says
  when to read ``changes_since`` the last published revision. What it reads becomes
  the same :class:`~gateway.watch._events.Batch` objects the poller publishes, so
  streams cannot tell the two apart. It takes the lease as soon as it reads that
  it is free (released, or expired: a dead holder is replaced within the TTL), and
  tries anyway every third of the TTL.

On taking the lease it first reads what the previous holder committed (nobody else
can commit from then on), so the revisions it publishes stay contiguous. It gives
the lease up when it stops (last subscriber gone, shutdown, campaign final), so a
successor takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ..store import ChangeLog, LeaseLost, RevisionAhead, RevisionCompacted, WatchLease
from ._events import group
from ._state import CampaignState

__all__ = ["CampaignRunner"]

log = logging.getLogger(__name__)

_CATCH_UP_PAGE = 500

# Makes the poller's loop for a held lease.
PollerFactory = Callable[[WatchLease], Coroutine[Any, Any, None]]


class CampaignRunner:
    """See module docstring; ``run`` is the campaign's only task."""

    def __init__(
        self,
        state: CampaignState,
        *,
        changelog: ChangeLog,
        owner: str,
        ttl: float,
        follow_interval: float,
        clock: Callable[[], float],
        poll: PollerFactory,
        counters: dict[str, int] | None = None,
    ) -> None:
        """``counters``: the hub's; ``lease_takeovers`` counts leases taken from a holder
        that let its lease expire (the metrics read it)."""
        self.s = state
        self._log = changelog
        self._owner = owner
        self._ttl = ttl
        self._interval = follow_interval
        self._clock = clock
        self._poll_with = poll
        self._counters = counters if counters is not None else {}
        self._loop = asyncio.get_running_loop()
        # The holder's last poll when following began: ready once it polls again.
        self._first_poll: float | None = None
        self._following = False

    async def run(self) -> None:
        while True:
            await self._run_once()
            # Checked after the last await (the lease's release): a subscriber that came
            # meanwhile saw this task still running and started none; serve it.
            st = self.s
            if st.final or not any(key not in st.bad_keys for key in st.keys):
                return

    async def _run_once(self) -> None:
        lease: WatchLease | None = None
        try:
            while not self.s.final:
                lease = await self._take() or await self._follow()
                if lease is None:
                    return  # the campaign became final while following
                try:  # what the previous holder committed, before committing anything
                    await self._catch_up()
                except Exception as exc:  # streams read the gap from the log themselves
                    self._degraded(exc)
                if not await self._poll(lease):
                    return  # the poller finished (final, or no usable key left)
                lease = None  # lost it: follow whoever has it now
                self.s.lease_held = False
        finally:
            self.s.lease_held = False
            if lease is not None:
                with contextlib.suppress(Exception):
                    await self._log.release_lease(self.s.campaign_id, lease)

    # -- holding the lease ----------------------------------------------------------

    async def _take(self) -> WatchLease | None:
        self.s.lease_released = False
        try:
            lease = await self._log.take_lease(self.s.campaign_id, self._owner, ttl=self._ttl,
                                               now=self._clock())
        except Exception as exc:  # the database: keep following, try again later
            log.warning("watch lease of %s: %s", self.s.campaign_id, type(exc).__name__)
            return None
        if lease is not None:
            self.s.lease_held = True
            if lease.took_over:  # its holder never released it: died or stalled
                log.info("watch of %s: took over an expired poller lease", self.s.campaign_id)
                self._counters["lease_takeovers"] = self._counters.get("lease_takeovers", 0) + 1
        return lease

    async def _poll(self, lease: WatchLease) -> bool:
        """Poll until the lease is lost (True) or the poller finishes (False)."""
        polling = asyncio.ensure_future(self._poll_with(lease))
        renewing = asyncio.ensure_future(self._renew(lease))
        self.s.polling = True
        try:
            await asyncio.wait((polling, renewing), return_when=asyncio.FIRST_COMPLETED)
            if polling.done():
                if isinstance(polling.exception(), LeaseLost):
                    log.info("watch of %s: lease lost, following", self.s.campaign_id)
                    return True
                polling.result()  # anything else propagates
                return False
            log.info("watch of %s: lease not renewed, following", self.s.campaign_id)
            return True
        finally:
            self.s.polling = False
            for task in (polling, renewing):
                task.cancel()
            await asyncio.gather(polling, renewing, return_exceptions=True)

    async def _renew(self, lease: WatchLease) -> None:
        """Renew every third of the TTL; return once the lease is not ours any more (or
        could not be renewed for a whole TTL: someone else may hold it by now)."""
        renewed = self._loop.time()
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                if not await self._log.renew_lease(self.s.campaign_id, lease, ttl=self._ttl,
                                                   now=self._clock()):
                    return
                renewed = self._loop.time()
            except Exception as exc:
                log.warning("watch lease renewal of %s: %s", self.s.campaign_id,
                            type(exc).__name__)
                if self._loop.time() - renewed >= self._ttl:
                    return

    # -- following ------------------------------------------------------------------

    async def _follow(self) -> WatchLease | None:
        """Publish what the holder commits until this process takes the lease (returned)
        or the campaign is final (None)."""
        next_try = self._loop.time() + self._ttl / 3
        while True:
            await self._wait(min(self._interval, max(0.0, next_try - self._loop.time())))
            try:
                self._following = True
                await self._catch_up()
            except Exception as exc:
                self._degraded(exc)
            finally:
                self._following = False
            if self.s.final:
                return None
            if self.s.lease_released or self._loop.time() >= next_try \
                    or await self._free():
                lease = await self._take()
                if lease is not None:
                    return lease
                next_try = self._loop.time() + self._ttl / 3

    async def _free(self) -> bool:
        """The holder released the lease, or it expired (a read, unlike taking it)."""
        try:
            return await self._log.lease_is_free(self.s.campaign_id, now=self._clock())
        except Exception:
            return False  # the database: _follow's reads report it

    async def _wait(self, seconds: float) -> None:
        wake = self.s.wake
        if not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

    async def _catch_up(self) -> None:
        """Publish every revision after the last published one, in order."""
        st, cid = self.s, self.s.campaign_id
        while True:
            try:
                changes = await self._log.changes_since(cid, st.revision, limit=_CATCH_UP_PAGE)
            except RevisionCompacted as exc:
                st.revision = exc.compacted_revision  # streams behind it learn from the log
                continue
            except RevisionAhead as exc:
                st.revision = exc.current_revision  # the log started over (campaign recreated)
                continue
            if not changes:
                break
            for batch in group(changes):
                st.publish(batch)
        if self._following:
            await self._followed()

    async def _followed(self) -> None:
        """What a follower tells streams: ready once the holder polled since (a poll
        succeeded somewhere, as the poller's ``ready`` means here), degraded while the
        holder reports its polls failing, final when marked."""
        st = self.s
        state = await self._log.state(st.campaign_id)
        if self._first_poll is None:
            self._first_poll = state.last_polled_at or -1.0
        polled = state.last_polled_at is not None and state.last_polled_at != self._first_poll
        if polled:
            st.last_poll_time = state.last_polled_at
        was = (st.degraded, st.detail)
        # The holder's own trouble (upstream failing), as its subscribers are told it.
        trouble = state.degraded_detail
        st.degraded, st.detail = trouble is not None, trouble or ""
        if state.terminal:
            st.final = True
        if (polled and not st.ready.is_set()) or (was[0] and not st.degraded) or st.final:
            st.ready.set()
            st.notify_all()
        elif (st.degraded, st.detail) != was:
            st.notify_all()  # streams send a heartbeat saying so

    def _degraded(self, exc: Exception) -> None:
        if not self.s.degraded:  # once per outage, not once per read
            log.warning("watch of %s: reading the change log failed: %s", self.s.campaign_id,
                        type(exc).__name__)
        self.s.degraded = True
        self.s.detail = f"gateway error while reading the change log: {type(exc).__name__}"
        self.s.notify_all()
