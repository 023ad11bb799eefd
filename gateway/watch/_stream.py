"""One WatchCampaignRows subscription: snapshot, log catch-up, live, heartbeats.

Why this order: the mailbox is registered with the hub BEFORE the snapshot or
the log is read, so every revision committed after that read is also
published to the mailbox; revisions already covered are skipped by number.
That makes subscribe gap-free and duplicate-free (etcd/Kubernetes semantics).
A subscriber whose mailbox overflowed catches up from the durable log in
batches and rejoins live delivery; the poller never waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..errors import CampaignRecreated, ResumeTokenExpired, ResumeTokenInvalid, ShuttingDown
from ..store import RevisionAhead, RevisionCompacted
from ._events import Batch, Mailbox, group
from ._filter import RowFilter
from ._state import CampaignState
from ._token import COMPLETE, Position

if TYPE_CHECKING:
    from ._hub import WatchHub

__all__ = ["run_stream"]

Response = pb.WatchCampaignRowsResponse
_DEFAULT_HEARTBEAT = 15.0
_READY_TIMEOUT = 5.0  # then serve a stale snapshot if the log has one
_CATCH_UP_BATCH = 500


async def run_stream(
    hub: WatchHub, api_key: str, request: pb.WatchCampaignRowsRequest, context: Any,
    *, raw: bool = False,
) -> AsyncIterator[Response | bytes]:
    """The generator behind ``WatchHub.watch``."""
    if hub.closing:
        raise ShuttingDown("gateway is shutting down; resume with your last resume_token")
    cid = request.campaign_id
    flt = RowFilter.from_request(request)
    hb = _DEFAULT_HEARTBEAT
    if request.HasField("heartbeat_interval"):
        hb = max(0.01, request.heartbeat_interval.ToTimedelta().total_seconds())
    pos, incarnation = _resume_point(hub, request, flt)
    snapshot = request.send_initial_snapshot if request.HasField("send_initial_snapshot") else pos is None
    current = await hub.admit(api_key, cid)  # NotFound etc. propagate: nothing from the log leaks
    if pos is not None and incarnation not in (None, "", current):  # "": not known
        raise CampaignRecreated(
            f"campaign {cid} was deleted and created again upstream since this resume_token "
            "was issued; it belongs to the old campaign: start a new watch without it"
        )
    state, mb = await hub.subscribe(cid, api_key, current)
    try:
        stream = _Stream(hub, state, mb, flt, hb, raw)
        async for message in stream.start(pos, snapshot and pos is None):
            yield message
        # The live phase is inlined here, not a nested generator: at 1,000 subscribers
        # every generator layer a message passes through is paid 1,000 times per event.
        while True:
            batch = await stream.next_live()
            if batch is None:
                async for message in stream.catch_up():
                    yield message
                continue
            for message in batch:
                yield message
    finally:
        hub.unsubscribe(state, mb)


def _resume_point(
    hub: WatchHub, request: pb.WatchCampaignRowsRequest, flt: RowFilter
) -> tuple[Position | None, str | None]:
    """The position and incarnation of the request's resume token, checked (None, None
    without one)."""
    if not request.resume_token:
        return None, None
    data = hub.tokens.decode(request.resume_token)
    if data.epoch != hub.changelog.epoch:
        raise ResumeTokenInvalid("resume_token is from another gateway database")
    if data.campaign_id != request.campaign_id:
        raise ResumeTokenInvalid("resume_token belongs to a watch of another campaign")
    if data.fingerprint != flt.fingerprint:
        raise ResumeTokenInvalid("resume_token belongs to a watch with other filters or read_mask")
    return data.position, data.incarnation


class _Stream:
    def __init__(
        self, hub: WatchHub, state: CampaignState, mb: Mailbox, flt: RowFilter, hb: float,
        raw: bool,
    ) -> None:
        self.hub = hub
        self.state = state
        self.mb = mb
        self.flt = flt
        self.hb = hb
        self.raw = raw
        self.cid = state.campaign_id
        self.log = hub.changelog
        self.observer = hub.observer
        self.token: Callable[[Position], str] = hub.token_fn(
            self.cid, flt.fingerprint, state.incarnation or ""
        )
        self.pos = Position(0)
        self._loop = asyncio.get_running_loop()
        self.last_sent = self._loop.time()
        self._flags: tuple[bool, bool] = (False, False)

    # -- helpers ----------------------------------------------------------------

    def _heartbeat(self) -> Response:
        s = self.state
        self._flags = (s.degraded, s.final)
        hb = pb.Heartbeat(
            upstream_degraded=s.degraded, detail=s.detail, campaign_final=s.final
        )
        if s.last_poll_time is not None:
            hb.last_poll_time.FromNanoseconds(int(s.last_poll_time * 1e9))
        return Response(resume_token=self.token(self.pos), revision=self.pos.revision, heartbeat=hb)

    def _check(self) -> None:
        if self.mb.error is not None:
            raise self.mb.error

    def _remaining(self) -> float:
        return self.hb - (self._loop.time() - self.last_sent)

    def _deliver(self, batch: Batch, upto_row: str | None = None) -> list[Response | bytes]:
        """Responses of ``batch`` after the current position; advances the position.

        ``upto_row`` is set while a resumed snapshot brings the rows the client
        already knows (id <= upto_row) up to date: only their changes are sent,
        and each token keeps saying that the snapshot is unfinished, so a client
        that drops here resumes the catch-up and then gets the rest of the rows.
        """
        out: list[Response | bytes] = []
        pos = self.pos
        if batch.revision < pos.revision or (batch.revision == pos.revision and pos.seq == COMPLETE):
            return out
        raw = self.raw
        partial = batch.revision == pos.revision
        for seq, resp, data in batch.responses(self.flt, self.token):
            if partial and seq <= pos.seq:
                continue
            if upto_row is not None:
                if resp.row_change.row.id > upto_row:
                    continue
                own = self._retoken(resp, Position(batch.revision, seq, upto_row))
                out.append(own.SerializeToString() if raw else own)
                continue
            out.append(data if raw else resp)
        self.pos = batch.end if upto_row is None else Position(batch.revision, COMPLETE, upto_row)
        return out

    def _retoken(self, shared: Response, pos: Position) -> Response:
        # Batch messages are shared by every subscriber and never mutated: copy.
        resp = Response()
        resp.CopyFrom(shared)
        resp.resume_token = self.token(pos)
        return resp

    async def _changes(self, since: Position) -> list[Batch]:
        start = since.revision if since.seq == COMPLETE else since.revision - 1
        try:
            changes = await self.log.changes_since(self.cid, start, limit=_CATCH_UP_BATCH)
        except RevisionCompacted as exc:
            raise ResumeTokenExpired(
                "resume_token is older than the retained change log; restart with a snapshot",
                oldest_revision=exc.compacted_revision,
            ) from None
        except RevisionAhead:
            raise ResumeTokenInvalid("resume_token is ahead of this gateway's change log") from None
        return group(changes)

    # -- phases -----------------------------------------------------------------

    async def start(self, pos: Position | None, snapshot: bool) -> AsyncIterator[Response | bytes]:
        """Everything before live delivery: snapshot or resume, then the log up to now."""
        m: Response | bytes
        if pos is None:
            if snapshot:
                async for m in self._wait_ready():
                    yield m
                async for m in self._snapshot():
                    yield m
            else:
                self.pos = Position((await self.log.state(self.cid)).current_revision)
                # A token from the first message: a client that drops before the first
                # change resumes from here instead of having nothing to resume with.
                yield self._heartbeat()
                self.last_sent = self._loop.time()
        elif pos.after_row is not None:
            async for m in self._resume_snapshot(pos):
                yield m
        else:
            self.pos = pos
        quiet = pos is not None and pos.after_row is None
        async for m in self.catch_up():
            quiet = False
            yield m
        if quiet:  # a resume with nothing missed: say so at once, as a fresh watch does
            yield self._heartbeat()
            self.last_sent = self._loop.time()

    async def _wait_ready(self) -> AsyncIterator[Response]:
        started = self._loop.time()
        stale_ok = (await self.log.state(self.cid)).last_polled_at is not None
        while not self.state.ready.is_set():
            self._check()
            if stale_ok and self._loop.time() - started >= _READY_TIMEOUT:
                return
            # Batches queued meanwhile stay for later (catch_up resets the mailbox and
            # reads the log after the snapshot): only a notification ends this wait.
            woke = await self.mb.wait(min(self._remaining(), _READY_TIMEOUT), batches=False)
            self.mb.notified = False
            if not woke or self._remaining() <= 0:
                self.pos = Position(0, COMPLETE, "")  # resuming from here: a fresh snapshot
                yield self._heartbeat()
                self.last_sent = self._loop.time()

    async def _snapshot(self) -> AsyncIterator[Response | bytes]:
        rev, responses = await self.hub.snapshot_responses(self.state, self.flt, self.token)
        raw = self.raw
        for resp, data in responses:
            yield data if raw else resp
        self.pos = Position(rev)
        yield Response(
            resume_token=self.token(self.pos),
            revision=rev,
            snapshot_complete=pb.SnapshotComplete(row_count=len(responses)),
        )
        self.last_sent = self._loop.time()

    async def _resume_snapshot(self, pos: Position) -> AsyncIterator[Response | bytes]:
        """Continue an interrupted snapshot at the current revision R.

        The client knows the rows with id <= after_row as of ``pos``: first their
        changes in the log up to R (the rest of a partly delivered revision
        included), then the rows after after_row as they are at R, then the
        marker. Every message's token resumes right after it.
        """
        after = pos.after_row
        assert after is not None
        rev, rows, total = await self.hub.read_snapshot(self.cid, self.flt, after=after)
        self.pos = pos
        # after == "": the client knows no row yet, so there is nothing to bring up to date.
        while after and _before_end_of(self.pos, rev):
            batches = [b for b in await self._changes(self.pos) if b.revision <= rev]
            if not batches:
                break  # nothing of revisions <= R is left after the position
            for b in batches:
                for resp in self._deliver(b, upto_row=after):
                    yield resp
        for resp in self.hub.snapshot_messages(rows, rev, self.token, self.flt.mask):
            yield resp
        self.pos = Position(rev)
        yield Response(
            resume_token=self.token(self.pos),
            revision=rev,
            snapshot_complete=pb.SnapshotComplete(row_count=total),
        )
        self.last_sent = self._loop.time()

    async def catch_up(self) -> AsyncIterator[Response | bytes]:
        """Deliver the log after the position up to the present (mailbox already registered)."""
        while True:
            self.mb.reset()
            while True:
                self._check()
                batches = await self._changes(self.pos)
                if not batches:
                    break
                for b in batches:
                    for resp in self._deliver(b):
                        yield resp
                        self.last_sent = self._loop.time()
            if not self.mb.overflowed:
                return

    async def next_live(self) -> list[Response | bytes] | None:
        """The next messages of live delivery (waiting for them), or None when the
        subscriber must catch up from the log first (its mailbox overflowed)."""
        loop = self._loop
        while True:
            self._check()
            if self.mb.overflowed:
                return None
            out: list[Response | bytes] = []
            for b in self.mb.take():
                if b.revision > self.pos.revision + 1:
                    # Defensive: never skip a revision; read the rest from the log.
                    self.mb.overflowed = True
                    break
                sent = len(out)
                out += self._deliver(b)
                if self.observer is not None and len(out) > sent:
                    self.observer.delivered(b.committed_at)  # commit -> delivery latency
            s = self.state
            if (s.degraded, s.final) != self._flags and (s.degraded or s.final or self._flags[0]):
                out.append(self._heartbeat())
            elif not out and self._remaining() <= 0:
                out.append(self._heartbeat())
            if out:
                self.last_sent = loop.time()
                return out
            await self.mb.wait(self._remaining())


def _before_end_of(pos: Position, revision: int) -> bool:
    """Whether something of ``revision`` (or earlier) is still undelivered at ``pos``."""
    return pos.revision < revision or (pos.revision == revision and pos.seq != COMPLETE)
