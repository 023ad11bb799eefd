"""AiohttpTransport: httpx's client API over aiohttp's connection pool, for body-less calls.

Why: on the gateway's 2-core hosts one httpx request costs ~1.0–1.3 ms of CPU, most
of it in the default transport (httpcore's anyio layers and h11); aiohttp's C
parser and pool do the same exchange for ~0.3 ms. Every uncached read and every
watch poll pays it. The httpx client on top stays: URL building, headers,
timeouts, response decoding (a bad ``Content-Encoding`` is still
``httpx.DecodingError``) and the httpx exception classes the retry rules are
written for, which is why this is a transport (httpx's extension point) and not
a second client.

Requests with a body (only create) go to httpx's own transport: aiohttp has no
write timeout, and create's outcome rules depend on httpx's failure classes.

Failures map to httpx's exceptions::

    aiohttp.ConnectionTimeoutError (pool, connect)   -> httpx.ConnectTimeout
    aiohttp.ServerTimeoutError (socket read)         -> httpx.ReadTimeout
    aiohttp.ClientConnectorError (refused, DNS, TLS) -> httpx.ConnectError
    ServerDisconnectedError, ClientPayloadError,
    ClientResponseError                              -> httpx.RemoteProtocolError
    other aiohttp.ClientConnectionError (resets)     -> httpx.ReadError
    any other aiohttp.ClientError                    -> httpx.TransportError
"""

from __future__ import annotations

import ssl
import urllib.request

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "proxied"]

_NO_TYPE = ("Content-Type",)


def proxied(base_url: str) -> bool:
    """True when the environment names a proxy httpx would use for ``base_url``
    (then httpx's own transport is kept, with its proxy handling)."""
    proxies = urllib.request.getproxies()
    scheme = base_url.split(":", 1)[0].lower()
    return scheme in proxies or "all" in proxies


class AiohttpTransport(httpx.AsyncBaseTransport):
    """See module docstring. ``fallback`` carries requests that have a body."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        keepalive_expiry: float = 5.0,
        fallback: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._limits = limits
        self._keepalive_expiry = keepalive_expiry
        self._fallback = fallback or httpx.AsyncHTTPTransport(limits=limits)
        self._session: aiohttp.ClientSession | None = None

    @property
    def is_open(self) -> bool:
        """Whether an aiohttp session (and its connection pool) is open."""
        return self._session is not None

    def _open(self, https: bool) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running loop.
        # The trust store is the one httpx would use (certifi, SSL_CERT_FILE/_DIR).
        tls: ssl.SSLContext | bool = httpx.create_ssl_context() if https else False
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._keepalive_expiry,
            ssl=tls,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes Content-Encoding, as it always does
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one caller's cookies to another
            trust_env=False,
        )
        # aiohttp silently resends an idempotent request once when a kept-alive
        # connection was dropped; the client's RetryPolicy must see (count, log, bound
        # by the deadline) every attempt. No public switch exists; the pinned aiohttp
        # has this attribute and tests/upstream/test_retry.py fails if it stops working.
        self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        bodyless = request.method in ("GET", "DELETE") or request.headers.get("content-length") == "0"
        if not bodyless:
            return await self._fallback.handle_async_request(request)
        session = self._session or self._open(request.url.scheme == "https")
        t = request.extensions.get("timeout") or {}
        connect, read = t.get("connect"), t.get("read")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),  # sent byte for byte as httpx built it
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=connect, sock_connect=connect, sock_read=read
                ),
                allow_redirects=False,
                # aiohttp would label an empty POST/DELETE octet-stream; httpx sends no type.
                skip_auto_headers=None if request.method == "GET" else _NO_TYPE,
            ) as answer:
                body = await answer.read()
                return httpx.Response(
                    answer.status, headers=answer.raw_headers, stream=httpx.ByteStream(body)
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(_text(exc), request=request) from exc
        except aiohttp.ServerTimeoutError as exc:
            raise httpx.ReadTimeout(_text(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(_text(exc), request=request) from exc
        except (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,
        ) as exc:
            raise httpx.RemoteProtocolError(_text(exc), request=request) from exc
        except aiohttp.ClientConnectionError as exc:
            raise httpx.ReadError(_text(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(_text(exc), request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._fallback.aclose()


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
