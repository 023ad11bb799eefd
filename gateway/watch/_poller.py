"""One single-flight poller per watched campaign.

Why one: upstream load must not grow with the number of subscribers. Each cycle
lists rows by status, feeds every page to the change log (which keeps only rows
that may have changed), commits what changed as ONE revision, then publishes
that revision to every mailbox. Upstream faults only back off and flag the
campaign degraded; they never end streams. A key that lost access is replaced
by another admitted subscriber's key, and the streams admitted with it end with
the access error (they must not keep reading).

What a cycle lists. Polling sees states, not transitions: a change is seen when
the row's new status is listed (the row shows up, its digest differs) or its old
one was (the row is *missing*: looked up). So each cycle leaves out statuses
whose rows cannot change status unseen:

* by default the terminal ones (completed/cancelled/errored): they are final;
* while more rows wait in ``queued_for_calling`` (or ``scheduled``) than are
  terminal - a campaign's first hours - that status is *parked* instead and the
  terminal ones are listed: a waiting row can only move to a listed status
  (calling, scheduled/queued, cancelled on a campaign cancel, or terminal after
  a call too short to be seen in ``calling``), so a ~1% listing misses nothing.
  Not done while any row shows an undocumented literal (it could move to one),
  nor once the upstream refused the terminal literals (400).

A literal the API reference does not document (a newer API's, or one renamed) is
listed from the cycle after a row first shows it, and its rows are followed like
active ones (looked up when missing): whether it is final is unknown. It holds a
done campaign back from being final for a few quiet checks only, and it is left to
the sweeps once the upstream refused it in a filter (400) or it holds more than a
page of rows. On an upstream known to answer in the
newer shapes (unpaged rows), a parked listing lists its ``not_launched`` too: a
campaign's cancel moves waiting rows there.

What is left to the periodic full sweep, as before: content-only changes of an
unlisted row (none in the simulator), and a literal no row ever showed before.

Rows missing from a listing are looked up (``query`` = phone), a few requests at
a time, per cycle at most as many as a full sweep has pages (the alternative;
at least ``_LOOKUP_LIMIT``). The rest wait one cycle, first in line then, so a
final status is at most one cycle late. A row not found (deleted), no phone to
look it up by, or more overdue rows than the budget: an immediate full sweep.
One runs every ``full_sweep_every`` polls anyway (the safety net).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from .. import upstream as up
from ..config import WatchSettings
from ..errors import CampaignRecreated
from ..observability import WatchMetrics, forget_request_id
from ..store import (
    ChangeLog,
    CommitResult,
    LeaseLost,
    PollDiff,
    RevisionCompacted,
    WatchLease,
    incarnation_of_answer,
)
from ..store._errors import unreachable
from ._events import Batch, group
from ._state import CampaignState

__all__ = ["ACTIVE_STATUSES", "TERMINAL_STATUSES", "Poller"]

log = logging.getLogger(__name__)

ACTIVE_STATUSES = (
    "initializing", "queued_for_calling", "calling", "scheduled", "post_processing", "paused"
)
# The documented terminal literals of ``call.status`` (API reference, Get Rows).
TERMINAL_STATUSES = ("completed", "cancelled", "errored")
# Final in SDK 0.5.0's API (rows of a cancelled campaign that were never called); an
# upstream of the reference's version refuses it in a filter, so it is only listed once
# the upstream answered in the newer shapes.
_DRIFT_TERMINAL = ("not_launched",)
_KNOWN = frozenset(ACTIVE_STATUSES + TERMINAL_STATUSES + _DRIFT_TERMINAL)
# Waiting statuses: a row in one changes only by leaving it (see module docstring).
_PARKABLE = ("queued_for_calling", "scheduled")
# The 0.1.1 API rejects literals it does not know (400), so the active poll
# starts with these and adds newer non-terminal literals once rows show them.
_BASE_ACTIVE = ACTIVE_STATUSES[:4]
_PAGE = 1000
_LOOKUP_LIMIT = 25  # lookup budget of small campaigns (a sweep of 1 page)
_LOOKUP_CONCURRENCY = 8
_MISSED_PAGE = 500
_ODD_HOLD = 10  # quiet finality checks (3 polls apart) held for undocumented literals
_ACCESS_ERRORS = (up.Unauthenticated, up.NotFound, up.PermissionDenied)


def _followed(status: str | None) -> bool:
    """Rows in ``status`` may still change: a known active literal or an undocumented one."""
    return status is not None and (status in ACTIVE_STATUSES or status not in _KNOWN)


def _status_of(row: dict[str, Any]) -> str | None:
    call = row.get("call")
    status = call.get("status") if isinstance(call, dict) else None
    return status if isinstance(status, str) else None


class _Observed:
    """One cycle's observations: the change-log poll and each row's (status, phone)."""

    __slots__ = ("deferred", "diff", "outside", "rows")

    def __init__(self, diff: PollDiff) -> None:
        self.diff = diff
        self.rows: dict[str, tuple[str | None, str]] = {}
        self.outside = False  # a row outside the listed statuses came back
        self.deferred: set[str] = set()  # missing rows left for the next cycle


class Poller:
    """The polling loop of one campaign; ``run`` is its only task."""

    def __init__(
        self,
        state: CampaignState,
        *,
        client: up.RevoxClient,
        changelog: ChangeLog,
        settings: WatchSettings,
        clock: Callable[[], float],
        counters: dict[str, int],
        observer: WatchMetrics | None = None,
        lease: WatchLease | None = None,
    ) -> None:
        """``lease``: commit only under it (``LeaseLost`` ends ``run``: see ``_replica``)."""
        self.s = state
        self._lease = lease
        self._observer = observer
        self._client = client
        self._log = changelog
        self._settings = settings
        self._clock = clock
        self._counters = counters
        self._timeout = settings.upstream_timeout
        # row id -> (status, phone) of rows last seen non-terminal
        self._active: dict[str, tuple[str, str]] = {}
        # rows last seen with an undocumented status (followed too) or none: (status, phone)
        self._odd: dict[str, tuple[str | None, str]] = {}
        self._refused: set[str] = set()  # literals the upstream refused as a filter
        self._accepted: set[str] = set()  # literals of listings the upstream answered
        self._crowded: set[str] = set()  # undocumented literals of more than a page of rows
        self._held = 0  # finality checks held back by rows under undocumented literals
        self._drifted = False  # the upstream answered rows unpaged (SDK 0.5.0)
        self._total = 0  # rows seen by the last full sweep
        self._deferred: set[str] = set()  # missing rows whose lookup waits for this cycle
        self._can_park = True
        self._polls = 0
        self._cycle_requests = 0
        self._key: str | None = None
        self._statuses: tuple[str, ...] = _BASE_ACTIVE
        self._reported: str | None = None  # the trouble followers were told of (None: none)

    # -- upstream -------------------------------------------------------------

    def _pick_key(self) -> str:
        if self._key is not None and self._key in self.s.keys and self._key not in self.s.bad_keys:
            return self._key
        for key in self.s.keys:
            if key not in self.s.bad_keys:
                self._key = key
                return key
        raise LookupError("no usable key")

    async def _get(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._counters["upstream_requests"] += 1
        self._cycle_requests += 1
        result: dict[str, Any] = await fn(*args, timeout=self._timeout, **kwargs)
        return result

    async def _list(self, key: str, statuses: tuple[str, ...], obs: _Observed) -> bool:
        """Feed every page of a listing to ``obs``; True if the answer was unpaged (drift)."""
        count = page = 0
        while True:
            body = await self._get(
                self._client.get_rows, key, self.s.campaign_id,
                page=page, page_size=_PAGE, statuses=statuses,
            )
            got = body.get("rows") or []
            await self._observe(obs, got, statuses)
            if up.unpaged(body):
                self._drifted = True
                return True  # a drifted API ignores paging: this was the whole listing
            count += len(got)
            total = body.get("total")
            if len(got) < _PAGE or (isinstance(total, int) and count >= total):
                if isinstance(total, int) and count < total and (page == 0 or not statuses):
                    # Never conclude "no rows" (or, in a full sweep, "these rows are gone")
                    # while the upstream's own total says otherwise: degrade, poll again.
                    raise up.MalformedResponse(
                        f"rows listing ended after {count} rows while total is {total}",
                        method="GET", path=f"/campaigns/{self.s.campaign_id}/rows",
                    )
                return False
            page += 1

    async def _observe(
        self, obs: _Observed, rows: list[dict[str, Any]], listed: tuple[str, ...] = ()
    ) -> None:
        seen = obs.rows
        for row in rows:
            status = _status_of(row)
            if listed and status not in listed:
                obs.outside = True
            phone = str(row.get("phone_number") or "") if _followed(status) else ""
            seen[str(row.get("id"))] = (status, phone)
        await self._log.observe(obs.diff, rows)

    async def _lookup(self, key: str, row_id: str, phone: str) -> dict[str, Any] | None:
        body = await self._get(
            self._client.get_rows, key, self.s.campaign_id, page=0, page_size=_PAGE, query=phone
        )
        for row in body.get("rows") or []:
            if str(row.get("id")) == row_id:
                return dict(row)
        return None

    async def _look_up_all(self, key: str, ids: list[str]) -> list[dict[str, Any]] | None:
        """The rows, looked up a few at a time; None as soon as one is not found."""
        found: dict[str, dict[str, Any]] = {}
        todo = iter(ids)
        gone = False

        async def worker() -> None:
            nonlocal gone
            for rid in todo:
                if gone:
                    return
                row = await self._lookup(key, rid, self._phone(rid))
                if row is None:
                    gone = True
                    return
                found[rid] = row

        n = min(_LOOKUP_CONCURRENCY, len(ids))
        workers = [asyncio.ensure_future(worker()) for _ in range(n)]
        try:
            await asyncio.gather(*workers)  # the first failure propagates as itself
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return None if gone else [found[rid] for rid in ids]  # listing order: deterministic

    # -- one cycle ------------------------------------------------------------

    def _plan(self) -> tuple[tuple[str, ...], str | None]:
        """The statuses to list this cycle and the parked one (see module docstring)."""
        if not self._can_park or self._odd or not self._active:
            return self._statuses, None
        counts = Counter(status for status, _ in self._active.values())
        parked = max(_PARKABLE, key=lambda s: counts[s])
        # Worth it only when the parked rows outnumber the terminal ones by a page.
        if counts[parked] <= self._total - len(self._active) + _PAGE:
            return self._statuses, None
        final = TERMINAL_STATUSES + (_DRIFT_TERMINAL if self._drifted else ())
        return tuple(s for s in self._statuses if s != parked) + final, parked

    def _phone(self, row_id: str) -> str:
        followed = self._active.get(row_id) or self._odd.get(row_id)
        return followed[1] if followed else ""

    def _listen(self, status: str) -> None:
        """List ``status`` from now on, unless refused as a filter or left to the sweeps."""
        if status not in self._statuses and status not in self._refused | self._crowded:
            self._statuses = (*self._statuses, status)

    def _blame(self, listed: tuple[str, ...], parked: str | None) -> None:
        """A listing was refused (400): stop asking for what the upstream never took."""
        unproven = set(listed) - set(_BASE_ACTIVE) - self._accepted
        added = unproven - set(TERMINAL_STATUSES + _DRIFT_TERMINAL)
        if added:  # the literals added since the start: left to the sweeps
            self._refused |= added
            self._statuses = tuple(s for s in self._statuses if s not in added)
        elif parked is not None:
            self._can_park = False  # only the final literals can have been refused
        else:  # it took all of these before: start over from the documented ones
            self._statuses = _BASE_ACTIVE
            self._accepted.clear()

    async def _poll_active(self, key: str, obs: _Observed) -> bool:
        """List and resolve what may have changed into ``obs``; False: sweep instead."""
        listed, parked = self._plan()
        try:
            unpaged = await self._list(key, listed, obs)
            self._accepted.update(listed)
        except up.BadRequest:
            if listed == _BASE_ACTIVE:
                raise
            self._blame(listed, parked)
            listed, parked = _BASE_ACTIVE, None
            unpaged = await self._list(key, listed, obs)
        # Unpaged (drift) answers are every row *matching the filter*: only when rows
        # outside it came back too was the filter ignored, making this a full sweep.
        # Otherwise rows that left the filter are resolved below like paged ones.
        if unpaged and obs.outside:
            obs.diff.full_sweep = True
            return True
        seen = obs.rows
        missing = [r for r, (st, _) in self._active.items() if st != parked and r not in seen]
        missing += [r for r, (st, _) in self._odd.items() if st in listed and r not in seen]
        if not missing:
            return True
        budget = max(_LOOKUP_LIMIT, -(-self._total // _PAGE))  # a full sweep's pages
        overdue = [r for r in missing if r in self._deferred]
        if len(overdue) > budget:
            return False  # they would wait a second cycle: a sweep is due
        queue = overdue + [r for r in missing if r not in self._deferred]
        batch, obs.deferred = queue[:budget], set(queue[budget:])
        if not all(self._phone(r) for r in batch):
            return False  # nothing to look a row up by
        found = await self._look_up_all(key, batch)
        if found is None:
            return False  # deleted upstream (or unfindable): sweep now
        await self._observe(obs, found)
        return True

    async def _cycle(self, key: str, full: bool) -> CommitResult:
        obs = _Observed(self._log.start_poll(self.s.campaign_id, full_sweep=full))
        if full or not await self._poll_active(key, obs):
            obs = _Observed(self._log.start_poll(self.s.campaign_id, full_sweep=True))
            await self._list(key, (), obs)
        diff = obs.diff
        if diff.unseen or (diff.full_sweep and diff.stored_any and len(diff.seen) < self._total):
            await self._check_incarnation(key)  # rows appeared or vanished: same campaign?
        result = await self._log.commit(obs.diff, now=self._clock(), lease=self._lease)
        self._remember(obs)
        return result

    def _remember(self, obs: _Observed) -> None:
        if obs.diff.full_sweep:
            self._active.clear()
            self._odd.clear()
            self._total = len(obs.rows)
        self._deferred = obs.deferred
        for rid, (status, phone) in obs.rows.items():
            if status is not None and _followed(status):
                self._listen(status)
            if status is not None and status in ACTIVE_STATUSES:
                self._active[rid] = (status, phone)
            else:
                self._active.pop(rid, None)
            if status in _KNOWN:
                self._odd.pop(rid, None)
            else:
                self._odd[rid] = (status, phone)
        # An undocumented literal of more than a page of rows is likely final, or a crowd
        # of waiting rows: listing it every cycle would cost a sweep each time.
        crowds = Counter(status for status, _ in self._odd.values() if status is not None)
        crowded = {status for status, n in crowds.items() if n > _PAGE}
        if crowded - self._crowded:
            self._crowded |= crowded
            self._statuses = tuple(s for s in self._statuses if s not in crowded)

    async def _check_incarnation(self, key: str) -> None:
        body = await self._get(self._client.get_campaign, key, self.s.campaign_id)
        now = incarnation_of_answer(body)
        if self.s.incarnation is not None and now != self.s.incarnation:
            raise CampaignRecreated(
                f"campaign {self.s.campaign_id} was deleted and created again upstream: this "
                "stream and its resume tokens belong to the old campaign; start a new watch"
            )

    async def _campaign_done(self, key: str) -> bool:
        body = await self._get(self._client.get_campaign, key, self.s.campaign_id)
        camp = body.get("campaign") or body
        return camp.get("status") == "completed" or bool(camp.get("is_cancelled"))

    # -- loop -----------------------------------------------------------------

    async def run(self) -> None:
        st = self._settings
        base, cap = st.poll_interval, st.max_poll_interval
        sweep_every = max(1, st.full_sweep_every)
        interval = backoff = base
        full = True  # first poll of this process: full sweep (catches the downtime)
        forget_request_id()  # started by one subscriber's rpc, it polls for every subscriber
        now = asyncio.get_running_loop().time
        while True:
            self._cycle_requests = 0
            started = now()
            try:
                key = self._pick_key()
            except LookupError:
                return
            try:
                result = await self._cycle(key, full)
                await self._publish_missed(result)
                self._published(result)
                backoff = base
                # Deferred lookups are due next cycle: no backing off meanwhile.
                interval = base if result.changes or self._deferred else min(cap, interval * 2)
                finality = await self._finality(key, full, bool(result.changes))
                if finality == "final":
                    return
                if finality == "confirm":
                    full = True  # final sweep before declaring the campaign final
                    continue
                full = self._polls % sweep_every == 0
            except _ACCESS_ERRORS as exc:
                if self._lost_access(key, exc):
                    return
                continue
            except LeaseLost:
                raise  # another replica polls now: this one stops (``_replica``)
            except CampaignRecreated as exc:
                # Nothing of the new incarnation was committed; its first admission
                # binds the log to it (dropping the old one's) and starts a new poller.
                log.warning("%s", exc.message)
                self.s.recreated = True  # the hub re-admits from upstream, not its cache
                for mb in list(self.s.mailboxes):
                    mb.fail(exc)
                return
            except Exception as exc:  # upstream or e.g. the database: never die silently
                self._degraded(exc)
                await self._report()
                interval = backoff
                backoff = min(cap, backoff * 2)
            finally:
                self._counters["last_cycle_requests"] = self._cycle_requests
                if self._observer is not None:
                    self._observer.poll_cycle(now() - started)
            await self._sleep(interval)

    async def _publish_missed(self, result: CommitResult) -> None:
        """Publish, from the log, revisions committed here but never published: a commit
        whose answer was lost (the database went away as it committed) raised, and the
        next cycle finds its rows already stored. Without this, subscribers would wait
        for the next change to notice the gap."""
        upto = result.revision - (1 if result.changes else 0)
        while self.s.revision < upto:
            try:
                changes = await self._log.changes_since(self.s.campaign_id, self.s.revision,
                                                        limit=_MISSED_PAGE)
            except RevisionCompacted as exc:
                self.s.revision = exc.compacted_revision  # streams behind it read the log
                continue
            batches = [b for b in group(changes) if b.revision <= upto]
            if not batches:
                return
            for batch in batches:
                self.s.publish(batch)

    def _published(self, result: CommitResult) -> None:
        """A poll succeeded: publish its revision and leave any degraded state."""
        self._polls += 1
        self._counters["polls"] += 1
        if self._observer is not None:
            self._observer.committed(len(result.changes))
        if result.changes:
            self.s.publish(Batch(result.revision, result.changes, result.changes[0].committed_at))
        else:
            self.s.revision = result.revision
        was_degraded = self.s.degraded
        self.s.degraded, self.s.detail = False, ""
        self._reported = None  # the commit cleared it in the database
        self.s.last_poll_time = self._clock()
        if not self.s.ready.is_set() or was_degraded:
            self.s.ready.set()
            self.s.notify_all()

    async def _finality(self, key: str, full: bool, changed: bool) -> str | None:
        """``"final"`` once a full sweep found nothing new in a campaign the upstream calls
        done (polling stops), ``"confirm"`` when such a sweep is still owed, else None."""
        if changed:
            self._held = 0
        if self._active or changed or not (full or self._polls % 3 == 0):
            return None
        if not await self._campaign_done(key):
            return None
        if self._held < _ODD_HOLD and any(
            status in self._statuses for status, _ in self._odd.values()
        ):
            # A row under an undocumented literal may be a call still ending (a cancelled
            # campaign's): wait a few quiet checks for it, not forever (it may be final).
            self._held += 1
            return None
        if not full:
            return "confirm"
        await self._log.mark_terminal(self.s.campaign_id)
        self.s.final = True
        self.s.ready.set()
        self.s.notify_all()
        return "final"

    def _lost_access(self, key: str, exc: BaseException) -> bool:
        """End the streams of a key that lost access; True when no admitted key is left."""
        self.s.bad_keys.add(key)
        self._key = None
        everyone = all(k in self.s.bad_keys for k in self.s.keys)
        for mb in list(self.s.mailboxes):
            if everyone or mb.api_key == key:  # a key that lost access gets no more
                mb.fail(exc)
        return everyone

    def _degraded(self, exc: Exception) -> None:
        if isinstance(exc, up.UpstreamError):
            self.s.detail = f"polling the Revox API failed: {type(exc).__name__}"
        elif unreachable(exc):  # no traceback per cycle: the outage is the news
            if not self.s.degraded:
                log.warning("watch poller of %s: database unreachable (%s)",
                            self.s.campaign_id, type(exc).__name__)
            self.s.detail = ("the gateway's database does not answer: what polls find is committed "
                             "once it does")
        else:
            log.exception("watch poller of %s failed", self.s.campaign_id)
            self.s.detail = f"gateway error while polling: {type(exc).__name__}"
        self._counters["poll_errors"] += 1
        self.s.degraded = True
        self.s.notify_all()

    async def _report(self) -> None:
        """Tell the replicas that follow this campaign's log what polling fails with,
        so their subscribers' heartbeats say ``upstream_degraded`` as these do (written
        under the lease; the next commit clears it). Once per change of detail."""
        if self._lease is None or self._reported == self.s.detail:
            return
        try:
            await self._log.report_degraded(self.s.campaign_id, self._lease, self.s.detail)
        except Exception as exc:  # noqa: BLE001 - e.g. the database itself: retried next cycle
            log.debug("watch poller of %s: report not written: %s", self.s.campaign_id,
                      type(exc).__name__)
            return
        self._reported = self.s.detail

    async def _sleep(self, seconds: float) -> None:
        if self.s.wake.is_set():
            self.s.wake.clear()
            return
        try:
            await asyncio.wait_for(self.s.wake.wait(), seconds)
        except TimeoutError:
            pass
        self.s.wake.clear()
