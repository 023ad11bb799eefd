"""``RpcObserver``: the grpc.aio server interceptor behind the ``grpc_server_*`` families,
the request id and the one log line per rpc.

For every rpc it: takes the caller's ``x-request-id`` (or makes one, see ``_context``),
makes it the current request id (the upstream client sends it on, log lines carry it)
and returns it in the response's initial metadata; counts the rpc started, the messages
received and sent (a stream's by wrapping its iterator, whatever it yields: messages or
pre-serialized bytes; counted in an int and brought into the family before each scrape),
and the rpc handled with its code and duration; counts the cache
result a Get or List answered with (the ``x-revox-cache`` trailer the servicer sets);
and logs one line: method, code, duration, request id and tenant (the store's tenant
id, an HMAC of the key; never the key, never a field of the request).

Wrapped handlers are built once per method, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from ._context import REQUEST_ID_HEADER, accept_request_id, set_request_id
from ._grpc_metrics import MethodMetrics
from ._metrics import Metrics

__all__ = ["CACHE_TRAILER", "HandlerWrapper", "Metadata", "RpcObserver", "code_of"]

Metadata = Sequence[tuple[str, str | bytes]]
Context = Any  # grpc.aio.ServicerContext[Any, Any]
CACHE_TRAILER = "x-revox-cache"
_ACCESS_LINE = "rpc %s/%s %s %.1f ms sent=%d request_id=%s tenant=%s"
_CACHED_METHODS = frozenset(("GetCampaign", "ListCampaigns"))
_KINDS = {  # (request_streaming, response_streaming) -> go-grpc-prometheus grpc_type
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}


def _no_tenant(metadata: Metadata) -> str | None:
    return None


@dataclass(slots=True, eq=False)  # identity: open streams are kept in a set
class _Rpc:
    """One call being served."""

    metrics: MethodMetrics
    service: str
    method: str
    level: int
    request_id: str
    metadata: Metadata
    started: float = field(default_factory=time.perf_counter)
    sent: int = 0
    counted: int = 0  # of ``sent``, how many grpc_server_msg_sent_total has (streams)

    def count_sent(self) -> None:
        self.metrics.sent.inc(self.sent - self.counted)
        self.counted = self.sent


def code_of(context: Context, exc: BaseException | None) -> grpc.StatusCode:
    """The status an rpc ended with (``exc``: what its handler raised, None if nothing)."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code  # set by abort() or set_code()
    if exc is None:
        return grpc.StatusCode.OK
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _replaced(handler: Any, **behaviour: Any) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` (grpc's RpcMethodHandler namedtuple) with another behaviour."""
    return cast("grpc.RpcMethodHandler[Any, Any]", handler._replace(**behaviour))


class _CountingContext:
    """The context handed to a stream handler that writes with ``context.write``."""

    def __init__(self, context: Context, rpc: _Rpc) -> None:
        self._context = context
        self._rpc = rpc

    async def write(self, message: Any) -> None:
        self._rpc.sent += 1  # counted as handed to grpc, as a generator's messages are
        await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class HandlerWrapper(grpc.aio.ServerInterceptor):
    """An interceptor that replaces each method's handler with a wrapped one (``_wrap``),
    built once per method and reused while grpc hands over the same handler."""

    def __init__(self) -> None:
        self._wrapped: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # unknown method: grpc answers UNIMPLEMENTED
        name = handler_call_details.method
        cached = self._wrapped.get(name)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(name, handler)
        self._wrapped[name] = (handler, wrapped)
        return wrapped

    def _wrap(self, name: str, handler: Any) -> grpc.RpcMethodHandler[Any, Any]:
        raise NotImplementedError


class RpcObserver(HandlerWrapper):
    """See module docstring. ``tenant_of`` maps an rpc's metadata to its tenant id (None:
    no usable key); rpcs of ``logged_services`` are logged at INFO, others (health checks,
    reflection) at DEBUG."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        tenant_of: Callable[[Metadata], str | None] = _no_tenant,
        logged_services: Sequence[str] = (),
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__()
        self._metrics = metrics
        self._tenant_of = tenant_of
        self._logged = frozenset(logged_services)
        self._log = logger or logging.getLogger("gateway.access")
        self._streams: set[_Rpc] = set()
        metrics.add_flush(self.flush_streams)

    # -- wrapping ---------------------------------------------------------------

    def _wrap(self, name: str, handler: Any) -> grpc.RpcMethodHandler[Any, Any]:
        service, _, method = name.lstrip("/").rpartition("/")
        kind = _KINDS[(bool(handler.request_streaming), bool(handler.response_streaming))]
        metrics = self._metrics.grpc.method(kind, service, method)
        level = logging.INFO if service in self._logged else logging.DEBUG

        def start(request_or_iterator: Any, context: Context) -> tuple[_Rpc, Any]:
            rpc = self._begin(metrics, service, method, level, context)
            if handler.request_streaming:
                return rpc, self._counted_requests(request_or_iterator, rpc)
            metrics.received.inc()
            return rpc, request_or_iterator

        if not handler.response_streaming:
            inner = handler.stream_unary if handler.request_streaming else handler.unary_unary
            field_name = "stream_unary" if handler.request_streaming else "unary_unary"
            return _replaced(handler, **{field_name: self._unary(inner, start)})
        inner = handler.stream_stream if handler.request_streaming else handler.unary_stream
        field_name = "stream_stream" if handler.request_streaming else "unary_stream"
        if inspect.iscoroutinefunction(inner):  # writes with context.write (health Watch)
            return _replaced(handler, **{field_name: self._writer(inner, start)})
        return _replaced(handler, **{field_name: self._streaming(inner, start)})

    def _unary(self, inner: Any, start: Any) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            rpc, request = start(request, context)
            try:
                await context.send_initial_metadata(((REQUEST_ID_HEADER, rpc.request_id),))
                response = await inner(request, context)
            except BaseException as exc:
                self._end(rpc, context, exc)
                raise
            rpc.sent = 1
            rpc.metrics.sent.inc()
            self._end(rpc, context, None)
            return response

        return unary

    def _streaming(self, inner: Any, start: Any) -> Any:
        # A stream's messages are counted in a plain int and brought into
        # grpc_server_msg_sent_total before every scrape (``flush_streams``) and at its
        # end: a Counter.inc (a lock) per message was paid 1,000 times per event at
        # 1,000 watch subscribers (BENCHMARKS.md issue 15).
        opened = self._streams

        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            rpc, request = start(request, context)
            opened.add(rpc)
            try:
                await context.send_initial_metadata(((REQUEST_ID_HEADER, rpc.request_id),))
                async with contextlib.aclosing(inner(request, context)) as responses:
                    async for response in responses:
                        rpc.sent += 1
                        yield response
            except BaseException as exc:
                self._closed(rpc)
                self._end(rpc, context, exc)
                raise
            self._closed(rpc)
            self._end(rpc, context, None)

        return streaming

    def _closed(self, rpc: _Rpc) -> None:
        self._streams.discard(rpc)
        rpc.count_sent()

    def flush_streams(self) -> None:
        """Bring the messages open streams sent since the last flush into
        grpc_server_msg_sent_total (``Metrics.flush``, before a scrape)."""
        for rpc in self._streams:
            rpc.count_sent()

    def _writer(self, inner: Any, start: Any) -> Any:
        async def writer(request: Any, context: Context) -> None:
            rpc, request = start(request, context)
            self._streams.add(rpc)  # counted as a generator's stream is (``_streaming``)
            try:
                await context.send_initial_metadata(((REQUEST_ID_HEADER, rpc.request_id),))
                await inner(request, _CountingContext(context, rpc))
            except BaseException as exc:
                self._closed(rpc)
                self._end(rpc, context, exc)
                raise
            self._closed(rpc)
            self._end(rpc, context, None)

        return writer

    @staticmethod
    async def _counted_requests(requests: AsyncIterator[Any], rpc: _Rpc) -> AsyncIterator[Any]:
        received = rpc.metrics.received
        async for request in requests:
            received.inc()
            yield request

    # -- per call -----------------------------------------------------------------

    def _begin(self, metrics: MethodMetrics, service: str, method: str, level: int,
               context: Context) -> _Rpc:
        metadata: Metadata = context.invocation_metadata() or ()
        raw: str | bytes | None = None
        for key, value in metadata:
            if key == REQUEST_ID_HEADER:
                raw = value
                break
        request_id, _ = accept_request_id(raw)
        set_request_id(request_id)
        metrics.started.inc()
        return _Rpc(metrics, service, method, level, request_id, metadata)

    def _end(self, rpc: _Rpc, context: Context, exc: BaseException | None) -> None:
        seconds = time.perf_counter() - rpc.started
        code = code_of(context, exc)
        rpc.metrics.handled(code.name, seconds)
        if code is grpc.StatusCode.OK and rpc.method in _CACHED_METHODS:
            for key, value in context.trailing_metadata() or ():
                if key == CACHE_TRAILER:
                    self._metrics.cache.lookup(rpc.method, str(value))
        if self._log.isEnabledFor(rpc.level):
            self._access_line(rpc, code, seconds)

    def _access_line(self, rpc: _Rpc, code: grpc.StatusCode, seconds: float) -> None:
        try:
            tenant = self._tenant_of(rpc.metadata)
        except Exception:  # noqa: BLE001 - a log line never fails an rpc
            tenant = None
        fields: dict[str, Any] = {
            "service": rpc.service,
            "method": rpc.method,
            "code": code.name,
            "duration_ms": round(seconds * 1000.0, 3),
            "request_id": rpc.request_id,
            "tenant": tenant,
            "messages_sent": rpc.sent,
        }
        # makeRecord + handle is what Logger.log does, minus findCaller's walk up the
        # stack for a file and line no format of ours prints (issue 17's benchmark).
        log = self._log
        log.handle(log.makeRecord(
            log.name, rpc.level, "", 0, _ACCESS_LINE,
            (rpc.service, rpc.method, code.name, seconds * 1000.0, rpc.sent, rpc.request_id,
             tenant or "-"),
            None, extra={"event": "rpc", "fields": fields},
        ))
