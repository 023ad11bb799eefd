"""Keep personal data out of the logs of the libraries the gateway talks through.

httpx logs every request at INFO (``HTTP Request: GET <url> "HTTP/1.1 200 OK"``),
and a rows lookup's URL carries the searched text: the watch poller looks rows up
by phone number (``/rows?query=%2B14155550100``), and a ListCampaignRows query
may be a number or a prompt variable. INFO is the gateway's default level, so
the filter below rewrites each URL argument of the "httpx" logger's records:
every query value is replaced by ``[REDACTED]`` except the paging and filter
parameters the gateway itself chooses (page, page_size, result, statuses), which
say what was asked without saying about whom. The path stays: it holds only
campaign ids. ``gateway.upstream``'s own log lines carry the path only.

aiosqlite logs, at DEBUG, every statement it runs with its parameters (the
cached campaigns, the watch's rows: phone numbers and prompt variables). Its
records keep the statement and lose the parameters. That filter sits here, with
the other, because this module is imported by every process that reaches the
store through the gateway; it would belong in ``gateway.store`` as well.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["PARAMETERS_FILTER", "QUERY_FILTER", "REDACTED", "install", "redact_url"]

REDACTED = "[REDACTED]"
# Query parameters whose values are the gateway's own vocabulary, never a caller's text.
_SAFE_PARAMS = frozenset({"page", "page_size", "result", "statuses"})
# A URL with a query inside text (a message httpx formatted itself, or a str argument).
_QUERY_IN_TEXT = re.compile(r"(\w+://[^\s?\"']*)\?[^\s\"']*")


def redact_url(url: httpx.URL) -> str:
    """``url`` with the value of every query parameter but the safe ones redacted."""
    if not url.query:
        return str(url)
    pairs = (
        f"{quote(k, safe='')}={quote(v, safe=',') if k in _SAFE_PARAMS else REDACTED}"
        for k, v in url.params.multi_items()
    )
    return f"{url.copy_with(query=None)}?{'&'.join(pairs)}"


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, httpx.URL):
        return redact_url(arg)
    if isinstance(arg, str) and "?" in arg:
        return _QUERY_IN_TEXT.sub(rf"\1?{REDACTED}", arg)
    return arg


class _QueryFilter(logging.Filter):
    """Rewrites, never drops: the request line stays useful for debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _redact_arg(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        return True


QUERY_FILTER = _QueryFilter()


def _statement(arg: Any) -> Any:
    """aiosqlite's ``partial(cursor.execute, sql, parameters)`` as ``execute('<sql>', …)``."""
    if not isinstance(arg, functools.partial):
        return arg
    name = getattr(arg.func, "__name__", "call")
    sql = next((a for a in arg.args if isinstance(a, str)), None)
    return f"{name}({sql!r}, …)" if sql is not None else f"{name}(…)"


class _ParametersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_statement(a) for a in record.args)
        return True


PARAMETERS_FILTER = _ParametersFilter()


def install() -> None:
    """Put the filters on their loggers (once: ``addFilter`` ignores a repeat)."""
    logging.getLogger("httpx").addFilter(QUERY_FILTER)
    logging.getLogger("aiosqlite").addFilter(PARAMETERS_FILTER)
