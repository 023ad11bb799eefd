"""Page tokens of the two list rpcs (AIP-158): opaque to clients, checked when they come back.

A token holds the offset of the next item. ListCampaignRows's also holds a fingerprint of
the campaign and filters it was issued for, so it cannot be replayed against another listing
(``page_size`` may change between calls: the offset does not depend on it). Tokens are not
secret: a forged offset only reads, with the caller's own key, what ``page`` would.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from ..errors import FieldViolation, InvalidArgument

__all__ = [
    "MAX_OFFSET", "campaigns_offset", "campaigns_token", "rows_fingerprint", "rows_offset",
    "rows_token",
]

MAX_OFFSET = 1_000_000_000


def campaigns_token(offset: int) -> str:
    return _encode(f"o:{offset}")


def campaigns_offset(token: str) -> int:
    if not token:
        return 0
    prefix, offset, _ = _decode(token)
    if prefix != "o":
        raise _invalid("not a token of ListCampaigns")
    return offset


def rows_token(offset: int, fingerprint: str) -> str:
    return _encode(f"r:{offset}:{fingerprint}")


def rows_offset(token: str, fingerprint: str) -> int:
    prefix, offset, bound_to = _decode(token)
    if prefix != "r":
        raise _invalid("not a token of ListCampaignRows")
    if bound_to != fingerprint:
        raise _invalid("issued for another campaign or other filters (query, result, statuses)")
    return offset


def rows_fingerprint(campaign_id: str, query: str, result: int, statuses: Iterable[int]) -> str:
    """What a rows token is bound to: the listing, not the page size."""
    key = "\x00".join((campaign_id, query, str(result), ",".join(map(str, sorted(set(statuses))))))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[str, int, str]:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii") + b"==").decode()
        prefix, _, rest = text.partition(":")
        number, _, bound_to = rest.partition(":")
        if not number.isdigit():
            raise ValueError
        offset = int(number)
        if offset > MAX_OFFSET:
            raise ValueError
    except (ValueError, UnicodeError):
        raise _invalid("not a token this gateway issued") from None
    return prefix, offset, bound_to


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation("page_token", why)])
