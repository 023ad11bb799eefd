"""Upstream timestamps to (seconds, nanos), faster than ``Timestamp.FromJsonString``.

FromJsonString goes through ``strptime`` (~10 µs; a Campaign has five
timestamps). ``rfc3339`` parses the ISO 8601 shapes an API writes, e.g.
``2026-11-27T08:10:44.123Z``, to the same (seconds, nanos), and answers None
for anything else, which the caller then hands to FromJsonString itself (so
every error and every odd accepted shape stays FromJsonString's).

The reference types its timestamps ``unknown`` and never shows one, so beside
strict RFC 3339 this reads what other upstreams write: no fraction or up to 9
digits of it, a space for the ``T``, a lowercase ``z``, and no zone at all,
read as UTC (what a server's naive UTC ``isoformat()`` gives). A number is
not read as a time (seconds or milliseconds cannot be told apart for sure):
the decoder keeps it verbatim in ``extra_fields``.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["rfc3339"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z, Timestamp's valid range
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def rfc3339(text: str) -> tuple[int, int] | None:
    """(seconds, nanos) exactly as FromJsonString computes them, or None."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    hours, minutes, seconds = int(hour), int(minute), int(second)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _UNIX_EPOCH_ORDINAL
    except ValueError:
        return None
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    # Same rounding as FromJsonString, so both give the same nanos.
    nanos = round(float("0." + fraction) * 1e9) if fraction else 0
    if sign is not None:  # else Z, or no zone: UTC
        offset = (int(off_h) * 60 + int(off_m)) * 60
        total = total - offset if sign == "+" else total + offset
    if not (_MIN_SECONDS <= total <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        return None
    return total, nanos

