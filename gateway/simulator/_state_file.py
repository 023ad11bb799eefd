"""The simulator's state file: one SQLite database, so a restarted simulator still has its
organizations, campaigns, rows, keys, id counter and clock (``--state PATH``).

Why SQLite: a save is one transaction (a killed process leaves the previous save intact,
never half of one), and rows are table rows, so a save writes only the rows that changed
since the last one: re-serialising a 100,000-row campaign every second would stall the
event loop. This module knows files and bytes only; what the values mean (and how model
objects become them) is :mod:`._persistence`'s.

Layout (format version ``FORMAT_VERSION``, in ``PRAGMA user_version``; ``PRAGMA
application_id`` marks the file as ours)::

    meta(key, value)                   JSON values: format, counter, clock, keys, ...
    organizations(id, data)            data: encoded value (see ``encode``)
    campaigns(id, org_id, data)
    campaign_rows(campaign_id, idx, data)
    blobs(name, data)                  the engine's pending events

Values are pickled plain data only (dicts, lists, tuples, sets, strings, numbers): the
loader refuses any class or function reference, so a tampered file cannot run code.

A simulator holds an exclusive ``flock`` on the file while it runs: two simulators on one
file would hand out the same ids.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

if sys.platform != "win32":
    import fcntl

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LoadedState",
    "StateFile",
    "StateFileError",
    "StateWrite",
    "decode",
    "encode",
]

FORMAT_VERSION = 1
APPLICATION_ID = 0x52565853  # "RVXS": this file is a Revox simulator state
FORMAT_NAME = "revox-simulator-state"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE organizations (id TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE campaigns (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, data BLOB NOT NULL)",
    "CREATE TABLE campaign_rows (campaign_id TEXT NOT NULL, idx INTEGER NOT NULL, "
    "data BLOB NOT NULL, PRIMARY KEY (campaign_id, idx)) WITHOUT ROWID",
    "CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL)",
)


class StateFileError(Exception):
    """The state file cannot be used; the message is one line naming the file and why."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Plain data never needs a global: refusing them all makes loading safe.
        raise pickle.UnpicklingError(f"unexpected reference to {module}.{name}")


def encode(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def decode(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


@dataclass
class StateWrite:
    """One save, as plain bytes: built on the event loop, written by any thread."""

    meta: dict[str, Any]  # JSON values, upserted
    organizations: dict[str, bytes] = field(default_factory=dict)  # upserted
    campaigns: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (org, data)
    rows: list[tuple[str, int, bytes]] = field(default_factory=list)  # upserted
    # Campaigns whose stored rows are all dropped before ``rows`` are written.
    replace_rows: set[str] = field(default_factory=set)
    deleted_campaigns: set[str] = field(default_factory=set)
    heap: bytes | None = None  # None: unchanged since the last write
    replace_all: bool = False  # empty every table first (after a failed write)


@dataclass
class LoadedState:
    """A file's content, decoded (still plain data)."""

    meta: dict[str, Any]
    organizations: dict[str, Any]
    campaigns: list[tuple[str, str, Any]]  # (id, org_id, header)
    rows: dict[str, list[Any]]  # campaign id -> rows in idx order
    heap: Any


class StateFile:
    """An open, locked state file. Use :meth:`open`; every method is thread-safe."""

    def __init__(self, path: str, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd
        self._mutex = threading.Lock()  # one sqlite connection, used from worker threads

    @classmethod
    def open(cls, path: str) -> StateFile:
        """Lock and open ``path`` (created when missing); StateFileError if it cannot be
        used: not ours, another format version, or in use by another simulator."""
        lock_fd = _lock(path)
        try:
            _check_header(path)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except StateFileError:
            _unlock(lock_fd)
            raise
        except sqlite3.Error as exc:
            _unlock(lock_fd)
            raise StateFileError(f"cannot open state file {path}: {exc}") from None
        try:
            _check_or_init(path, conn)
        except BaseException:
            conn.close()
            _unlock(lock_fd)
            raise
        return cls(path, conn, lock_fd)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
            _unlock(self._lock_fd)
            self._lock_fd = None

    def read(self) -> LoadedState | None:
        """The saved state, or None when the file holds no save yet."""
        try:
            with self._mutex:
                return self._read()
        except Exception as exc:  # any failure to decode what we wrote means damage
            raise StateFileError(f"state file {self.path} is corrupt: {_one_line(exc)}") \
                from None

    def _read(self) -> LoadedState | None:
        conn = self._conn
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        if "counter" not in meta:
            return None
        orgs = {i: decode(d) for i, d in conn.execute("SELECT id, data FROM organizations")}
        campaigns = [(i, o, decode(d)) for i, o, d in conn.execute(
            "SELECT id, org_id, data FROM campaigns")]
        rows: dict[str, list[Any]] = {}
        for cid, data in conn.execute(
                "SELECT campaign_id, data FROM campaign_rows ORDER BY campaign_id, idx"):
            rows.setdefault(cid, []).append(decode(data))
        blob = conn.execute("SELECT data FROM blobs WHERE name = 'heap'").fetchone()
        heap = decode(blob[0]) if blob is not None else []
        return LoadedState(meta, orgs, campaigns, rows, heap)

    def write(self, w: StateWrite) -> None:
        """Apply one save in one transaction (all of it or, if interrupted, none)."""
        with self._mutex:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if w.replace_all:
                    for table in ("organizations", "campaigns", "campaign_rows", "blobs"):
                        conn.execute(f"DELETE FROM {table}")
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in w.meta.items()])
                conn.executemany("INSERT OR REPLACE INTO organizations VALUES (?, ?)",
                                 list(w.organizations.items()))
                gone = [(cid,) for cid in w.deleted_campaigns | w.replace_rows]
                conn.executemany("DELETE FROM campaign_rows WHERE campaign_id = ?", gone)
                conn.executemany("DELETE FROM campaigns WHERE id = ?",
                                 [(cid,) for cid in w.deleted_campaigns])
                conn.executemany("INSERT OR REPLACE INTO campaigns VALUES (?, ?, ?)",
                                 [(cid, org, data) for cid, (org, data) in w.campaigns.items()])
                conn.executemany("INSERT OR REPLACE INTO campaign_rows VALUES (?, ?, ?)",
                                 w.rows)
                if w.heap is not None:
                    conn.execute("INSERT OR REPLACE INTO blobs VALUES ('heap', ?)", (w.heap,))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Upsert a few meta values in one (small) transaction."""
        self.write(StateWrite(meta=meta))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _lock(path: str) -> int | None:
    if sys.platform == "win32":
        return None  # no flock: the caller must not share a file between simulators
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateFileError(f"cannot open state file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StateFileError(f"state file {path} is in use by another simulator") from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_header(path: str) -> None:
    # SQLite would take a short non-empty file for an empty database and overwrite it.
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateFileError(f"cannot open state file {path}: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise StateFileError(f"state file {path} is not a simulator state file "
                             "(not an SQLite database)")


def _check_or_init(path: str, conn: sqlite3.Connection) -> None:
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        raise StateFileError(f"state file {path} is not a simulator state file "
                             "(not an SQLite database)") from None
    if app_id == 0 and version == 0 and tables == 0:
        try:
            _init(conn)
        except sqlite3.Error as exc:
            raise StateFileError(f"cannot create state file {path}: {_one_line(exc)}") \
                from None
        return
    if app_id != APPLICATION_ID:
        raise StateFileError(f"state file {path} is not a simulator state file "
                             "(an SQLite database of something else)")
    if version != FORMAT_VERSION:
        raise StateFileError(
            f"state file {path} has format version {version}, this simulator reads version "
            f"{FORMAT_VERSION}: use a matching simulator or move the file away")
    try:
        # WAL: a commit appends to the log (cheap, and safe against a killed process).
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise StateFileError(f"cannot use state file {path}: {_one_line(exc)}") from None


def _init(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('format', ?)", (json.dumps(FORMAT_NAME),))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
