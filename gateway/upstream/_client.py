"""RevoxClient: the only code in the gateway that speaks HTTP to the Revox Campaigns API."""

from __future__ import annotations

import asyncio
import json
import logging
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, SupportsIndex
from urllib.parse import quote

import httpx

from ..observability import REQUEST_ID_HEADER, UpstreamMetrics, current_request_id
from . import _log_filter
from ._errors import (
    BadRequest,
    MalformedResponse,
    Unauthenticated,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._paging import PageBase
from ._responses import error_from_response, parse_success, redact
from ._retry import RETRYABLE_STATUSES, RetryPolicy
from ._transport import AiohttpTransport, proxied

if TYPE_CHECKING:
    from ..observability._tracing import UpstreamTracer

__all__ = ["DEFAULT_BASE_URL", "RevoxClient"]

DEFAULT_BASE_URL = "https://www.getrevox.com/api"

_log = logging.getLogger("gateway.upstream")
_DEBUG = logging.DEBUG
# httpx logs each request's URL, query included, at INFO: a phone number searched for
# would land in the log at the default level (and aiosqlite its SQL parameters at DEBUG).
_log_filter.install()

# Failures after which an idempotent request may safely be sent again: the socket broke or the
# server hung up mid-answer. Local protocol errors, unsupported schemes and proxy errors are
# configuration bugs that a retry can't fix.
_RETRYABLE_TRANSPORT: tuple[type[httpx.TransportError], ...] = (
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
_JSON_HEADERS_EXTRA = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One request as every attempt sends it."""

    method: str
    path: str
    api_key: str
    headers: dict[str, str]
    params: dict[str, str | int] | None
    content: bytes | None


def _before_sending(exc: BaseException) -> bool:
    """Whether a transport error happened before any byte of the request was written."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        cause = cause.__cause__
    return False


def _segment(campaign_id: str, method: str) -> str:
    """Escape one path segment so an id like ``../x`` or ``a/b`` can't change the route."""
    if not campaign_id:
        # "/campaigns/" would silently hit the list endpoint (or 404 somewhere confusing).
        raise BadRequest(
            "campaign id must not be empty", field="id", method=method, path="/campaigns/",
            maybe_sent=False,
        )
    escaped = quote(campaign_id, safe="")
    # quote() leaves dots alone, and httpx (like any RFC 3986 client) collapses "." and ".."
    # segments, which would turn /campaigns/.. into the API root.
    if escaped == "." or escaped == "..":
        escaped = escaped.replace(".", "%2E")
    return escaped


def _as_int(name: str, value: SupportsIndex | float) -> int:
    # Upstream wants "page=2", never "page=2.0"; bool is an int subclass but never meant here.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    return operator.index(value)  # TypeError for 1.5, "2", None: a caller bug, not upstream's


class RevoxClient:
    """Async client for the Revox Campaigns REST API (one shared keep-alive connection pool).

    The API key is per call, never stored: the gateway is multi-tenant and forwards each
    caller's own key. ``timeout`` on every method is the caller's *remaining* deadline in
    seconds; it bounds the whole operation, retries and backoff included. ``None`` means no
    deadline: each attempt then gets ``default_timeout``.

    Retries (see RetryPolicy): GET, DELETE and POST /cancel are idempotent and retried on 429,
    500, 502, 503, 504 and on broken connections. ``create_campaign`` is not idempotent upstream
    (a replayed create places duplicate, billed calls), so it is retried only after
    ``httpx.ConnectError``, which is raised before any byte of the request was written. A
    ConnectTimeout is treated as every other timeout and not retried.

    Timeouts are never retried: an attempt that timed out either used up the caller's deadline
    or ran for ``default_timeout``, and a slow upstream gains nothing from more load.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        default_timeout: float = 30.0,
        user_agent: str = "revox-grpc-gateway/0.1",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        page_base: int | None = None,
        observer: UpstreamMetrics | None = None,
        tracer: UpstreamTracer | None = None,
    ) -> None:
        """``clock`` (monotonic seconds; default: the event loop's) and ``sleep`` time the
        retries and deadlines; tests pass a fake pair so no assertion reads the wall clock.
        ``page_base``: the upstream's first page number, 0 or 1; None (the default) learns
        it from the upstream's answers (``_paging``). ``observer`` is told of every
        attempt and retry (metrics, upstream health). ``tracer`` (None: tracing off) wraps
        each attempt, whichever transport carries it, in a span and sends its context."""
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if default_timeout <= 0:
            raise ValueError("default_timeout must be > 0")
        self._base_url = base_url.rstrip("/")
        self._retry = retry if retry is not None else RetryPolicy()
        self._default_timeout = float(default_timeout)
        self._clock = clock
        self._sleep = sleep
        self._page_base = PageBase(page_base)
        self._observer = observer
        self._tracer = tracer
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # Without an explicit transport, body-less calls ride aiohttp's pool (see
        # _transport: ~1 ms of CPU less per call); when the environment names a proxy,
        # httpx builds its own transport and honours HTTP(S)_PROXY as a plain client would.
        if transport is None and not proxied(self._base_url):
            transport = AiohttpTransport(limits=limits)
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            transport=transport,
            limits=limits,
            timeout=self._default_timeout,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def page_base(self) -> int | None:
        """The upstream's first page number as known so far (None: not learnt yet)."""
        return self._page_base.value

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    def __repr__(self) -> str:
        return f"RevoxClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- endpoints ----------------------------------------------------------------------------

    async def create_campaign(
        self, api_key: str, body: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST /campaigns; returns the whole response object, e.g. ``{"campaign": {...}}``."""
        # Encoded here, once, so a body that isn't JSON-serialisable fails before any I/O.
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return await self._call(
            "POST",
            "/campaigns",
            api_key,
            timeout,
            idempotent=False,
            content=content.encode(),
        )

    async def list_campaigns(self, api_key: str, *, timeout: float | None = None) -> dict[str, Any]:
        """GET /campaigns -> ``{"campaigns": [...]}``."""
        return await self._call("GET", "/campaigns", api_key, timeout, idempotent=True)

    async def get_campaign(
        self, api_key: str, campaign_id: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """GET /campaigns/{id} -> ``{"campaign": {...}}``."""
        path = "/campaigns/" + _segment(campaign_id, "GET")
        return await self._call("GET", path, api_key, timeout, idempotent=True)

    async def delete_campaign(
        self, api_key: str, campaign_id: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """DELETE /campaigns/{id} -> ``{"success": bool}``.

        Retried like a GET: a replayed DELETE of an already deleted campaign answers 404,
        which the caller sees instead of a duplicate side effect.
        """
        path = "/campaigns/" + _segment(campaign_id, "DELETE")
        return await self._call("DELETE", path, api_key, timeout, idempotent=True)

    async def cancel_campaign(
        self, api_key: str, campaign_id: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST /campaigns/{id}/cancel -> ``{"success": bool}``; idempotent, so retried."""
        path = "/campaigns/" + _segment(campaign_id, "POST") + "/cancel"
        return await self._call("POST", path, api_key, timeout, idempotent=True)

    async def get_rows(
        self,
        api_key: str,
        campaign_id: str,
        *,
        page: int | None,
        page_size: int | None,
        query: str | None = None,
        result: str | None = None,
        statuses: Sequence[str] = (),
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """GET /campaigns/{id}/rows -> ``{"page", "page_size", "rows", "total"}``.

        ``page`` counts from 0 whatever the upstream's own base (learnt, see ``_paging``),
        and so does the answer's ``page``; None means the first page. ``None`` (and, for
        strings, empty: proto3's "unset") parameters are not sent; ``statuses`` is sent
        comma-joined, as the upstream expects one string.
        """
        path = "/campaigns/" + _segment(campaign_id, "GET") + "/rows"
        params: dict[str, str | int] = {}
        logical = 0 if page is None else _as_int("page", page)
        if logical < 0:
            raise ValueError("page must not be negative")
        if page_size is not None:
            params["page_size"] = _as_int("page_size", page_size)
        if query:
            params["query"] = query
        if result:
            params["result"] = result
        if statuses:
            # A bare string is a Sequence[str] too; joining it would send "c,a,l,l,i,n,g".
            params["statuses"] = statuses if isinstance(statuses, str) else ",".join(statuses)
        now = self._clock or asyncio.get_running_loop().time
        deadline = None if timeout is None else now() + timeout

        async def raw(upstream_page: int) -> dict[str, Any]:
            # Detection may take a second request: it shares the caller's one deadline.
            left = None if deadline is None else max(0.0, deadline - now())
            return await self._call("GET", path, api_key, left, idempotent=True,
                                    params={"page": upstream_page, **params})

        size = params.get("page_size")
        return await self._page_base.fetch(logical, raw, size if isinstance(size, int) else None)

    async def export_rows(
        self, api_key: str, campaign_id: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """GET /campaigns/{id}/export -> ``{"csv": str, "filename": str}``."""
        path = "/campaigns/" + _segment(campaign_id, "GET") + "/export"
        return await self._call("GET", path, api_key, timeout, idempotent=True)

    # -- machinery ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        api_key: str,
        timeout: float | None,
        *,
        idempotent: bool,
        params: dict[str, str | int] | None = None,
        content: bytes | None = None,
    ) -> dict[str, Any]:
        """The retry loop around :meth:`_attempt`, bounded by the caller's deadline."""
        # A key with control or non-ASCII characters would make h11 raise an error that quotes
        # the header value, i.e. the key; reject it ourselves without echoing it.
        if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
            raise Unauthenticated(
                "API key contains characters not allowed in an HTTP header",
                method=method,
                path=path,
                maybe_sent=False,
            )
        headers = {"Authorization": "Bearer " + api_key}
        request_id = current_request_id()  # the rpc's (gateway.observability), if any
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        if content is not None:
            headers.update(_JSON_HEADERS_EXTRA)
        exchange = _Exchange(method, path, api_key, headers, params, content)
        now = self._clock or asyncio.get_running_loop().time
        deadline = None if timeout is None else now() + timeout
        attempt = 0
        last: UpstreamError | None = None
        while True:
            attempt += 1
            per_try = self._default_timeout
            remaining: float | None = None
            if deadline is not None:
                remaining = deadline - now()
                if remaining <= 0:
                    raise UpstreamTimeout(
                        "deadline exceeded before the upstream answered",
                        method=method,
                        path=path,
                    ) from last
                per_try = min(per_try, remaining)
            try:
                return await self._observed_attempt(exchange, per_try, remaining, attempt)
            except UpstreamError as error:
                delay = self._retry_delay(error, idempotent=idempotent, attempt=attempt)
                # Never start a wait that ends past the deadline: the caller learns the real
                # cause (429/5xx/connection) now, instead of a DEADLINE_EXCEEDED later.
                if delay is None or (deadline is not None and now() + delay >= deadline):
                    raise
                last = error
                if self._observer is not None:
                    self._observer.retry(method, path)
            await self._sleep(delay)

    async def _observed_attempt(
        self, x: _Exchange, per_try: float, remaining: float | None, attempt: int
    ) -> dict[str, Any]:
        """:meth:`_attempt`, its outcome and duration told to the observer, if any."""
        observer = self._observer
        if observer is None:
            return await self._attempt(x, per_try, remaining, attempt)
        now = asyncio.get_running_loop().time
        started = now()
        try:
            body = await self._attempt(x, per_try, remaining, attempt)
        except UpstreamError as error:
            observer.attempt(x.method, x.path, error.status, type(error).__name__, now() - started)
            raise
        observer.attempt(x.method, x.path, 200, None, now() - started)  # 200: any 2xx
        return body

    async def _attempt(
        self, x: _Exchange, per_try: float, remaining: float | None, attempt: int
    ) -> dict[str, Any]:
        """One HTTP exchange; every failure leaves as an :class:`UpstreamError`."""
        started = asyncio.get_running_loop().time()
        try:
            # httpx timeouts are per socket operation, so a slowly trickling body could
            # outlive them; this bounds the attempt as a whole by what is left of the
            # caller's deadline (a no-op without one).
            async with asyncio.timeout(remaining):
                if self._tracer is None:
                    response = await self._client.request(
                        x.method, x.path, params=x.params, content=x.content, headers=x.headers,
                        timeout=per_try,
                    )
                else:
                    response = await self._tracer.send(
                        x.method, x.path, attempt, x.headers,
                        lambda headers: self._client.request(
                            x.method, x.path, params=x.params, content=x.content,
                            headers=headers, timeout=per_try),
                    )
        except (httpx.TimeoutException, TimeoutError) as exc:
            self._log_attempt(x.method, x.path, type(exc).__name__, started, attempt)
            raise UpstreamTimeout(
                "upstream did not answer in time", method=x.method, path=x.path
            ) from exc
        except httpx.TransportError as exc:
            self._log_attempt(x.method, x.path, type(exc).__name__, started, attempt)
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise UpstreamUnavailable(
                redact(detail, x.api_key), method=x.method, path=x.path,
                maybe_sent=not _before_sending(exc),
                retry_safe=isinstance(exc, _RETRYABLE_TRANSPORT),
            ) from exc
        except httpx.RequestError as exc:
            # DecodingError (bad Content-Encoding) and the like: the server answered, but
            # not with anything we can read.
            self._log_attempt(x.method, x.path, type(exc).__name__, started, attempt)
            raise MalformedResponse(
                redact(f"{type(exc).__name__}: {exc}", x.api_key), method=x.method, path=x.path
            ) from exc
        self._log_attempt(x.method, x.path, response.status_code, started, attempt)
        if 200 <= response.status_code < 300:
            return parse_success(response, x.api_key, x.method, x.path)
        raise error_from_response(response, x.api_key, x.method, x.path)

    def _retry_delay(self, error: UpstreamError, *, idempotent: bool, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when ``error`` is final."""
        policy = self._retry
        if attempt >= policy.max_attempts:
            return None
        if isinstance(error, UpstreamUnavailable):
            # A create is resent only when the request certainly never left.
            if error.retry_safe and (idempotent or not error.maybe_sent):
                return policy.backoff(attempt)
            return None
        if not isinstance(error, UpstreamStatusError) or not idempotent:
            return None
        if error.status not in RETRYABLE_STATUSES:
            return None
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is None:
            return policy.backoff(attempt)
        # The upstream asked for a longer pause than we will hold a request for: hand its
        # retry_after to the caller (RESOURCE_EXHAUSTED + RetryInfo).
        return None if retry_after > policy.max_retry_after else retry_after

    @staticmethod
    def _log_attempt(
        method: str, path: str, outcome: int | str, started: float, attempt: int
    ) -> None:
        if _log.isEnabledFor(_DEBUG):
            elapsed_ms = (asyncio.get_running_loop().time() - started) * 1000.0
            _log.debug(
                "upstream %s %s -> %s in %.1f ms (attempt %d)",
                method,
                path,
                outcome,
                elapsed_ms,
                attempt,
            )
