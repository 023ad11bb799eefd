"""Exceptions raised by the upstream Revox REST client.

Our exception hierarchy::

    UpstreamError                      .status .message .body .method .path .maybe_sent
    ├── UpstreamStatusError            the upstream answered with a non-2xx status (.code)
    │   ├── BadRequest                 400, 422 (.field)
    │   ├── Unauthenticated            401
    │   ├── PermissionDenied           403
    │   ├── NotFound                   404
    │   ├── Conflict                   409
    │   ├── PreconditionFailed         412
    │   ├── RateLimited                429 (.retry_after)
    │   ├── ServerError                5xx (.retry_after, for 503)
    │   └── OtherStatus                any other non-2xx status (3xx included: no redirects)
    ├── UpstreamUnavailable            connection refused/reset/dropped, DNS, TLS, protocol errors
    │                                  (.retry_safe: the socket broke, resending may help)
    ├── UpstreamTimeout                the caller's deadline or the per-attempt timeout passed
    └── MalformedResponse              2xx, but the body is not JSON or not a JSON object

Two subclasses of UpstreamStatusError can be raised without any HTTP exchange, with
``status=None``: ``Unauthenticated`` for an API key that cannot be put in a header, and
``BadRequest`` for an empty campaign id. They carry the gRPC meaning the caller needs.

``maybe_sent`` is False only when no byte of the request can have reached the upstream
(a refused connection, a key or id refused before any I/O): then a create certainly
created nothing. Everything else keeps the conservative True.

None of these objects ever hold the API key: the client redacts it from upstream bodies before
building them, and ``method``/``path`` never include the query string.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "MalformedResponse",
    "NotFound",
    "OtherStatus",
    "PermissionDenied",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "Unauthenticated",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class UpstreamError(Exception):
    """Base class of every error the upstream client raises."""

    status: int | None
    message: str
    body: Any
    method: str
    path: str
    maybe_sent: bool

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        method: str = "",
        path: str = "",
        maybe_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.method = method
        self.path = path
        self.maybe_sent = maybe_sent

    def _extra(self) -> dict[str, Any]:
        # Subclass-specific keyword arguments, so pickling and repr stay in one place.
        return {}

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f" -> {self.status}" if self.status is not None else ""
        prefix = f"{where}{status}: " if where or status else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        fields = {
            "status": self.status,
            "method": self.method,
            "path": self.path,
            "message": self.message,
            **self._extra(),
        }
        inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> Any:
        # Keyword-only constructors break the default Exception pickling (used by
        # multiprocessing and some test runners); rebuild through a helper instead.
        kwargs = {
            "status": self.status,
            "body": self.body,
            "method": self.method,
            "path": self.path,
            "maybe_sent": self.maybe_sent,
            **self._extra(),
        }
        return (_rebuild, (type(self), self.message, kwargs))


def _rebuild(cls: type[UpstreamError], message: str, kwargs: dict[str, Any]) -> UpstreamError:
    return cls(message, **kwargs)


class UpstreamStatusError(UpstreamError):
    """The upstream answered with a non-2xx status.

    ``code`` is the machine-readable error code from the body (``{"error": {"code": ...}}``)
    when the upstream sent one.
    """

    code: str | None

    def __init__(self, message: str, *, code: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code

    def _extra(self) -> dict[str, Any]:
        return {"code": self.code}


class BadRequest(UpstreamStatusError):
    """400 or 422; ``field`` names the offending request field when the upstream said so."""

    field: str | None

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field

    def _extra(self) -> dict[str, Any]:
        return {**super()._extra(), "field": self.field}


class Unauthenticated(UpstreamStatusError):
    """401: missing, malformed or revoked API key."""


class PermissionDenied(UpstreamStatusError):
    """403."""


class NotFound(UpstreamStatusError):
    """404."""


class Conflict(UpstreamStatusError):
    """409."""


class PreconditionFailed(UpstreamStatusError):
    """412."""


class _WithRetryAfter(UpstreamStatusError):
    retry_after: float | None

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def _extra(self) -> dict[str, Any]:
        return {**super()._extra(), "retry_after": self.retry_after}


class RateLimited(_WithRetryAfter):
    """429; ``retry_after`` is the upstream's Retry-After in seconds, if it sent one."""


class ServerError(_WithRetryAfter):
    """5xx; ``retry_after`` is set only for a 503 that carried Retry-After."""


class OtherStatus(UpstreamStatusError):
    """Any other non-2xx status, e.g. 3xx (redirects are not followed), 405, 410."""


class UpstreamUnavailable(UpstreamError):
    """No usable HTTP answer: connection refused/reset/dropped, DNS, TLS or protocol errors.

    ``retry_safe``: the failure was the network's (a broken socket, a server that hung up),
    not a configuration a resend cannot fix (a bad scheme, a proxy error).
    """

    retry_safe: bool

    def __init__(self, message: str, *, retry_safe: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_safe = retry_safe

    def _extra(self) -> dict[str, Any]:
        return {"retry_safe": self.retry_safe}


class UpstreamTimeout(UpstreamError):
    """The caller's deadline, or the per-attempt timeout, passed before an answer arrived."""


class MalformedResponse(UpstreamError):
    """A 2xx answer whose body is not JSON, or is JSON but not an object."""
