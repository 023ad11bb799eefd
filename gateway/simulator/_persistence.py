"""Keeping a simulator's state in its state file (``SimulatorConfig.state_path``), so a
restart keeps organizations, campaigns, rows, attempts, keys, the id counter and the clock,
as a real upstream would: the gateway's database outlives simulator restarts.

When it saves (each save is one transaction, see :mod:`._state_file`):

* before answering a successful ``POST`` / ``DELETE`` API request (create, cancel, delete),
  so an answered create is never lost, even to ``kill -9``;
* after ``advance`` (control API or ``sim.advance``), and synchronously in ``add_key`` /
  ``revoke_key`` (keys only: a tiny write);
* at most once per second while the real clock runs (call progress and the clock
  position: a killed simulator loses at most about a second), and on stop.

Saves are incremental: rows are tracked in ``Campaign.dirty`` (filled by
``Campaign.set_status`` and the engine) and only those are re-encoded, so a running
100,000-row campaign costs per second what changed, not its size. Encoding happens on the
event loop (a consistent snapshot); writing happens in a worker thread.

The clock resumes at the saved simulated time (time stood still while the simulator was
down, so no call jumps ahead by hours); an explicit ``start_time`` later than that moves it
forward, never back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._clock import SimClock
from ._engine import Engine, Event
from ._model import Attempt, Campaign, Row
from ._state_file import (
    FORMAT_NAME,
    LoadedState,
    StateFile,
    StateFileError,
    StateWrite,
    encode,
)
from ._store import Organization, Store
from ._validation import ApiError, windows_from_config
from ._windows import WindowSet

__all__ = ["SAVE_INTERVAL_S", "Persistence", "save_middleware"]

log = logging.getLogger("gateway.simulator")

SAVE_INTERVAL_S = 1.0  # periodic saves while the real clock runs

# Attribute order of an encoded attempt / campaign header (format version 1).
_ATTEMPT_FIELDS = ("id", "status", "queued_at", "started_at", "answered_at", "ended_at",
                   "result", "dial_error", "end_reason", "ended_by", "transcript",
                   "structured_output", "recording_url", "planned")
_HEADER_FIELDS = ("name", "retry_config", "effective_retry", "tz_override",
                  "from_phone_number", "max_concurrent_calls", "cap", "scheduled_at",
                  "created_at", "updated_at", "is_cancelled", "released", "active",
                  "terminal", "seq")


def _encode_row(row: Row) -> bytes:
    attempts = [tuple(getattr(a, name) for name in _ATTEMPT_FIELDS) for a in row.attempts]
    return encode((row.index, row.id, row.phone, row.vars, row.tz, row.status, row.token,
                   row.next_at, row.counted, row.updated_at, attempts))


def _decode_row(value: Any) -> Row:
    index, row_id, phone, variables, tz, status, token, next_at, counted, updated_at, \
        attempts = value
    row = Row(index, row_id, phone, variables, updated_at)
    row.tz, row.status, row.token, row.next_at = tz, status, token, next_at
    row.counted = (counted[0], counted[1])
    for values in attempts:
        attempt = Attempt(values[0], values[2])
        for name, v in zip(_ATTEMPT_FIELDS, values, strict=True):
            setattr(attempt, name, v)
        row.attempts.append(attempt)
    return row


def _header(c: Campaign) -> dict[str, Any]:
    header = {name: getattr(c, name) for name in _HEADER_FIELDS}
    header["assistant_id"] = c.assistant["id"]  # shared with the organization's assistant
    header["counts"] = dict(c.counts)
    header["queue"] = [row.index for row in c.queue]
    return header


def _fingerprint(c: Campaign) -> tuple[Any, ...]:
    # Campaign-level fields that can change without a row changing (cancel, release).
    return (c.updated_at, c.is_cancelled, c.released, c.active, c.terminal, len(c.queue),
            len(c.rows))


class Persistence:
    """The state file of one running simulator. Create with :meth:`open`."""

    def __init__(self, file: StateFile, store: Store, engine: Engine, clock: SimClock) -> None:
        self.file = file
        self._store, self._engine, self._clock = store, engine, clock
        # What the file holds, to write only what differs.
        self._saved_orgs: dict[str, int] = {}  # org id -> assistants saved
        self._saved_campaigns: dict[str, tuple[Any, ...]] = {}  # id -> fingerprint saved
        self._heap_mark: tuple[int, int, int] | None = None
        self._keys_saved: dict[str, Any] | None = None
        self._full = False  # a write failed: rewrite everything next time
        self._lock = asyncio.Lock()  # saves in order, one at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_periodic = float("-inf")
        self.saves = 0

    @classmethod
    async def open(cls, path: str, store: Store, engine: Engine, clock: SimClock,
                   explicit_start: float | None) -> Persistence:
        """Open ``path``, restore what it holds (StateFileError if it cannot be used)."""
        file = StateFile.open(path)
        try:
            persistence = cls(file, store, engine, clock)
            loaded = await asyncio.to_thread(file.read)
            if loaded is not None:
                try:
                    persistence._restore(loaded, explicit_start)
                except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
                    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
                    raise StateFileError(f"state file {path} is corrupt: {detail}") from None
            await persistence.save()  # the file holds this start at once (ids, clock)
        except BaseException:
            file.close()
            raise
        return persistence

    # -- restore -------------------------------------------------------------------------
    def _restore(self, loaded: LoadedState, explicit_start: float | None) -> None:
        meta, store, engine = loaded.meta, self._store, self._engine
        if meta.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {meta.get('format')!r}")
        store.counter = int(meta["counter"])
        keys = meta.get("keys") or {}
        store.key_orgs = {str(k): str(v) for k, v in (keys.get("key_orgs") or {}).items()}
        store.revoked = {str(k) for k in keys.get("revoked") or []}
        self._keys_saved = self._keys()
        for org_id, data in loaded.organizations.items():
            store.orgs[org_id] = Organization(org_id, assistants=dict(data["assistants"]))
            self._saved_orgs[org_id] = len(data["assistants"])
        rows_of: dict[str, dict[int, Row]] = {}
        for cid, org_id, header in sorted(loaded.campaigns, key=lambda c: int(c[2]["seq"])):
            campaign = self._campaign(cid, store.orgs[org_id], header,
                                      loaded.rows.get(cid, []))
            rows_of[cid] = {row.index: row for row in campaign.rows}
        engine.restore_events(list(self._events(loaded.heap, rows_of)))
        engine.now = float(meta["engine_now"])
        engine.events_processed = int(meta["events_processed"])
        engine.next_seq = int(meta["next_seq"])
        self._heap_mark = engine.change_mark()
        saved_now = float(meta["clock"])
        self._clock.resume_at(saved_now if explicit_start is None
                              else max(saved_now, explicit_start))

    def _campaign(self, cid: str, org: Organization, header: dict[str, Any],
                  encoded_rows: list[Any]) -> Campaign:
        fields = {name: header[name] for name in _HEADER_FIELDS}
        campaign = Campaign(
            id=cid, org_id=org.id, assistant=org.assistants[header["assistant_id"]],
            windows=WindowSet(windows_from_config(header["effective_retry"])),
            rows=[_decode_row(value) for value in encoded_rows],
            counts=dict(header["counts"]), **fields)
        by_index = {row.index: row for row in campaign.rows}
        campaign.queue = deque(by_index[i] for i in header["queue"] if i in by_index)
        campaign.dirty = set()
        org.campaigns[cid] = campaign
        self._saved_campaigns[cid] = _fingerprint(campaign)
        return campaign

    def _events(self, heap: Any, rows_of: dict[str, dict[int, Row]]) -> list[Event]:
        campaigns = {c.id: c for org in self._store.orgs.values()
                     for c in org.campaigns.values()}
        events: list[Event] = []
        for when, seq, name, cid, index, token in heap:
            campaign = campaigns.get(cid)
            row = None if index is None else rows_of.get(cid, {}).get(index)
            if campaign is None or (index is not None and row is None):
                continue  # the row or campaign is gone: so is its event
            events.append((float(when), int(seq), str(name), campaign, row, int(token)))
        return events

    # -- save ----------------------------------------------------------------------------
    def _keys(self) -> dict[str, Any]:
        return {"key_orgs": dict(self._store.key_orgs), "revoked": sorted(self._store.revoked)}

    def _snapshot(self) -> StateWrite:
        """What changed since the last snapshot, encoded; marks it as saved."""
        store, engine = self._store, self._engine
        w = StateWrite(meta={
            "counter": store.counter, "clock": self._clock.now(), "engine_now": engine.now,
            "events_processed": engine.events_processed, "next_seq": engine.next_seq,
            "saved_at": time.time(),
        }, replace_all=self._full)
        if self._full:
            self._saved_orgs.clear()
            self._saved_campaigns.clear()
            self._heap_mark = self._keys_saved = None
            self._full = False
        keys = self._keys()
        if keys != self._keys_saved:
            w.meta["keys"] = self._keys_saved = keys
        live: set[str] = set()
        for org in store.orgs.values():
            if self._saved_orgs.get(org.id) != len(org.assistants):
                w.organizations[org.id] = encode({"assistants": org.assistants})
                self._saved_orgs[org.id] = len(org.assistants)
            for c in org.campaigns.values():
                live.add(c.id)
                self._snapshot_campaign(w, org, c)
        w.deleted_campaigns = set(self._saved_campaigns) - live
        for cid in w.deleted_campaigns:
            del self._saved_campaigns[cid]
        mark = engine.change_mark()
        if mark != self._heap_mark:
            w.heap = encode([(when, seq, name, c.id, None if row is None else row.index, tok)
                             for when, seq, name, c, row, tok in engine.events()])
            self._heap_mark = mark
        return w

    def _snapshot_campaign(self, w: StateWrite, org: Organization, c: Campaign) -> None:
        fingerprint = _fingerprint(c)
        saved = self._saved_campaigns.get(c.id)
        if saved is None or c.dirty is None:  # new, or to be rewritten whole
            w.replace_rows.add(c.id)
            w.rows.extend((c.id, row.index, _encode_row(row)) for row in c.rows)
        elif c.dirty:
            w.rows.extend((c.id, row.index, _encode_row(row)) for row in c.dirty)
        elif saved == fingerprint:
            return
        w.campaigns[c.id] = (org.id, encode(_header(c)))
        c.dirty = set()
        self._saved_campaigns[c.id] = fingerprint

    async def save(self) -> None:
        """Write what changed; returns once it is in the file. Raises if it is not."""
        async with self._lock:
            write = self._snapshot()
            try:
                await asyncio.to_thread(self.file.write, write)
            except BaseException:
                self._full = True  # what this write carried is no longer tracked as dirty
                raise
            self.saves += 1

    def save_keys(self) -> None:
        """Write the API keys now (synchronously: a key change is durable on return)."""
        keys = self._keys()
        try:
            self.file.write_meta({"keys": keys})
        except BaseException:
            self._full = True
            raise
        self._keys_saved = keys

    def save_soon(self) -> None:
        """Save in the background (changes made outside a request or an advance)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (engine driven synchronously): the next save carries it
        task = loop.create_task(self._save_logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def tick(self) -> None:
        """Called on every real-clock tick: save at most once per SAVE_INTERVAL_S."""
        now = time.monotonic()
        if now - self._last_periodic >= SAVE_INTERVAL_S and not self._tasks:
            self._last_periodic = now
            self.save_soon()

    async def _save_logged(self) -> None:
        try:
            await self.save()
        except Exception:
            log.exception("could not save the simulator state to %s", self.file.path)

    async def close(self) -> None:
        """Final save, then release the file."""
        try:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._save_logged()
        finally:
            self.file.close()


def save_middleware(persistence: Persistence) -> Middleware:
    """An aiohttp middleware (innermost) that saves after every successful API change, before
    the response leaves: a client that saw its create answered can rely on it."""

    @web.middleware
    async def save_after_change(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method in ("POST", "DELETE") and response.status < 400 \
                and not request.path.startswith("/_simulator"):
            try:
                await persistence.save()
            except Exception as exc:
                log.exception("could not save the simulator state")
                raise ApiError(500, "internal",
                               f"the simulator could not save its state: {exc}") from None
        return response

    return save_after_change
