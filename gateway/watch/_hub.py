"""WatchHub: the registry of watched campaigns, their pollers and subscribers.

Why a hub: all subscribers of a campaign share one poller and one change log,
so upstream load and commit work are independent of the number of watchers.
The hub also owns admission (each subscriber's own key must see the
campaign), snapshot sharing, log compaction and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Protocol

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from ..config import WatchSettings
from ..convert import ReadMask, decode
from ..errors import CampaignRecreated, ShuttingDown
from ..limits import limits_of
from ..observability import WatchMetrics
from ..store import ChangeLog, WatchLease, incarnation_of_answer
from ..upstream import RevoxClient
from ._events import Mailbox
from ._filter import ADDED, RowFilter
from ._poller import Poller
from ._replica import CampaignRunner
from ._state import CampaignState
from ._stream import run_stream
from ._token import COMPLETE, Position, TokenCodec

__all__ = ["Subscriber", "WatchHub"]

Snapshot = tuple[pb.WatchCampaignRowsResponse, bytes]  # a snapshot message, serialized once

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """Who opens a watch: only the key is needed (admission, polling, revocation)."""

    @property
    def api_key(self) -> str: ...
_SHUTDOWN_MSG = "gateway is shutting down; resume with your last resume_token"


class WatchHub:
    """See module docstring. Use as ``async with hub``; streams via :meth:`watch`."""

    def __init__(
        self,
        *,
        client: RevoxClient,
        changelog: ChangeLog,
        settings: WatchSettings,
        token_key: bytes,
        clock: Callable[[], float] = time.time,
        observer: WatchMetrics | None = None,
        owner: str | None = None,
        follow_interval: float = 0.2,
    ) -> None:
        """``owner``: this process in the campaigns' poller leases (random by default);
        ``follow_interval``: seconds between reads of the change log while another
        replica polls a campaign (between doorbell rings, see ``_replica``)."""
        self.owner = owner or secrets.token_hex(8)
        self.follow_interval = follow_interval
        self.client = client
        self.observer = observer  # poll cycles and deliveries are reported to it (metrics)
        self.changelog = changelog
        self.settings = settings
        self.tokens = TokenCodec(token_key)
        self.clock = clock
        self.closing = False
        self._campaigns: dict[str, CampaignState] = {}
        self._snap_locks: dict[str, asyncio.Lock] = {}
        self._snap_cache: dict[tuple[str, str], tuple[int, list[Snapshot]]] = {}
        self._counters: dict[str, int] = {
            "upstream_requests": 0,
            "admission_requests": 0,
            "polls": 0,
            "poll_errors": 0,
            "last_cycle_requests": 0,
            "lease_takeovers": 0,  # leases taken from a holder that let one expire (_replica)
        }
        self._compactor: asyncio.Task[None] | None = None
        self._webhook: Any = None
        self._timeout = settings.upstream_timeout

    # -- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> WatchHub:
        self._compactor = asyncio.create_task(self._compact_forever(), name="watch-compactor")
        if self.settings.webhook_listen:
            from ._webhook import WebhookServer

            self._webhook = WebhookServer(self, self.settings.webhook_listen)
            await self._webhook.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._webhook is not None:
            await self._webhook.stop()

    async def shutdown(self) -> None:
        """End every open stream with ShuttingDown and stop the pollers."""
        self.closing = True
        tasks = []
        for st in list(self._campaigns.values()):
            for mb in list(st.mailboxes):
                mb.fail(ShuttingDown(_SHUTDOWN_MSG))
            if st.linger is not None:
                st.linger.cancel()
            if st.task is not None and not st.task.done():
                st.task.cancel()
                tasks.append(st.task)
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _compact_forever(self) -> None:
        retention = self.settings.retention_seconds
        period = max(0.05, min(retention / 10, 60.0))
        while True:
            await asyncio.sleep(period)
            try:
                await self.compact()
            except Exception:
                log.exception("watch log compaction failed")

    async def compact(self) -> int:
        return await self.changelog.compact(self.clock() - self.settings.retention_seconds)

    # -- public -------------------------------------------------------------------

    def watch(
        self, caller: Subscriber, request: pb.WatchCampaignRowsRequest, context: object = None,
        *, raw: bool = False,
    ) -> AsyncIterator[pb.WatchCampaignRowsResponse | bytes]:
        """The stream of ``request``; with ``raw``, change and snapshot events come as
        serialized bytes shared by every subscriber (for a gRPC handler that passes
        bytes through), other messages as messages."""
        return run_stream(self, caller.api_key, request, context, raw=raw)

    @property
    def webhook_port(self) -> int | None:
        """The port the call-completed webhook listens on (``webhook_listen``), if any."""
        return None if self._webhook is None else int(self._webhook.port)

    def poke(self, campaign_id: str) -> bool:
        """Poll ``campaign_id`` now if it is watched (webhook push)."""
        st = self._campaigns.get(campaign_id)
        if st is None or st.task is None or st.task.done():
            return False
        st.wake.set()
        return True

    def states(self) -> Iterable[CampaignState]:
        """The campaigns held now (metrics read their degraded flag and last poll)."""
        return list(self._campaigns.values())

    def stats(self) -> dict[str, Any]:
        return {
            "campaigns": len(self._campaigns),
            # Campaigns this process polls (holding the lease); the others it follows.
            "pollers": sum(1 for s in self._campaigns.values() if s.polling),
            # Poller leases held now: also while catching up before polling starts.
            "leases_held": sum(1 for s in self._campaigns.values() if s.lease_held),
            "followers": sum(
                1 for s in self._campaigns.values()
                if not s.polling and s.task is not None and not s.task.done()
            ),
            "subscribers": sum(len(s.mailboxes) for s in self._campaigns.values()),
            **self._counters,
        }

    # -- used by streams ------------------------------------------------------------

    def token_fn(
        self, campaign_id: str, fingerprint: str, incarnation: str = ""
    ) -> Callable[[Position], str]:
        epoch = self.changelog.epoch
        encode = self.tokens.encode
        return lambda pos: encode(epoch, campaign_id, fingerprint, pos, incarnation)

    async def admit(self, api_key: str, campaign_id: str) -> str:
        """The subscriber's own key must see the campaign (NotFound etc. propagate);
        returns its incarnation, to which the log is then bound (a campaign recreated
        behind its id ends the old incarnation's streams and drops its log).

        With ``gateway.limits`` attached, an admission is shared per (key, campaign)
        for its ``admission_ttl`` (5 s): N streams opened together cost one GET."""

        async def check() -> str:
            self._counters["admission_requests"] += 1
            body = await self.client.get_campaign(api_key, campaign_id, timeout=self._timeout)
            incarnation = incarnation_of_answer(body)
            st = self._campaigns.get(campaign_id)
            if st is not None and st.incarnation == incarnation:
                return incarnation  # bound when first admitted: no write per subscriber
            if st is not None and st.incarnation is not None:
                self.recreated(st)
            if await self.changelog.bind_incarnation(campaign_id, incarnation):
                log.warning("campaign %s was recreated upstream: its watch log starts over",
                            campaign_id)
            return incarnation

        limits = limits_of(self)
        st = self._campaigns.get(campaign_id)
        if st is not None and st.recreated:
            self.recreated(st)  # cached admissions name the old incarnation: ask upstream
        return await (check() if limits is None else limits.admitted(api_key, campaign_id, check))

    def recreated(self, st: CampaignState) -> None:
        """End every stream of a campaign whose id now names another incarnation."""
        limits = limits_of(self)
        if limits is not None:
            limits.forget(st.campaign_id)
        exc = CampaignRecreated(
            f"campaign {st.campaign_id} was deleted and created again upstream: this stream "
            "and its resume tokens belong to the old campaign; start a new watch"
        )
        for mb in list(st.mailboxes):
            mb.fail(exc)
        if st.task is not None and not st.task.done():
            st.task.cancel()
        if self._campaigns.get(st.campaign_id) is st:
            del self._campaigns[st.campaign_id]
            for k in [k for k in self._snap_cache if k[0] == st.campaign_id]:
                del self._snap_cache[k]

    async def subscribe(
        self, campaign_id: str, api_key: str, incarnation: str | None = None
    ) -> tuple[CampaignState, Mailbox]:
        if self.closing:
            raise ShuttingDown(_SHUTDOWN_MSG)
        limits = limits_of(self)
        if limits is not None:  # caps on open streams, per key and per process
            open_ = self._campaigns.values()
            limits.check_streams(sum(st.keys.get(api_key, 0) for st in open_),
                                 sum(len(st.mailboxes) for st in open_))
        st = self._campaigns.get(campaign_id)
        if st is not None and incarnation is not None and st.incarnation not in (None, incarnation):
            self.recreated(st)
            st = None
        if st is None:
            st = self._campaigns[campaign_id] = CampaignState(campaign_id)
        if incarnation is not None:
            st.incarnation = incarnation
        if st.linger is not None:
            st.linger.cancel()
            st.linger = None
        mb = Mailbox(api_key, self.settings.subscriber_queue)
        st.mailboxes.add(mb)
        st.add_key(api_key)
        if not st.final and (st.task is None or st.task.done()):
            head = await self.changelog.state(campaign_id)
            if head.terminal:
                st.final = True
                st.ready.set()
            elif st.task is None or st.task.done():
                st.task = self._run_campaign(st, head.current_revision)
        return st, mb

    def _run_campaign(self, st: CampaignState, head: int) -> asyncio.Task[None]:
        """Start the campaign's task: poll under its lease, or follow the log (_replica).
        Its first read is after ``head`` (read before any new subscriber's snapshot)."""
        if st.revision == 0:  # new here; else its mailboxes expect the revisions after it
            st.revision = head

        def poll(lease: WatchLease) -> Coroutine[Any, Any, None]:
            return Poller(
                st, client=self.client, changelog=self.changelog, settings=self.settings,
                clock=self.clock, counters=self._counters, observer=self.observer, lease=lease,
            ).run()

        runner = CampaignRunner(
            st, changelog=self.changelog, owner=self.owner, ttl=self.settings.lease_ttl,
            follow_interval=self.follow_interval, clock=self.clock, poll=poll,
            counters=self._counters,
        )
        return asyncio.create_task(runner.run(), name=f"watch-{st.campaign_id}")

    def ring(self, campaign_id: str, *, released: bool = False) -> None:
        """The doorbell: something was committed for (or, ``released``, the poller lease
        of) ``campaign_id`` by another process; its followers read the log now."""
        st = self._campaigns.get(campaign_id)
        if st is None:
            return
        if released:
            st.lease_released = True
        st.wake.set()

    def ring_all(self) -> None:
        """After a doorbell reconnect: notifications may have been missed, read them all."""
        for st in list(self._campaigns.values()):
            st.wake.set()

    def unsubscribe(self, st: CampaignState, mb: Mailbox) -> None:
        mb.close()
        st.mailboxes.discard(mb)
        st.drop_key(mb.api_key)
        if not st.mailboxes and st.linger is None:
            linger = self.settings.linger_seconds
            st.linger = asyncio.get_running_loop().call_later(linger, self._reap, st)

    def _reap(self, st: CampaignState) -> None:
        st.linger = None
        if st.mailboxes:
            return
        if st.task is not None and not st.task.done():
            st.task.cancel()
        if self._campaigns.get(st.campaign_id) is st:
            del self._campaigns[st.campaign_id]
            self._snap_locks.pop(st.campaign_id, None)
            for k in [k for k in self._snap_cache if k[0] == st.campaign_id]:
                del self._snap_cache[k]

    async def read_snapshot(
        self, campaign_id: str, flt: RowFilter, *, after: str | None = None
    ) -> tuple[int, list[dict[str, Any]], int]:
        """From one read transaction: the revision, the rows matching ``flt`` with
        id > ``after``, and how many matching rows there are in all (the size of
        the view a client holds once this snapshot is complete)."""
        rev = 0
        total = 0
        rows: list[dict[str, Any]] = []
        async with contextlib.aclosing(self.changelog.iter_snapshot(campaign_id)) as pages:
            async for page in pages:
                rev = page.revision
                for r in page.rows:
                    if flt.matches(r):
                        total += 1
                        if after is None or str(r["id"]) > after:
                            rows.append(r)
        return rev, rows, total

    def snapshot_messages(
        self, rows: list[dict[str, Any]], rev: int, token: Callable[[Position], str],
        mask: ReadMask = ReadMask.ALL,
    ) -> list[pb.WatchCampaignRowsResponse]:
        return [
            pb.WatchCampaignRowsResponse(
                resume_token=token(Position(rev, COMPLETE, str(r["id"]))),
                revision=rev,
                row_change=pb.RowChange(
                    type=ADDED, row=mask.project(decode(r, row_pb2.Row)), in_snapshot=True
                ),
            )
            for r in rows
        ]

    async def snapshot_responses(
        self, st: CampaignState, flt: RowFilter, token: Callable[[Position], str]
    ) -> tuple[int, list[Snapshot]]:
        """The initial snapshot as messages, shared by subscribers joining at one revision.

        A cached snapshot at S is reused only while S is the last published
        revision: anything committed later is published to the (already
        registered) mailbox, so the stream stays gap-free.
        """
        key = (st.campaign_id, flt.fingerprint)
        lock = self._snap_locks.setdefault(st.campaign_id, asyncio.Lock())
        async with lock:
            cached = self._snap_cache.get(key)
            if cached is not None and cached[0] == st.revision:
                return cached
            rev, rows, _ = await self.read_snapshot(st.campaign_id, flt)
            messages = self.snapshot_messages(rows, rev, token, flt.mask)
            built = (rev, [(m, m.SerializeToString()) for m in messages])
            self._snap_cache[key] = built
            return built
