"""Resume tokens: opaque, signed positions in a campaign's change log.

Why signed: a token is a capability to read the log from a point; a client
must not be able to fabricate one for another campaign or filter, and a token
minted by another gateway database (other epoch) must be refused, never
silently mapped onto this log's revisions (that would rewind or skip events).

Payload (compact JSON list, base64url without padding, then a 16-byte
HMAC-SHA256 tag): ``[2, epoch, campaign_id, filter fingerprint, revision, seq,
after_row, incarnation]``. The incarnation (``store.incarnation_of``) ties the
token to the campaign as it was: an id deleted and created again is another
campaign, whose log positions mean nothing to this token. Version 1 tokens
(without it) are still read; their incarnation is unknown (None).

Position semantics: everything up to ``(revision, seq)`` was delivered;
``seq == -1`` means revision complete. ``after_row`` is set only while a
snapshot is unfinished (sent in row-id order): the client knows the rows with
id <= after_row as of ``(revision, seq)`` and nothing of the rows after it.
That holds inside a fresh snapshot (``(R, -1, last row sent)``) and inside the
catch-up of a resumed one (``(r, seq, after_row)`` for each change of a known
row), so a stream resumed from any of its messages continues right after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from ..errors import ResumeTokenInvalid

__all__ = ["COMPLETE", "Position", "TokenCodec", "TokenData"]

_VERSION = 2
_TAG = 16
COMPLETE = -1


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the log right after a delivered message."""

    revision: int
    seq: int = COMPLETE
    after_row: str | None = None

    def key(self) -> tuple[int, int]:
        return (self.revision, self.seq)


@dataclass(frozen=True, slots=True)
class TokenData:
    epoch: str
    campaign_id: str
    fingerprint: str
    position: Position
    incarnation: str | None = None  # None: a version 1 token, from before incarnations


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode((text + pad).encode("ascii"))


class TokenCodec:
    """Mints and verifies tokens with one HMAC key."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("token key must not be empty")
        self._key = key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG]

    def encode(
        self, epoch: str, campaign_id: str, fingerprint: str, pos: Position, incarnation: str = ""
    ) -> str:
        payload = json.dumps(
            [_VERSION, epoch, campaign_id, fingerprint, pos.revision, pos.seq, pos.after_row,
             incarnation],
            separators=(",", ":"),
        ).encode()
        return _b64(payload + self._tag(payload))

    def decode(self, token: str) -> TokenData:
        """Verify and parse; any defect raises ResumeTokenInvalid (never a silent restart)."""
        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise ResumeTokenInvalid("resume_token is forged or malformed") from None
        if len(raw) <= _TAG:
            raise ResumeTokenInvalid("resume_token is forged or malformed")
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise ResumeTokenInvalid("resume_token is forged or malformed")
        try:
            fields = json.loads(payload)
            if fields[0] == 1:
                fields.append(None)  # version 1: no incarnation
            v, epoch, cid, fp, rev, seq, after, incarnation = fields
            ok = (
                v in (1, _VERSION)
                and (incarnation is None) == (v == 1)
                and (incarnation is None or isinstance(incarnation, str))
                and isinstance(epoch, str)
                and isinstance(cid, str)
                and isinstance(fp, str)
                and type(rev) is int
                and type(seq) is int
                and rev >= 0
                and seq >= COMPLETE
                and (after is None or isinstance(after, str))
            )
        except (ValueError, TypeError, IndexError, KeyError):
            ok = False
        if not ok:
            raise ResumeTokenInvalid("resume_token is forged or malformed")
        return TokenData(epoch, cid, fp, Position(rev, seq, after), incarnation)
