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
import math
import sys
import time
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, TextIO

from ..config import LOG_FORMATS
from ._context import current_request_id

__all__ = ["LOG_FORMATS", "JsonFormatter", "TextFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RESERVED = frozenset(("ts", "level", "logger", "msg", "exc"))
# Built once: json.dumps with options builds an encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_quote = encode_basestring  # a JSON string, as _encode writes one (non-ASCII kept)
# The per-rpc line's fields, in the order gateway.observability._grpc gives them.
_RPC_FIELDS = ("service", "method", "code", "duration_ms", "request_id", "tenant",
               "messages_sent")


class _Seconds:
    """A timestamp's text up to the second, remade only when the second changes: a busy
    gateway writes hundreds of lines a second, and strftime per line was a measurable
    part of the per-rpc cost (issue 17's benchmark)."""

    __slots__ = ("_convert", "_format", "_last")

    def __init__(self, fmt: str, convert: Callable[[float | None], time.struct_time]) -> None:
        self._format = fmt
        self._convert = convert
        self._last: tuple[int, str] = (-1, "")  # one tuple: replaced whole, thread-safe

    def __call__(self, created: float) -> str:
        second = int(created)
        last = self._last
        if last[0] != second:
            last = self._last = (second, time.strftime(self._format, self._convert(second)))
        return last[1]


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, its time as ``logging.Formatter`` writes it (local time,
    ``2026-05-04 15:02:11,169``), the seconds part made once per second."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._seconds = _Seconds("%Y-%m-%d %H:%M:%S", self.converter)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return f"{self._seconds(record.created)},{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds("%Y-%m-%dT%H:%M:%S", time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if getattr(record, "event", None) == "rpc" and not (record.exc_info or record.exc_text):
            line = self._rpc_line(record, fields)
            if line is not None:
                return line
        return self._any_line(record, fields)

    def _rpc_line(self, record: logging.LogRecord, fields: Any) -> str | None:
        """The per-rpc line (one per rpc: the hot one) written by hand, the same text
        ``_any_line`` would give (a test holds them equal), at a third of the cost of
        the general encoder; None when its fields are not the usual ones."""
        if type(fields) is not dict or tuple(fields) != _RPC_FIELDS:
            return None
        service, method, code, duration, request_id, tenant, sent = fields.values()
        if not (type(service) is str and type(method) is str and type(code) is str
                and type(request_id) is str and (tenant is None or type(tenant) is str)
                and type(duration) is float and math.isfinite(duration)
                and type(sent) is int and current_request_id() is not None):
            return None
        return (
            f'{{"ts":"{self._seconds(record.created)}.{int(record.msecs):03d}Z",'
            f'"level":{_quote(record.levelname)},"logger":{_quote(record.name)},"msg":"rpc",'
            f'"request_id":{_quote(request_id)},"service":{_quote(service)},'
            f'"method":{_quote(method)},"code":{_quote(code)},"duration_ms":{duration!r},'
            f'"tenant":{"null" if tenant is None else _quote(tenant)},"messages_sent":{sent}}}'
        )

    def _any_line(self, record: logging.LogRecord, fields: Any) -> str:
        line: dict[str, Any] = {
            "ts": f"{self._seconds(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": getattr(record, "event", None) or record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            line["request_id"] = request_id
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
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
