"""Durable change log behind the row-status watch stream (etcd/Kubernetes style).

Per watched campaign (``campaign_key``, an opaque caller-built string):

* ``watch_rows`` - latest known state of every row, with digests (fast, and of
  its canonical JSON) so a poll can be diffed without loading row text; a poll
  is fed page by page and keeps only rows that may have changed (``_watch_diff``);
* ``watch_changes`` - append-only events, each under a *revision*. One poll
  that changed something = exactly one new revision (never an empty one);
  events of one revision are never split across ``changes_since`` pages;
* ``watch_campaigns`` - current/compacted revision, epoch, last poll, terminal.

Resume protocol for a subscriber: ``snapshot`` (rows consistent with revision
S, read in one transaction) then ``changes_since(S)`` - no gap, no duplicate.
A resume revision older than the compaction point raises
:class:`RevisionCompacted` (the client must re-snapshot, like Kubernetes'
410 Gone); one newer than the current revision raises :class:`RevisionAhead`
(a token from another database or a rewound one - never continue silently).

The epoch is a random id created once per database (``meta.watch_epoch``) and
copied to each campaign's row; tokens carrying another epoch came from another
database. Polling sees states, not transitions, so every event carries the
whole row plus the previous status/result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ._base import MAX_PARAMS, Engines, chunked, upsert
from ._incarnation import bind_incarnation
from ._schema import watch_campaigns, watch_changes, watch_rows
from ._watch_diff import PollDiff, compare, observe_items, prepare
from ._watch_lease import (
    NOTIFY_CHANNEL,
    LeaseLost,
    WatchLease,
    check_lease,
    lease_is_free,
    release_lease,
    renew_lease,
    report_degraded,
    take_lease,
)
from ._watch_read import changes_since, iter_snapshot
from ._watch_stored import append_removals, mark_changed_paths, stored_rows
from ._watch_types import (
    Change,
    ChangeKind,
    CommitResult,
    Extractor,
    RevisionAhead,
    RevisionCompacted,
    Snapshot,
    WatchState,
    default_extractor,
)
from ._watch_write import write_changes

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeLog",
    "CommitResult",
    "Extractor",
    "LeaseLost",
    "NOTIFY_CHANNEL",
    "PollDiff",
    "RevisionAhead",
    "RevisionCompacted",
    "Snapshot",
    "WatchLease",
    "WatchState",
    "default_extractor",
]

# Above this many rows, hashing runs in a worker thread so the event loop keeps
# getting GIL slices (gRPC keeps serving) instead of stalling for the whole batch.
_THREAD_THRESHOLD = 2000

# IN-list size: one parameter is the campaign_key.
_CHUNK = MAX_PARAMS - 1


class ChangeLog:
    """See module docstring."""

    def __init__(
        self,
        engines: Engines,
        *,
        epoch: str,
        extractor: Extractor = default_extractor,
        fast_bulk: bool | None = None,
    ) -> None:
        """``fast_bulk``: driver-level executemany with SQLite's SQL and qmark
        placeholders; PostgreSQL takes the portable Core path (its executemany and
        multi-row INSERTs). None: by the dialect."""
        self._e = engines
        self._epoch = epoch
        self._extract = extractor
        sqlite = engines.dialect == "sqlite"
        if fast_bulk is None:
            fast_bulk = sqlite
        elif fast_bulk and not sqlite:
            raise ValueError("fast_bulk is SQLite's driver-level path")
        self._fast_bulk = fast_bulk

    @property
    def epoch(self) -> str:
        return self._epoch

    # -- writes -------------------------------------------------------------

    async def commit_poll(
        self,
        campaign_key: str,
        observed_rows: list[dict[str, Any]],
        *,
        full_sweep: bool,
        now: float,
    ) -> CommitResult:
        """Diff observed rows against stored state; commit changes as one revision.

        ``full_sweep``: observed_rows is every row, so stored rows missing from
        it are recorded as 'removed'. Otherwise only observed rows are compared.
        Duplicate ids in observed_rows: the last occurrence wins. Shorthand for
        :meth:`start_poll`, :meth:`observe`, :meth:`commit`.
        """
        diff = self.start_poll(campaign_key, full_sweep=full_sweep)
        await self.observe(diff, observed_rows)
        return await self.commit(diff, now=now)

    def start_poll(self, campaign_key: str, *, full_sweep: bool) -> PollDiff:
        """A poll to feed page by page (:meth:`observe`), then :meth:`commit`."""
        return PollDiff(campaign_key, full_sweep=full_sweep)

    async def observe(self, diff: PollDiff, rows: list[dict[str, Any]]) -> None:
        """Add observed rows to a poll, keeping only those that may have changed.

        Reads stored fast hashes outside the write transaction (a listing takes
        seconds). A row dropped here equalled a stored state; if another writer
        replaced it since, keeping that commit is as right as overwriting it.
        """
        if not rows:
            return
        if len(rows) > _THREAD_THRESHOLD:
            items = await asyncio.to_thread(observe_items, rows, diff.shared)
        else:
            items = observe_items(rows, diff.shared)
        key = diff.campaign_key
        w = watch_rows.c
        stored: dict[str, Any] = {}
        async with self._e.read_autocommit.connect() as conn:
            if diff.stored_any is None:  # a new campaign's first sweep skips the reads
                hit = await conn.execute(select(w.row_id).where(w.campaign_key == key).limit(1))
                diff.stored_any = hit.first() is not None
            if diff.stored_any and diff.full_sweep:
                if diff.stored is None:
                    res = await conn.execute(
                        select(w.row_id, w.fast_hash).where(w.campaign_key == key)
                    )
                    diff.stored = {r[0]: r[1] for r in res}
                stored = diff.stored
            elif diff.stored_any:
                for part in chunked([item[0] for item in items], _CHUNK):
                    res = await conn.execute(
                        select(w.row_id, w.fast_hash).where(
                            w.campaign_key == key, w.row_id.in_(part)
                        )
                    )
                    stored.update((r[0], r[1]) for r in res)
        diff.keep(items, stored)

    async def commit(
        self, diff: PollDiff, *, now: float, lease: WatchLease | None = None
    ) -> CommitResult:
        """Commit a poll's changes as one revision (none: no new revision).

        ``lease``: commit only while it is the campaign's current poller lease, checked
        under the row lock in this transaction (else :class:`LeaseLost`, nothing written).
        """
        campaign_key = diff.campaign_key
        # Canonical JSON of the few rows that may have changed, before taking the
        # write lock (in a thread when many, e.g. a new campaign's first sweep).
        if len(diff.candidates) > _THREAD_THRESHOLD:
            observed = await asyncio.to_thread(prepare, diff.candidates)
        else:
            observed = prepare(diff.candidates)
        async with self._e.write.begin() as conn:
            current = await self._head(conn, campaign_key)
            if lease is not None:
                await check_lease(conn, campaign_key, lease)
            stored = await stored_rows(conn, diff, observed, current)
            revision = current + 1
            d = compare(campaign_key, revision, observed, stored, self._extract, now)
            await mark_changed_paths(conn, campaign_key, d)
            changes, texts = d.changes, d.texts
            removed_ids = sorted(set(stored) - diff.seen) if diff.full_sweep else []
            await append_removals(conn, campaign_key, revision, stored, removed_ids, d, now)
            if changes or d.rehashed:
                change_params = [
                    (campaign_key, revision, c.seq, c.row_id, c.kind, text)
                    + (c.prev_status, c.prev_result, c.committed_at)
                    + (None if c.changed is None else json.dumps(c.changed),)
                    for c, text in zip(changes, texts, strict=True)
                ]
                await write_changes(
                    conn,
                    campaign_key,
                    fast_bulk=self._fast_bulk,
                    added=d.added,
                    modified=d.modified,
                    removed_ids=removed_ids,
                    rehashed=d.rehashed,
                    change_params=change_params,
                )
            if changes:
                current = revision
                if self._e.dialect == "postgresql":
                    await conn.execute(select(func.pg_notify(
                        NOTIFY_CHANNEL, f"{campaign_key}:{revision}")))
            await conn.execute(
                update(watch_campaigns)
                .where(watch_campaigns.c.campaign_key == campaign_key)
                .values(current_revision=current, last_polled_at=now, degraded_detail=None)
            )
        return CommitResult(current, changes)

    async def _head(self, conn: AsyncConnection, campaign_key: str) -> int:
        """The campaign's current revision, its row locked until the transaction ends;
        a first commit registers the campaign.

        The lock is what makes two writers of one campaign (replicas on PostgreSQL)
        take turns: the second reads the revision the first committed. SQLite's
        write transaction excludes other writers already (FOR UPDATE is not emitted).
        """
        wc = watch_campaigns.c
        locked = select(wc.current_revision).where(wc.campaign_key == campaign_key).with_for_update()
        head = (await conn.execute(locked)).first()
        if head is not None:
            return int(head[0])
        # Two first commits may race: the primary key keeps one row, and the loser's
        # no-op insert waits for the winner, whose revision it then reads (locked).
        register = upsert(self._e.dialect, watch_campaigns).values(
            campaign_key=campaign_key,
            current_revision=0,
            compacted_revision=0,
            epoch=self._epoch,
            last_polled_at=None,
            terminal=0,
        )
        await conn.execute(register.on_conflict_do_nothing(index_elements=["campaign_key"]))
        return int((await conn.execute(locked)).scalar_one())

    # -- the poller lease (``_watch_lease``) ----------------------------------------

    async def take_lease(
        self, campaign_key: str, owner: str, *, ttl: float, now: float
    ) -> WatchLease | None:
        """Take or keep the poller lease of a campaign; None while another holds it."""
        async with self._e.write.begin() as conn:
            await self._head(conn, campaign_key)
            return await take_lease(conn, campaign_key, owner, ttl=ttl, now=now)

    async def renew_lease(
        self, campaign_key: str, lease: WatchLease, *, ttl: float, now: float
    ) -> bool:
        """Extend a held lease; False when it was lost."""
        async with self._e.write.begin() as conn:
            return await renew_lease(conn, campaign_key, lease, ttl=ttl, now=now)

    async def release_lease(self, campaign_key: str, lease: WatchLease) -> None:
        """Give a held lease up at once (a successor need not wait for it to expire)."""
        async with self._e.write.begin() as conn:  # NOTIFYs followers on PostgreSQL
            await release_lease(conn, campaign_key, lease, notify=self._e.dialect == "postgresql")

    async def report_degraded(
        self, campaign_key: str, lease: WatchLease, detail: str | None
    ) -> bool:
        """The holder's polls fail with ``detail`` (followers' heartbeats say so until a
        commit clears it); False when the lease was lost."""
        async with self._e.write.begin() as conn:  # NOTIFY: followers read it at once
            mine = await report_degraded(conn, campaign_key, lease, detail)
            if mine and self._e.dialect == "postgresql":
                await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL,
                                                         f"{campaign_key}:degraded")))
            return mine

    async def lease_is_free(self, campaign_key: str, *, now: float) -> bool:
        """Nobody holds the campaign's poller lease (released, expired or never taken)."""
        async with self._e.read_autocommit.connect() as conn:
            return await lease_is_free(conn, campaign_key, now)

    async def bind_incarnation(self, campaign_key: str, incarnation: str) -> bool:
        """Bind the campaign's log to ``incarnation``; True when that dropped another's
        (``_incarnation``). Registers the campaign if the log has not seen it yet."""
        async with self._e.write.begin() as conn:
            await self._head(conn, campaign_key)
            return await bind_incarnation(conn, campaign_key, incarnation)

    async def mark_terminal(self, campaign_key: str, terminal: bool = True) -> None:
        """Flag a campaign whose rows can no longer change (e.g. completed)."""
        async with self._e.write.begin() as conn:
            await conn.execute(
                update(watch_campaigns)
                .where(watch_campaigns.c.campaign_key == campaign_key)
                .values(terminal=1 if terminal else 0)
            )

    async def compact(self, older_than: float) -> int:
        """Delete changes committed before ``older_than``; returns rows deleted.

        Compaction is a prefix per campaign: compacted_revision becomes the
        newest revision committed before ``older_than`` and every change up to
        it is deleted (even if a clock step made a later one look older).
        """
        c = watch_changes.c
        newest_old = (
            select(func.max(c.revision))
            .where(c.campaign_key == watch_campaigns.c.campaign_key, c.committed_at < older_than)
            .scalar_subquery()
        )
        # Two-argument scalar max: max() on SQLite, greatest() on PostgreSQL.
        larger = func.max if self._e.dialect == "sqlite" else func.greatest
        async with self._e.write.begin() as conn:
            # Lock every campaign row in key order first: two compactions (replicas)
            # then queue instead of deadlocking on rows locked in different orders.
            await conn.execute(
                select(watch_campaigns.c.campaign_key)
                .order_by(watch_campaigns.c.campaign_key)
                .with_for_update()
            )
            await conn.execute(
                update(watch_campaigns).values(
                    compacted_revision=larger(
                        watch_campaigns.c.compacted_revision, func.coalesce(newest_old, 0)
                    )
                )
            )
            floor = (
                select(watch_campaigns.c.compacted_revision)
                .where(watch_campaigns.c.campaign_key == c.campaign_key)
                .scalar_subquery()
            )
            res = await conn.execute(delete(watch_changes).where(c.revision <= floor))
            return int(res.rowcount)

    # -- reads --------------------------------------------------------------

    async def state(self, campaign_key: str) -> WatchState:
        wc = watch_campaigns.c
        async with self._e.read_autocommit.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        wc.current_revision,
                        wc.compacted_revision,
                        wc.epoch,
                        wc.last_polled_at,
                        wc.terminal,
                        wc.degraded_detail,
                    ).where(wc.campaign_key == campaign_key)
                )
            ).first()
        if row is None:
            return WatchState(0, 0, self._epoch, None, False)
        return WatchState(int(row[0]), int(row[1]), str(row[2]), row[3], bool(row[4]), row[5])

    async def snapshot(self, campaign_key: str) -> Snapshot:
        """All current rows and the revision they reflect (one read transaction).

        Loads every row into memory; use :meth:`iter_snapshot` for big campaigns.
        """
        rows: list[dict[str, Any]] = []
        revision = 0
        async for page in self.iter_snapshot(campaign_key, page_size=None):
            revision = page.revision
            rows.extend(page.rows)
        return Snapshot(revision, rows)

    def iter_snapshot(
        self, campaign_key: str, *, page_size: int | None = 1000
    ) -> AsyncGenerator[Snapshot, None]:
        """Pages of the current rows (by row_id), all from ONE read transaction.

        Every page carries the same revision. The transaction (and a pooled read
        connection) stays open until the iterator is exhausted or closed - use
        ``contextlib.aclosing`` if you may stop early. An open WAL reader delays
        checkpoints but never blocks the writer (on PostgreSQL: an open REPEATABLE
        READ transaction, which holds back vacuum, never writers).
        """
        return iter_snapshot(self._e, campaign_key, page_size=page_size)

    async def changes_since(
        self, campaign_key: str, revision: int, *, limit: int = 1000
    ) -> list[Change]:
        """Changes with revision > ``revision``, ordered by (revision, seq).

        At most ``limit`` changes, except that the last revision returned is
        always complete (a revision is never split across calls).
        """
        return await changes_since(self._e, self._extract, campaign_key, revision, limit=limit)
