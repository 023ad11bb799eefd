"""Phone numbers, timezones and calling windows.

Calling windows are evaluated in the recipient's timezone: ``call_retry_config.timezone``
when given, otherwise the timezone of the phone number's country/area code
(``phonenumbers.timezone``; the first one when a prefix spans several, UTC when unknown).

A window is ``[start, end)`` in local time of day, every day; ``end <= start`` means the
window wraps past midnight. An empty ``calling_windows`` list means "no restriction".

Parsing phone numbers costs ~30 µs with ``phonenumbers``, too slow for 100,000 contacts in
one request, so results are cached by prefix and length (possibility and timezone only
depend on the country code, leading digits and length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as pn_timezone

__all__ = [
    "E164_RE",
    "PhoneInfo",
    "Window",
    "WindowSet",
    "parse_window_time",
    "valid_timezone",
]

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_H24_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_H12_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s?([aApP])[mM]$")


def parse_window_time(value: str) -> int | None:
    """Minutes after midnight for 'HH:mm' (24h) or 'H:mma' / 'Ha' (12h); None if malformed."""
    text = value.strip()
    m = _H24_RE.match(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
            return None
        return hour * 60 + minute
    m = _H12_RE.match(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return None
        hour %= 12
        if m.group(3) in "pP":
            hour += 12
        return hour * 60 + minute
    return None


_TZ_CACHE: dict[str, ZoneInfo | None] = {}


def valid_timezone(name: str) -> ZoneInfo | None:
    """The ZoneInfo for an IANA name, or None if unknown (cached; lookups are hot)."""
    if name in _TZ_CACHE:
        return _TZ_CACHE[name]
    zone: ZoneInfo | None
    if not name or name not in _available():
        zone = None
    else:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    _TZ_CACHE[name] = zone
    return zone


_AVAILABLE: set[str] = set()


def _available() -> set[str]:
    # available_timezones() walks the tz database on disk: do it once per process.
    if not _AVAILABLE:
        _AVAILABLE.update(available_timezones())
        _AVAILABLE.add("UTC")
    return _AVAILABLE


class PhoneInfo:
    """Cached validity and timezone lookups for E.164 numbers."""

    def __init__(self) -> None:
        self._possible: dict[tuple[str, int], bool] = {}
        self._tz: dict[str, str] = {}

    def is_valid_e164(self, number: str) -> bool:
        if not E164_RE.match(number):
            return False
        key = (number[:6], len(number))
        ok = self._possible.get(key)
        if ok is None:
            try:
                parsed = phonenumbers.parse(number, None)
                ok = phonenumbers.is_possible_number(parsed)
            except phonenumbers.NumberParseException:
                ok = False
            self._possible[key] = ok
        return ok

    def timezone_for(self, number: str) -> str:
        key = number[:8]
        tz = self._tz.get(key)
        if tz is None:
            tz = "UTC"
            try:
                zones = pn_timezone.time_zones_for_number(phonenumbers.parse(number, None))
                for zone in zones:
                    if zone != "Etc/Unknown" and valid_timezone(zone):
                        tz = zone
                        break
            except phonenumbers.NumberParseException:
                pass
            self._tz[key] = tz
        return tz


@dataclass(frozen=True, slots=True)
class Window:
    start_min: int
    end_min: int
    retry_delay_seconds: int

    def contains(self, minute_of_day: float) -> bool:
        if self.start_min == self.end_min:
            return True  # a zero-length window is read as "all day"
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


class WindowSet:
    """The effective calling windows of a campaign, evaluated per recipient timezone."""

    def __init__(self, windows: list[Window], *, default_delay: int = 7200) -> None:
        self.windows = windows
        self.default_delay = default_delay

    def _local(self, ts: float, tz: str) -> datetime:
        zone = valid_timezone(tz) or ZoneInfo("UTC")
        return datetime.fromtimestamp(ts, zone)

    def window_at(self, ts: float, tz: str) -> Window | None:
        """The window containing ``ts`` for a recipient in ``tz`` (None: outside all)."""
        local = self._local(ts, tz)
        minute = local.hour * 60 + local.minute + local.second / 60
        for window in self.windows:
            if window.contains(minute):
                return window
        return None

    def is_open(self, ts: float, tz: str) -> bool:
        return not self.windows or self.window_at(ts, tz) is not None

    def next_open(self, ts: float, tz: str) -> float:
        """The earliest instant >= ts at which a window is open for ``tz``."""
        if self.is_open(ts, tz):
            return ts
        zone = valid_timezone(tz) or ZoneInfo("UTC")
        local = datetime.fromtimestamp(ts, zone)
        best: float | None = None
        for window in self.windows:
            for day in (0, 1, 2):
                base = (local + timedelta(days=day)).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
                # Rebuild through the zone so DST transitions land on real instants.
                candidate = datetime(
                    base.year, base.month, base.day, window.start_min // 60 % 24,
                    window.start_min % 60, tzinfo=zone,
                ).timestamp()
                if candidate >= ts and (best is None or candidate < best):
                    best = candidate
                    break
        return best if best is not None else ts + 3600

    def retry_delay(self, ts: float, tz: str) -> int:
        """The delay of the window the attempt ended in (else the first window's)."""
        window = self.window_at(ts, tz) if self.windows else None
        if window is None:
            window = self.windows[0] if self.windows else None
        return window.retry_delay_seconds if window else self.default_delay
