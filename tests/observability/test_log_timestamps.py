"""Log timestamps are formatted once per second and reused (a per-rpc cost, issue 17's
benchmark): a line must still carry its own time, the same text as the standard
formatter writes, across second, hour and day boundaries and out of order."""

from __future__ import annotations

import logging
import time

from gateway.observability import JsonFormatter
from gateway.observability._logging import TEXT_FORMAT, TextFormatter

# 2026-05-04 23:59:58.250 UTC, then later, across a day, and back in time (another thread)
BASE = 1_777_939_198.25
OFFSETS = (0.0, 0.5, 0.749, 1.0, 1.999, 2.3, 3601.01, 86_400.999, 0.1, -5.0)


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("gateway.access", logging.INFO, "", 0, "rpc", (), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_text_lines_carry_the_time_logging_would_write() -> None:
    cached, standard = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    for offset in OFFSETS:
        record = _record(BASE + offset)
        assert cached.format(record) == standard.format(record), offset


def test_json_lines_carry_their_own_utc_time() -> None:
    formatter = JsonFormatter()
    for offset in OFFSETS:
        created = BASE + offset
        expected = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
                    + f".{int((created - int(created)) * 1000):03d}Z")
        assert f'"ts":"{expected}"' in formatter.format(_record(created)), offset
