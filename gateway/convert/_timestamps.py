"""RFC 3339 timestamps the way ``Timestamp.FromJsonString`` reads them, faster.

FromJsonString goes through ``strptime`` (~10 µs; a Campaign has five
timestamps). ``rfc3339`` parses only the strict shape the API sends, e.g.
``2026-11-27T08:10:44.123Z``, to the same (seconds, nanos), and answers None
for anything else, which the caller then hands to FromJsonString itself (so
every error and every odd accepted shape stays FromJsonString's).
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["rfc3339"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):(\d\d))",
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
    if zulu is None:
        offset = (int(off_h) * 60 + int(off_m)) * 60
        total = total - offset if sign == "+" else total + offset
    if not (_MIN_SECONDS <= total <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        return None
    return total, nanos
