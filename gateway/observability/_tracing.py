"""OpenTelemetry traces: one SERVER span per rpc, one CLIENT span per upstream HTTP attempt.

Off unless asked for: ``tracing_from_env`` builds a provider only when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set, else returns None,
and then ``gateway.app`` installs no interceptor and gives the upstream client no hook
(its hot path tests one attribute for None). Tests inject a provider of their own
(``Tracing(provider)``); the gateway never sets the global tracer provider.

Why a hook in the upstream client rather than httpx's instrumentation: reads ride an
aiohttp-backed httpx transport that httpx's instrumentation never sees, and the
client's retry loop is the one place that knows an HTTP attempt from a retry.

The parent of a span: an rpc continues the caller's W3C ``traceparent``/``tracestate``
(else it starts a trace); the rpc's span is the current context while its handler runs,
so the upstream calls made for it (in its task, or in tasks it starts: asyncio copies
the context) are its children. Work that serves every caller, as a watch poller does,
has forgotten the rpc's request id (``_context.forget_request_id``): its upstream calls
start traces of their own instead of hanging under whichever rpc started the poller.

What is never recorded: no request or response field, no URL (ids and the rows query
carry personal data: the route template is recorded instead), no header (the API key),
no exception message (it may quote a field); errors are named by their class or status.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias, cast
from urllib.parse import urlsplit

import grpc
import httpx
from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._context import current_request_id
from ._grpc import HandlerWrapper, code_of
from ._upstream import route_of

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "Tracing",
    "TracingInterceptor",
    "UpstreamTracer",
    "tracing_from_env",
]

DEFAULT_SERVICE_NAME = "revox-grpc-gateway"
_INSTRUMENTATION = "gateway"
_CARRIED = frozenset(("traceparent", "tracestate"))  # W3C trace context, lower-case as gRPC has it
_ROOT = Context()  # an empty context: the span starts a trace

if TYPE_CHECKING:  # generic only in the type stubs
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]


def tracing_from_env(env: Mapping[str, str]) -> Tracing | None:
    """A provider exporting over OTLP/HTTP (protobuf) in batches, or None (tracing off).

    On when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is) or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended) is set, unless
    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. ``service.name`` is
    ``OTEL_SERVICE_NAME``, else ``revox-grpc-gateway``. The SDK reads its other standard
    variables itself (``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``, ``OTEL_BSP_*``,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_RESOURCE_ATTRIBUTES``). An endpoint that is not an
    http(s) URL is a ValueError naming its variable (the exporter would only log, later).
    """
    variable = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    endpoint = env.get(variable, "").strip()
    if not endpoint:
        variable = "OTEL_EXPORTER_OTLP_ENDPOINT"
        base = env.get(variable, "").strip()
        endpoint = base and base.rstrip("/") + "/v1/traces"
    if (not endpoint or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
            or env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none"):
        return None
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        shown = _without_userinfo(env[variable].strip())
        raise ValueError(f"env {variable}={shown}: not an http:// or https:// URL (e.g. "
                         "http://localhost:4318); fix it, or unset it to turn traces off")
    # Imported here: a gateway that does not trace never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider, shutdown=provider.shutdown, destination=_without_userinfo(endpoint))


def _without_userinfo(url: str) -> str:
    """``url`` as the banner or an error may print it: no ``user:password@``, also when
    the URL is malformed (no scheme: urlsplit would not find the authority)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    return scheme + sep + authority.rpartition("@")[2] + slash + path


class Tracing:
    """The traces of one gateway: the rpc interceptor and the upstream hook, both from one
    provider. An async context manager: leaving it runs ``shutdown`` (the env-built
    provider's: flush what is batched, stop the exporter) in a thread, as the OTLP
    exporter blocks; an injected provider belongs to whoever made it (no ``shutdown``).
    ``destination``: where spans go, for the banner (None: the provider's business)."""

    def __init__(
        self,
        provider: TracerProvider,
        *,
        shutdown: Callable[[], object] | None = None,
        destination: str | None = None,
    ) -> None:
        self.provider = provider
        self.destination = destination
        self._tracer = provider.get_tracer(_INSTRUMENTATION)
        self._shutdown = shutdown
        self._propagator = TraceContextTextMapPropagator()

    def interceptor(self, *, services: Collection[str] | None = None) -> TracingInterceptor:
        """The server interceptor; ``services``: the gRPC services whose rpcs are traced
        (None: every one)."""
        return TracingInterceptor(self._tracer, self._propagator,
                                  services=None if services is None else frozenset(services))

    def upstream(self, base_url: str) -> UpstreamTracer:
        """The hook for the upstream client of ``base_url`` (its host names the server)."""
        return UpstreamTracer(self._tracer, self._propagator, base_url)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        shutdown, self._shutdown = self._shutdown, None
        if shutdown is not None:
            await asyncio.to_thread(shutdown)


# -- upstream ------------------------------------------------------------------------------


class UpstreamTracer:
    """One CLIENT span per HTTP attempt of the upstream client, named ``GET /campaigns/{id}``,
    its context sent on as the request's ``traceparent``."""

    def __init__(self, tracer: Tracer, propagator: TraceContextTextMapPropagator,
                 base_url: str) -> None:
        self._tracer = tracer
        self._propagator = propagator
        url = urlsplit(base_url)
        self._server: dict[str, str | int] = {"server.address": url.hostname or ""}
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
        if port is not None:
            self._server["server.port"] = port

    async def send(
        self, method: str, path: str, attempt: int, headers: Mapping[str, str],
        request: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """``request(headers)`` (one attempt) inside its span; ``headers`` plus the trace
        context are what it sends. ``path`` is never recorded, only its route template."""
        route = route_of(path)
        attributes: dict[str, str | int] = {
            "http.request.method": method, "url.template": route, **self._server,
        }
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        parent = None if current_request_id() is not None else _ROOT
        span = self._tracer.start_span(f"{method} {route}", context=parent,
                                       kind=SpanKind.CLIENT, attributes=attributes)
        try:
            carrier = dict(headers)
            self._propagator.inject(carrier, context=trace.set_span_in_context(span))
            response = await request(carrier)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            span.end()
            raise
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        return response


# -- rpcs ----------------------------------------------------------------------------------


def _end(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


class TracingInterceptor(HandlerWrapper):
    """A SERVER span per rpc, ``revox.campaigns.v1.CampaignService/GetCampaign``, current
    while the handler runs (a stream's: while it computes each message). Wrapped handlers
    are built once per method."""

    def __init__(self, tracer: Tracer, propagator: TraceContextTextMapPropagator, *,
                 services: frozenset[str] | None = None) -> None:
        super().__init__()
        self._tracer = tracer
        self._propagator = propagator
        self._services = services

    def _wrap(self, name: str, handler: Any) -> Handler:
        service, _, method = name.lstrip("/").rpartition("/")
        if self._services is not None and service not in self._services:
            return cast("Handler", handler)
        field = ("stream_" if handler.request_streaming else "unary_") + (
            "stream" if handler.response_streaming else "unary")
        inner = getattr(handler, field)
        start = self._starter(service, method)
        if inspect.isasyncgenfunction(inner):
            behaviour = _streaming(inner, start)
        elif inspect.iscoroutinefunction(inner):
            behaviour = _unary(inner, start)
        else:  # a synchronous handler runs in grpc's thread pool, out of our context
            return cast("Handler", handler)
        return cast("Handler", handler._replace(**{field: behaviour}))

    def _starter(self, service: str, method: str) -> Callable[[Any], tuple[trace.Span, Context]]:
        name = f"{service}/{method}"
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        tracer, propagator = self._tracer, self._propagator

        def start(context: Any) -> tuple[trace.Span, Context]:
            carrier = {key: value for key, value in context.invocation_metadata() or ()
                       if key in _CARRIED and isinstance(value, str)}
            # Without a traceparent the span starts a trace, whatever context the task
            # inherited from the code that started the server.
            parent = propagator.extract(carrier, context=_ROOT) if carrier else _ROOT
            span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                                     attributes=attributes)
            return span, trace.set_span_in_context(span, parent)

        return start


def _unary(inner: Any, start: Callable[[Any], tuple[trace.Span, Context]]) -> Any:
    """For a handler that is a coroutine: unary responses, and streams written with
    ``context.write``."""

    async def unary(request: Any, context: Any) -> Any:
        span, current = start(context)
        token = attach(current)
        try:
            response = await inner(request, context)
        except BaseException as exc:
            _end(span, code_of(context, exc))
            raise
        finally:
            detach(token)
        _end(span, code_of(context, None))
        return response

    return unary


def _streaming(inner: Any, start: Callable[[Any], tuple[trace.Span, Context]]) -> Any:
    """For a handler that is an async generator. The span's context is attached only while
    the handler computes a message, never across a ``yield``: grpc may close the
    generator from elsewhere, where a token attached here could not be detached."""

    async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
        span, current = start(context)
        failure: BaseException | None = None
        try:
            async with contextlib.aclosing(inner(request, context)) as responses:
                while True:
                    token = attach(current)
                    try:
                        response = await anext(responses)
                    except StopAsyncIteration:
                        break
                    finally:
                        detach(token)
                    yield response
        except BaseException as exc:  # GeneratorExit and CancelledError too: re-raised
            failure = exc
            raise
        finally:
            _end(span, code_of(context, failure))

    return streaming
