"""One single-flight poller per watched campaign.

Why one: upstream load must not grow with the number of subscribers. The
poller pages through the campaign's non-terminal rows (cheap as a campaign
progresses), commits what changed to the durable log as ONE revision, then
publishes that revision to every mailbox. Rows that were active but vanished
from the active set went terminal (or were deleted): they are resolved at
once (a per-row lookup when few, else an immediate full sweep), so a final
call status is never delayed to the next periodic sweep. Upstream faults only
back off and flag the campaign degraded; they never end streams. A key that
lost access is replaced by another admitted subscriber's key, and the streams
admitted with it end with the access error (they must not keep reading).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .. import upstream as up
from ..store import ChangeLog, CommitResult
from ._events import Batch, Mailbox

__all__ = ["ACTIVE_STATUSES", "CampaignState", "Poller"]

log = logging.getLogger(__name__)

ACTIVE_STATUSES = (
    "initializing",
    "queued_for_calling",
    "calling",
    "scheduled",
    "post_processing",
    "paused",
)
# The 0.1.1 API rejects literals it does not know (400), so the active poll
# starts with these and adds newer non-terminal literals once rows show them.
_BASE_ACTIVE = ACTIVE_STATUSES[:4]
_PAGE = 1000
_LOOKUP_LIMIT = 25
_ACCESS_ERRORS = (up.Unauthenticated, up.NotFound, up.PermissionDenied)


def _status_of(row: dict[str, Any]) -> Any:
    return (row.get("call") or {}).get("status")


class CampaignState:
    """What the hub knows about one watched campaign (shared by poller and streams)."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        self.mailboxes: set[Mailbox] = set()
        self.keys: dict[str, int] = {}  # admitted api keys -> number of subscribers
        self.bad_keys: set[str] = set()
        self.ready = asyncio.Event()  # a poll succeeded in this process (or campaign final)
        self.degraded = False
        self.detail = ""
        self.last_poll_time: float | None = None
        self.final = False
        self.revision = 0
        self.task: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.wake = asyncio.Event()

    def add_key(self, key: str) -> None:
        self.keys[key] = self.keys.get(key, 0) + 1
        self.bad_keys.discard(key)

    def drop_key(self, key: str) -> None:
        n = self.keys.get(key, 0) - 1
        if n <= 0:
            self.keys.pop(key, None)
        else:
            self.keys[key] = n

    def notify_all(self) -> None:
        for mb in self.mailboxes:
            mb.notify()

    def publish(self, batch: Batch) -> None:
        self.revision = batch.revision
        for mb in self.mailboxes:
            mb.push(batch)


class Poller:
    """The polling loop of one campaign; ``run`` is its only task."""

    def __init__(
        self,
        state: CampaignState,
        *,
        client: up.RevoxClient,
        changelog: ChangeLog,
        settings: Any,
        clock: Callable[[], float],
        counters: dict[str, int],
    ) -> None:
        self.s = state
        self._client = client
        self._log = changelog
        self._settings = settings
        self._clock = clock
        self._counters = counters
        self._timeout = float(getattr(settings, "upstream_timeout", 10.0) or 10.0)
        self._active: dict[str, str] = {}  # row id -> phone of rows last seen non-terminal
        self._polls = 0
        self._cycle_requests = 0
        self._key: str | None = None
        self._statuses: tuple[str, ...] = _BASE_ACTIVE

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

    async def _pages(self, key: str, statuses: tuple[str, ...]) -> tuple[list[dict[str, Any]], bool]:
        """All rows of a listing, and whether the answer was unpaged (drift: full set)."""
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            body = await self._get(
                self._client.get_rows, key, self.s.campaign_id,
                page=page, page_size=_PAGE, statuses=statuses,
            )
            got = body.get("rows") or []
            if "total" not in body and "page" not in body:
                return list(got), True  # drifted API ignores params: this is everything
            rows.extend(got)
            total = body.get("total")
            if len(got) < _PAGE or (isinstance(total, int) and len(rows) >= total):
                return rows, False
            page += 1

    async def _lookup(self, key: str, row_id: str, phone: str) -> dict[str, Any] | None:
        body = await self._get(
            self._client.get_rows, key, self.s.campaign_id, page=0, page_size=_PAGE, query=phone
        )
        for row in body.get("rows") or []:
            if str(row.get("id")) == row_id:
                return dict(row)
        return None

    # -- one cycle ------------------------------------------------------------

    def _remember(self, rows: list[dict[str, Any]], full: bool) -> None:
        if full:
            self._active.clear()
        for row in rows:
            call = row.get("call") or {}
            rid = str(row.get("id"))
            status = call.get("status")
            if status in ACTIVE_STATUSES:
                if status not in self._statuses:
                    self._statuses = (*self._statuses, status)
                self._active[rid] = str(row.get("phone_number") or "")
            else:
                self._active.pop(rid, None)

    async def _cycle(self, key: str, full: bool) -> CommitResult:
        rows: list[dict[str, Any]]
        if full:
            rows, _ = await self._pages(key, ())
        else:
            try:
                rows, unpaged = await self._pages(key, self._statuses)
            except up.BadRequest:
                if self._statuses == _BASE_ACTIVE:
                    raise
                self._statuses = _BASE_ACTIVE
                rows, unpaged = await self._pages(key, self._statuses)
            # Unpaged (drift) answers are every row *matching the filter*: only when rows
            # outside it came back too was the filter ignored, making this a full sweep.
            # Otherwise rows that left the filter are resolved below like paged ones.
            if unpaged and any(_status_of(r) not in self._statuses for r in rows):
                full = True
            else:
                seen = {str(r.get("id")) for r in rows}
                missing = [(rid, ph) for rid, ph in self._active.items() if rid not in seen]
                if len(missing) > _LOOKUP_LIMIT:
                    rows, _ = await self._pages(key, ())
                    full = True
                else:
                    for rid, phone in missing:
                        found = await self._lookup(key, rid, phone) if phone else None
                        if found is None:  # deleted upstream (or unfindable): sweep now
                            rows, _ = await self._pages(key, ())
                            full = True
                            break
                        rows.append(found)
        result = await self._log.commit_poll(
            self.s.campaign_id, rows, full_sweep=full, now=self._clock()
        )
        self._remember(rows, full)
        return result

    async def _campaign_done(self, key: str) -> bool:
        body = await self._get(self._client.get_campaign, key, self.s.campaign_id)
        camp = body.get("campaign") or body
        return camp.get("status") == "completed" or bool(camp.get("is_cancelled"))

    # -- loop -----------------------------------------------------------------

    async def run(self) -> None:
        st = self._settings
        base = float(st.poll_interval)
        cap = float(st.max_poll_interval)
        sweep_every = max(1, int(st.full_sweep_every))
        interval = base
        backoff = base
        full = True  # first poll of this process: full sweep (catches the downtime)
        while True:
            self._cycle_requests = 0
            try:
                key = self._pick_key()
            except LookupError:
                return
            try:
                result = await self._cycle(key, full)
                self._polls += 1
                self._counters["polls"] += 1
                if result.changes:
                    self.s.publish(
                        Batch(result.revision, result.changes, result.changes[0].committed_at)
                    )
                else:
                    self.s.revision = result.revision
                was_degraded = self.s.degraded
                self.s.degraded, self.s.detail = False, ""
                self.s.last_poll_time = self._clock()
                if not self.s.ready.is_set() or was_degraded:
                    self.s.ready.set()
                    self.s.notify_all()
                backoff = base
                interval = base if result.changes else min(cap, interval * 2)
                if not self._active and not result.changes and (full or self._polls % 3 == 0):
                    if await self._campaign_done(key):
                        if full:  # a full sweep found nothing new: the campaign is final
                            await self._log.mark_terminal(self.s.campaign_id)
                            self.s.final = True
                            self.s.ready.set()
                            self.s.notify_all()
                            return
                        full = True  # final sweep before declaring the campaign final
                        continue
                full = self._polls % sweep_every == 0
            except _ACCESS_ERRORS as exc:
                self.s.bad_keys.add(key)
                self._key = None
                everyone = all(k in self.s.bad_keys for k in self.s.keys)
                for mb in list(self.s.mailboxes):
                    if everyone or mb.api_key == key:  # a key that lost access gets no more
                        mb.fail(exc)
                if everyone:
                    return
                continue
            except up.UpstreamError as exc:
                self._counters["poll_errors"] += 1
                self.s.degraded = True
                self.s.detail = f"polling the Revox API failed: {type(exc).__name__}"
                self.s.notify_all()
                interval = backoff
                backoff = min(cap, backoff * 2)
            except Exception as exc:  # e.g. the database: never let the poller die silently
                log.exception("watch poller of %s failed", self.s.campaign_id)
                self._counters["poll_errors"] += 1
                self.s.degraded = True
                self.s.detail = f"gateway error while polling: {type(exc).__name__}"
                self.s.notify_all()
                interval = backoff
                backoff = min(cap, backoff * 2)
            finally:
                self._counters["last_cycle_requests"] = self._cycle_requests
            await self._sleep(interval)

    async def _sleep(self, seconds: float) -> None:
        if self.s.wake.is_set():
            self.s.wake.clear()
            return
        try:
            await asyncio.wait_for(self.s.wake.wait(), seconds)
        except TimeoutError:
            pass
        self.s.wake.clear()
