"""Log lines as text or JSON (``--log-format``), each carrying the request id of the rpc
it was written for.

JSON: one object per line, ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``msg``, ``request_id`` when written while serving an rpc, the structured fields a line
was given (``extra={"fields": {...}}``: the per-rpc line's method, code, duration, tenant),
and ``exc`` with a traceback. Text: ``<time> <LEVEL> <logger>: <message>``, the per-rpc
line spelling its fields as ``key=value``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from ..config import LOG_FORMATS
from ._context import current_request_id

__all__ = ["LOG_FORMATS", "JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RESERVED = frozenset(("ts", "level", "logger", "msg", "exc"))
# Built once: json.dumps with options builds an encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": getattr(record, "event", None) or record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update((k, v) for k, v in fields.items() if k not in _RESERVED)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return _encode(line)


def configure_logging(level: str, log_format: str, *, stream: TextIO | None = None) -> None:
    """The root logger's one handler (replacing any): ``level``, text or JSON lines on
    ``stream`` (stderr by default)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
