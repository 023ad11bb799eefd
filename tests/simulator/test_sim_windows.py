"""Calling-window parsing, timezone detection and next-open computation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.simulator._clock import format_ts, parse_ts
from gateway.simulator._windows import PhoneInfo, Window, WindowSet, parse_window_time


@pytest.mark.parametrize(("text", "minutes"), [
    ("09:00", 540), ("9:00", 540), ("18:30", 1110), ("00:00", 0), ("24:00", 1440),
    ("6pm", 1080), ("10am", 600), ("12am", 0), ("12pm", 720), ("9:30am", 570),
    ("7:45PM", 1185), ("11 pm", 1380),
])
def test_parse_window_time(text: str, minutes: int) -> None:
    assert parse_window_time(text) == minutes


@pytest.mark.parametrize("text", ["25:00", "10:60", "13pm", "0am", "noon", "", "9", "9.30"])
def test_parse_window_time_rejects(text: str) -> None:
    assert parse_window_time(text) is None


def test_timezone_from_country_code() -> None:
    phones = PhoneInfo()
    assert phones.timezone_for("+33612345678") == "Europe/Paris"
    assert phones.timezone_for("+12125550100") == "America/New_York"
    assert phones.timezone_for("+81312345678") == "Asia/Tokyo"
    assert phones.is_valid_e164("+15550100123")  # fictional but possible
    assert not phones.is_valid_e164("+3361")
    assert not phones.is_valid_e164("33612345678")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_next_open_across_midnight_and_timezones() -> None:
    ws = WindowSet([Window(600, 1080, 60)])  # 10:00-18:00
    monday_0900 = _ts("2026-03-02T09:00:00")
    assert ws.next_open(monday_0900, "Europe/Paris") == monday_0900  # 10:00 Paris
    assert ws.next_open(monday_0900, "Europe/London") == _ts("2026-03-02T10:00:00")
    assert ws.next_open(monday_0900, "America/New_York") == _ts("2026-03-02T15:00:00")
    assert ws.next_open(monday_0900, "Asia/Tokyo") == _ts("2026-03-03T01:00:00")
    # US DST starts 2026-03-08: New York opens at 14:00 UTC from then on.
    assert ws.next_open(_ts("2026-03-09T03:00:00"), "America/New_York") == \
        _ts("2026-03-09T14:00:00")


def test_overnight_window_and_retry_delay() -> None:
    ws = WindowSet([Window(1320, 120, 900), Window(600, 660, 300)])  # 22:00-02:00, 10-11
    assert ws.is_open(_ts("2026-03-02T23:30:00"), "UTC")
    assert ws.is_open(_ts("2026-03-02T01:59:00"), "UTC")
    assert not ws.is_open(_ts("2026-03-02T02:00:00"), "UTC")
    assert ws.retry_delay(_ts("2026-03-02T23:30:00"), "UTC") == 900
    assert ws.retry_delay(_ts("2026-03-02T10:30:00"), "UTC") == 300
    assert WindowSet([]).is_open(0, "UTC")


def test_timestamps_round_trip() -> None:
    assert format_ts(_ts("2026-11-27T08:10:44.123000")) == "2026-11-27T08:10:44.123Z"
    assert parse_ts("2026-03-02T12:00:00+02:00") == _ts("2026-03-02T10:00:00")
    assert parse_ts("2026-03-02T10:00:00Z") == _ts("2026-03-02T10:00:00")
