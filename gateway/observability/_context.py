"""The request id of the rpc being served, as a context variable.

Why a context variable: the id is chosen once, at the gRPC boundary (the caller's
``x-request-id`` when it is well formed, else a fresh one), and must reach code that
knows nothing of gRPC: the upstream client sends it as its own ``x-request-id`` header,
log lines carry it. asyncio copies the context into the tasks an rpc starts, so work
done for the rpc in another task keeps it; work that outlives the rpc and serves
everyone (a watch poller) calls :func:`forget_request_id` first.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

__all__ = [
    "MAX_REQUEST_ID",
    "REQUEST_ID_HEADER",
    "accept_request_id",
    "current_request_id",
    "forget_request_id",
    "set_request_id",
]

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 128
_WELL_FORMED = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID}}}")

_REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


def accept_request_id(value: str | bytes | None) -> tuple[str, bool]:
    """The id to use for a caller's ``x-request-id`` and whether it was the caller's.

    A value of 1-128 characters of ``[A-Za-z0-9._-]`` is kept as is; anything else
    (absent, empty, too long, another character: it goes into log lines and an
    upstream header) is replaced by a new id, 32 hex digits (uuid4).
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value is not None and _WELL_FORMED.fullmatch(value):
        return value, True
    return uuid.uuid4().hex, False


def current_request_id() -> str | None:
    """The id of the rpc this code runs for, if any."""
    return _REQUEST_ID.get()


def set_request_id(value: str | None) -> None:
    _REQUEST_ID.set(value)


def forget_request_id() -> None:
    """For a task started by one rpc that works for every caller (a watch poller): its
    upstream calls and log lines are not that rpc's."""
    _REQUEST_ID.set(None)
