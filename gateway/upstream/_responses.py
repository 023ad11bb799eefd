"""Turning upstream HTTP responses into results or UpstreamError instances.

Kept apart from the client so the retry loop stays readable; everything here runs once per
response and never does I/O.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import httpx

from ._errors import (
    BadRequest,
    Conflict,
    MalformedResponse,
    NotFound,
    OtherStatus,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    ServerError,
    Unauthenticated,
    UpstreamStatusError,
)
from ._retry import RETRY_AFTER_STATUSES, parse_retry_after

__all__ = [
    "BODY_SNIPPET_LIMIT",
    "describe_error_body",
    "error_from_response",
    "parse_success",
    "redact",
    "status_error",
]

#: Non-JSON error bodies are kept only up to this many characters: enough to debug an HTML
#: error page from a proxy, small enough not to bloat logs or gRPC error details.
BODY_SNIPPET_LIMIT = 1024
# Upstream messages end up in gRPC status messages; keep them readable.
_MESSAGE_LIMIT = 512
_REDACTED = "[REDACTED]"


def redact(text: str, api_key: str) -> str:
    """Replace every occurrence of the API key in ``text``."""
    return text.replace(api_key, _REDACTED) if api_key and api_key in text else text


_BY_STATUS: dict[int, type[UpstreamStatusError]] = {
    400: BadRequest,
    422: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: RateLimited,
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error_body(
    content: bytes, content_type: str | None
) -> tuple[Any, str | None, str | None, str | None]:
    """Parse an error body into ``(body, message, field, code)``.

    Accepts the shapes seen from Revox and the frameworks in front of it:
    ``{"error": {"message", "field", "code"}}``, ``{"error": "text"}``,
    ``{"message": ..., "field": ...}`` and FastAPI's ``{"detail": "text" | [{"loc", "msg"}]}``.
    Anything else yields the text snippet as ``body`` and no message.
    """
    body: Any = None
    if content:
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            body = None
    if body is None:
        snippet = _clip(content.decode("utf-8", "replace"), BODY_SNIPPET_LIMIT)
        # An HTML error page from a load balancer makes a useless message; the snippet stays
        # available on .body for debugging.
        if content_type and "html" in content_type:
            return snippet, None, None, None
        text = snippet.strip()
        return snippet, (_clip(text, _MESSAGE_LIMIT) if text else None), None, None
    if not isinstance(body, dict):
        return body, None, None, None

    message: Any = None
    field: Any = None
    code: Any = None
    err = body.get("error")
    if isinstance(err, dict):
        message, field, code = err.get("message"), err.get("field"), err.get("code")
    elif isinstance(err, str):
        message = err
    if message is None:
        message = body.get("message")
        field = field if field is not None else body.get("field")
        code = code if code is not None else body.get("code")
    if message is None:
        message, fastapi_field = _fastapi_detail(body.get("detail"))
        field = field if field is not None else fastapi_field
    return (
        body,
        _clip(str(message), _MESSAGE_LIMIT) if message is not None else None,
        str(field) if field not in (None, "") else None,
        str(code) if code not in (None, "") else None,
    )


def _fastapi_detail(detail: Any) -> tuple[Any, str | None]:
    """FastAPI's ``detail``: a text, or a list whose first item has ``msg`` and ``loc``."""
    if isinstance(detail, str):
        return detail, None
    if not (isinstance(detail, list) and detail and isinstance(detail[0], dict)):
        return None, None
    first = detail[0]
    loc = first.get("loc")
    if not (isinstance(loc, list) and loc):
        return first.get("msg"), None
    # FastAPI prefixes the location with where the value came from; the gateway wants
    # the field path only.
    parts = [str(p) for p in loc]
    if parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return first.get("msg"), ".".join(parts)


def status_error(
    status: int,
    *,
    message: str | None,
    body: Any,
    method: str,
    path: str,
    field: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
) -> UpstreamStatusError:
    """Build the UpstreamStatusError subclass matching ``status``."""
    msg = message or f"upstream returned HTTP {status}"
    common: dict[str, Any] = {"status": status, "body": body, "method": method, "path": path}
    if 500 <= status <= 599:
        return ServerError(msg, code=code, retry_after=retry_after, **common)
    cls = _BY_STATUS.get(status, OtherStatus)
    if cls is BadRequest:
        return BadRequest(msg, code=code, field=field, **common)
    if cls is RateLimited:
        return RateLimited(msg, code=code, retry_after=retry_after, **common)
    return cls(msg, code=code, **common)


# Above this size a body is decoded with the cyclic GC paused: a 1,000-row page is
# megabytes of fresh dicts and lists, and the collections its allocations trigger
# were a third of a large poll's CPU. Decoding creates no cycles, so nothing is lost.
_GC_PAUSE_BYTES = 64 * 1024


def _loads(content: bytes) -> Any:
    if len(content) < _GC_PAUSE_BYTES or not gc.isenabled():
        return json.loads(content)
    gc.disable()
    try:
        return json.loads(content)
    finally:
        gc.enable()


def parse_success(response: httpx.Response, api_key: str, method: str, path: str) -> dict[str, Any]:
    """Decode a 2xx body, which the API always sends as a JSON object."""
    content = response.content
    if not content and response.status_code == 204:
        return {}
    try:
        data = _loads(content)
    except (ValueError, RecursionError) as exc:
        snippet = redact(content[:BODY_SNIPPET_LIMIT].decode("utf-8", "replace"), api_key)
        raise MalformedResponse(
            f"upstream returned HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
            body=snippet,
            method=method,
            path=path,
        ) from exc
    if type(data) is not dict:
        raise MalformedResponse(
            f"upstream returned a JSON {type(data).__name__}, expected an object",
            status=response.status_code,
            body=data,
            method=method,
            path=path,
        )
    return data


def error_from_response(
    response: httpx.Response, api_key: str, method: str, path: str
) -> UpstreamStatusError:
    """Build the exception for a non-2xx response, with the API key scrubbed from its body."""
    status = response.status_code
    content = response.content
    if api_key:
        key_bytes = api_key.encode()
        if key_bytes in content:
            # Some APIs echo the rejected key back ("invalid key sk-..."); it must not travel on
            # in messages, gRPC details or logs.
            content = content.replace(key_bytes, _REDACTED.encode())
    body, message, field, code = describe_error_body(content, response.headers.get("content-type"))
    if message is not None:
        message = redact(message, api_key)
    retry_after = (
        parse_retry_after(response.headers.get("retry-after"))
        if status in RETRY_AFTER_STATUSES
        else None
    )
    return status_error(
        status,
        message=message,
        body=body,
        method=method,
        path=path,
        field=field,
        code=code,
        retry_after=retry_after,
    )
