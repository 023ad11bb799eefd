"""One poll's observations, diffed page by page against the stored rows.

Why page by page: a 100,000-row sweep decoded into dicts is millions of live
container objects; held until the commit, every cyclic-GC pass walked all of
them (~25% of a sweep's CPU, measured at 20k rows), and their memory adds up.
Each page is checked against the stored fast hashes as it arrives and only the
rows that may have changed are kept: a sweep holds ~1 page plus those rows.

Why a fast hash: canonical JSON (sorted keys) + blake2b cost ~45-70 µs per real
4-5 KB row, the largest CPU item of a sweep after JSON decoding. marshal (format
2) of the decoded row + SHA-256 costs ~10-25 µs (SHA-256 rather than blake2b:
~2x faster on CPUs with SHA instructions, x86 since ~2019 and ARMv8, which
OpenSSL uses). marshal encodes JSON values losslessly (type tags, binary
floats; format 2 writes neither object references nor interned-string flags, so
the bytes depend only on the value and its key order), hence equal fast hashes
mean equal rows. Unequal ones (key order changed, a row stored before schema
v3, another marshal format) fall back to the canonical ``row_hash``: if that is
equal there is no change and only the new fast hash is stored (a "rehash"), so
no spurious event is ever emitted.
"""

from __future__ import annotations

import hashlib
import marshal
from typing import Any, NamedTuple, cast

from ._base import canonical_json
from ._watch_types import Change, ChangeKind, Extractor

__all__ = [
    "Compared",
    "PollDiff",
    "Prepared",
    "Shared",
    "canonical_digest",
    "changed_paths",
    "compare",
    "fast_digest",
    "observe_items",
    "prepare",
]

# marshal format 2: no FLAG_REF back-references (identity/refcount dependent)
# and no TYPE_INTERNED (interning dependent); format 0/1 would write floats as
# text, which is slower and no more stable.
_MARSHAL_FORMAT = 2


class Shared:
    """The last ``call.assistant`` object seen and the digest of its marshal bytes.

    Every row of a campaign embeds the same ~2 KB assistant (half an early row's
    bytes); comparing it with the previous row's (``==`` runs in C) is ~3x
    cheaper than marshalling and hashing it again. One per poll.
    """

    __slots__ = ("digest", "value")

    def __init__(self) -> None:
        self.value: dict[str, Any] | None = None
        self.digest = b""


def fast_digest(row: dict[str, Any], shared: Shared) -> bytes:
    """Digest of the row as decoded (key order included); b"" if not marshallable.

    ``call.assistant`` is hashed as the digest of its own marshal bytes: a
    ``bytes`` stand-in, which decoded JSON never contains, so equal digests
    still mean equal rows. Every fast hash must be made this way (they are stored).
    """
    try:
        call = row.get("call")
        assistant = call.get("assistant") if type(call) is dict else None
        if type(assistant) is not dict:
            data = marshal.dumps(row, _MARSHAL_FORMAT)
        else:
            if assistant is not shared.value and assistant != shared.value:
                shared.value = assistant
                shared.digest = hashlib.sha256(marshal.dumps(assistant, _MARSHAL_FORMAT)).digest()
            stand_in = {**row, "call": {**cast(dict[str, Any], call), "assistant": shared.digest}}
            data = marshal.dumps(stand_in, _MARSHAL_FORMAT)
    except ValueError:  # not plain JSON data (tests may pass anything): compare canonically
        return b""
    return hashlib.sha256(data).digest()[:16]


def canonical_digest(canonical: str) -> str:
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


class PollDiff:
    """What one poll saw, reduced to the rows that may differ from the store.

    ``candidates``: row_id -> (row, fast hash) for rows whose fast hash did not
    match the stored one when observed (the last observation of a row wins);
    ``seen``: every observed row id (a full sweep removes stored rows not in it).
    Build with :meth:`ChangeLog.start_poll`, feed with :meth:`ChangeLog.observe`,
    finish with :meth:`ChangeLog.commit`.
    """

    __slots__ = (
        "campaign_key",
        "candidates",
        "full_sweep",
        "seen",
        "shared",
        "stored",
        "stored_any",
        "unseen",
    )

    def __init__(self, campaign_key: str, *, full_sweep: bool) -> None:
        self.campaign_key = campaign_key
        # May be set to True once the observations are known to be every row
        # (a drifted upstream answered an unfiltered, unpaged listing).
        self.full_sweep = full_sweep
        self.candidates: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.seen: set[str] = set()
        self.stored_any: bool | None = None  # does the store hold rows? (asked once)
        # A full sweep's stored fast hashes, read once (one scan costs ~2 µs a row,
        # per-page IN lookups ~6); partial polls read per page (they list few rows).
        self.stored: dict[str, bytes | None] | None = None
        self.shared = Shared()
        # A row id the store has never held turned up in a campaign it holds rows of:
        # rows are not added to a running campaign, so the poller asks whether the
        # campaign was recreated before committing it.
        self.unseen = False

    def keep(self, items: list[tuple[str, dict[str, Any], bytes]], stored: dict[str, Any]) -> None:
        """Record observed ``(row_id, row, fast)``; ``stored``: row_id -> stored fast hash."""
        seen, candidates = self.seen, self.candidates
        for rid, row, fast in items:
            seen.add(rid)
            if self.stored_any and rid not in stored:
                self.unseen = True
            if fast and stored.get(rid) == fast:
                # Unchanged. Drop an earlier observation of the same row from this
                # poll too (paging a moving listing can return a row twice).
                candidates.pop(rid, None)
            else:
                candidates[rid] = (row, fast)


# row_id -> (row, fast hash, canonical JSON, canonical digest)
Prepared = dict[str, tuple[dict[str, Any], bytes, str, str]]


def prepare(candidates: dict[str, tuple[dict[str, Any], bytes]]) -> Prepared:
    """Canonical JSON and its digest of each candidate (CPU only; no I/O)."""
    out: Prepared = {}
    for rid, (row, fast) in candidates.items():
        canon = canonical_json(row)
        out[rid] = (row, fast, canon, canonical_digest(canon))
    return out


def observe_items(
    rows: list[dict[str, Any]], shared: Shared
) -> list[tuple[str, dict[str, Any], bytes]]:
    """(row_id, row, fast hash) of each observed row (CPU only; no I/O)."""
    return [(str(row["id"]), row, fast_digest(row, shared)) for row in rows]


class Compared(NamedTuple):
    changes: list[Change]  # 'added' / 'modified', seq from 0
    texts: list[str]  # row text of each change (canonical JSON)
    added: list[tuple[Any, ...]]  # watch_rows tuples (see _watch_write)
    modified: list[tuple[Any, ...]]
    rehashed: list[tuple[Any, ...]]  # unchanged rows whose fast hash is new


def compare(
    campaign_key: str,
    revision: int,
    observed: Prepared,
    stored: dict[str, tuple[str, bytes | None, str | None, str | None]],
    extract: Extractor,
    now: float,
) -> Compared:
    """Observed rows against ``stored`` (row_id -> row_hash, fast_hash, status, result)."""
    out = Compared([], [], [], [], [])
    changes = out.changes
    for rid, (row, fast, canon, digest) in observed.items():
        prev = stored.get(rid)
        if prev is not None and prev[0] == digest:
            if fast and prev[1] != fast:  # same row (e.g. keys reordered): store the new hash
                out.rehashed.append((fast, campaign_key, rid))
            continue
        status, result = extract(row)
        kind: ChangeKind = "added" if prev is None else "modified"
        before = (None, None) if prev is None else (prev[2], prev[3])  # status, result
        changes.append(Change(revision, len(changes), rid, kind, row, status, result, *before, now))
        out.texts.append(canon)
        params = (campaign_key, rid, canon, digest, fast or None, status, result, revision)
        (out.added if prev is None else out.modified).append(params)
    return out


def changed_paths(prev: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted JSON paths where ``new`` differs from ``prev``: objects are compared key by
    key, anything else (lists included) as a whole. [""] when the roots differ in kind."""
    if type(prev) is dict and type(new) is dict:
        out: list[str] = []
        for key in prev.keys() | new.keys():
            a, b = prev.get(key, _MISSING), new.get(key, _MISSING)
            if a != b:
                path = f"{prefix}.{key}" if prefix else str(key)
                out += changed_paths(a, b, path) if type(a) is dict and type(b) is dict else [path]
        return sorted(out)
    return [] if prev == new else [prefix]


_MISSING = object()
