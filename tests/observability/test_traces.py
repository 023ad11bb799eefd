"""Traces over real ports: a gateway on port 0 in front of the simulator (or a fake upstream
that records headers), its spans in the SDK's in-memory exporter. An rpc's SERVER span
parents the CLIENT span of each upstream attempt, whichever transport carried it (create:
httpx's; reads: the aiohttp-backed one); a caller's traceparent is continued and sent on
upstream; no span holds a key, a phone number, an id or a query; with OTLP configured
the spans reach a collector at /v1/traces; with tracing off nothing is installed."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.app import Gateway
from gateway.config import Settings
from gateway.observability._tracing import Tracing, TracingInterceptor, tracing_from_env
from gateway.simulator import Simulator
from gateway.upstream._transport import proxied
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request
from ..test_cli import BANNER_END, Cli, _env
from ..test_cli_errors import _clean_env, _refused
from ..upstream._fakes import FakeRevox, reply, serving

SERVICE = "revox.campaigns.v1.CampaignService"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
PHONE = "+33612340001"  # one of create_request's numbers (tests.support.contacts)
CAMPAIGN = {"campaign": {"id": "cmp_secret_1", "name": "Spring", "status": "running",
                         "created_at": "2026-01-01T00:00:00Z"}}

Stub = campaign_service_pb2_grpc.CampaignServiceStub


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


@asynccontextmanager
async def traced(settings: Settings, tracing: Tracing | None) -> AsyncIterator[Stub]:
    async with Gateway(settings, tracing=tracing) as gw, \
            grpc.aio.insecure_channel(gw.address) as channel:
        yield Stub(channel)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _rpc_span(spans: list[ReadableSpan], method: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == f"{SERVICE}/{method}"]
    assert span.kind is SpanKind.SERVER
    return span


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None
            and s.parent.span_id == parent.context.span_id]


def _assert_parents(spans: list[ReadableSpan], method: str, upstream: str) -> list[ReadableSpan]:
    """The rpc's span and its CLIENT children (all of them named ``upstream``), one trace."""
    rpc = _rpc_span(spans, method)
    assert rpc.attributes is not None
    assert dict(rpc.attributes) == {"rpc.system": "grpc", "rpc.service": SERVICE,
                                    "rpc.method": method, "rpc.grpc.status_code": 0}
    assert rpc.status.status_code is StatusCode.UNSET
    children = _children(spans, rpc)
    assert children and {c.name for c in children} == {upstream}, [s.name for s in spans]
    for child in children:
        assert child.kind is SpanKind.CLIENT
        assert child.context.trace_id == rpc.context.trace_id
        assert child.attributes is not None
        assert child.attributes["url.template"] == upstream.split(" ")[1]
        assert child.attributes["http.request.method"] == upstream.split(" ")[0]
        assert child.attributes["server.address"] == "127.0.0.1"
        assert child.attributes["http.response.status_code"] in (200, 201)
    return children


async def test_a_create_rpc_parents_its_upstream_post(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    async with traced(settings, tracing) as stub:
        await stub.CreateCampaign(create_request(), metadata=auth())
    (post,) = _assert_parents(list(exporter.get_finished_spans()), "CreateCampaign",
                              "POST /campaigns")
    assert post.attributes is not None and post.attributes["http.response.status_code"] == 200


async def test_reads_through_the_aiohttp_transport_are_children_too(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter, upstream: Simulator
) -> None:
    """GetCampaign (skip_cache), ListCampaignRows and the ExportCampaignRows stream; a 503
    retried is two spans, the second with its resend count."""
    assert not proxied(settings.upstream_url)  # so GETs ride AiohttpTransport (_client)
    async with traced(settings, tracing) as stub:
        cid = (await stub.CreateCampaign(create_request(), metadata=auth())).id
        exporter.clear()
        upstream.faults.fail_next(1, status=503)
        await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
        await stub.ListCampaignRows(pb.ListCampaignRowsRequest(campaign_id=cid, page_size=2),
                                    metadata=auth())
        export = pb.ExportCampaignRowsRequest(campaign_id=cid, max_chunk_bytes=1024)
        assert [c async for c in stub.ExportCampaignRows(export, metadata=auth())]
    spans = list(exporter.get_finished_spans())
    failed, retried = _children(spans, _rpc_span(spans, "GetCampaign"))
    assert failed.attributes is not None and retried.attributes is not None
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["error.type"] == "503"
    assert failed.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in failed.attributes
    assert retried.attributes["http.request.resend_count"] == 1
    assert retried.attributes["http.response.status_code"] == 200
    assert failed.name == retried.name == "GET /campaigns/{id}"
    _assert_parents(spans, "ListCampaignRows", "GET /campaigns/{id}/rows")
    _assert_parents(spans, "ExportCampaignRows", "GET /campaigns/{id}/export")
    traces = {_rpc_span(spans, m).context.trace_id
              for m in ("GetCampaign", "ListCampaignRows", "ExportCampaignRows")}
    assert len(traces) == 3  # no rpc inherits another's context


async def test_concurrent_rpcs_keep_their_own_context(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """grpc.aio serves each rpc in a task of its own: eight reads at once, each upstream
    span under its own rpc's span, eight traces."""
    async with traced(settings, tracing) as stub:
        cid = (await stub.CreateCampaign(create_request(), metadata=auth())).id
        exporter.clear()
        await asyncio.gather(*(
            stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
            for _ in range(8)))
    spans = list(exporter.get_finished_spans())
    rpcs = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(rpcs) == 8 and len({r.context.trace_id for r in rpcs}) == 8
    for rpc in rpcs:
        (child,) = _children(spans, rpc)
        assert child.name == "GET /campaigns/{id}"
        assert child.context.trace_id == rpc.context.trace_id


async def test_an_inbound_traceparent_is_continued_and_sent_upstream(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """The caller's trace id and span (remote parent) and tracestate; the fake upstream
    receives, on each attempt, a traceparent naming that attempt's span in the same trace."""
    async with serving() as fake:
        fake.script(reply(503, {"error": "busy"}), reply(200, CAMPAIGN))
        async with traced(replace(settings, upstream_url=fake.base_url), tracing) as stub:
            await stub.GetCampaign(
                pb.GetCampaignRequest(id="cmp_secret_1", skip_cache=True),
                metadata=auth() + (("traceparent", TRACEPARENT), ("tracestate", "vendor=x1")))
    spans = list(exporter.get_finished_spans())
    rpc = _rpc_span(spans, "GetCampaign")
    assert _hex(rpc.context.trace_id, 32) == CALLER_TRACE
    assert rpc.parent is not None and rpc.parent.is_remote
    assert _hex(rpc.parent.span_id, 16) == CALLER_SPAN
    assert rpc.context.trace_state.get("vendor") == "x1"
    attempts = _children(spans, rpc)
    sent = [_header(fake, i) for i in range(2)]
    assert sent == [f"00-{CALLER_TRACE}-{_hex(a.context.span_id, 16)}-01" for a in attempts]
    assert len(set(sent)) == 2  # one span per attempt
    assert {_header(fake, i, "tracestate") for i in range(2)} == {"vendor=x1"}


def _header(fake: FakeRevox, index: int, name: str = "traceparent") -> str | None:
    headers = fake.requests[index].headers
    return next((v for k, v in headers.items() if k.lower() == name), None)


async def test_no_span_holds_a_key_a_phone_number_an_id_or_a_query(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    async with traced(settings, tracing) as stub:
        cid = (await stub.CreateCampaign(create_request(), metadata=auth())).id
        await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
        await stub.ListCampaignRows(pb.ListCampaignRowsRequest(campaign_id=cid, query=PHONE),
                                    metadata=auth())
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_" + PHONE[1:], skip_cache=True),
                                   metadata=auth())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    spans = list(exporter.get_finished_spans())
    assert len(spans) >= 8
    dumped = "\n".join(s.to_json() for s in spans)
    for secret in (ALICE, PHONE, PHONE[1:], cid, "Ada", "query="):
        assert secret not in dumped, secret
    failed = [s for s in spans if s.name == f"{SERVICE}/GetCampaign"][-1]
    assert failed.attributes is not None and failed.attributes["rpc.grpc.status_code"] == 5
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "NOT_FOUND"


async def test_a_watch_stream_has_a_span_and_its_poller_traces_apart(
    settings: Settings, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    """The stream's span ends (CANCELLED) when the caller hangs up; its admission check is
    its child; the poller's upstream calls serve every subscriber, so they are not children
    of the rpc that started the poller (they start traces of their own)."""
    async with traced(settings, tracing) as stub:
        cid = (await stub.CreateCampaign(create_request(), metadata=auth())).id
        call = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid),
                                      metadata=auth())
        assert await asyncio.wait_for(call.read(), 20)
        call.cancel()
        watch = await _finished(exporter, f"{SERVICE}/WatchCampaignRows")
    assert watch.attributes is not None and watch.attributes["rpc.grpc.status_code"] == 1
    assert watch.status.status_code is StatusCode.ERROR
    spans = list(exporter.get_finished_spans())
    polls = [s for s in spans if s.name == "GET /campaigns/{id}/rows"]
    assert polls and all(p.parent is None for p in polls), [(p.name, p.parent) for p in polls]
    # The admission check is the subscriber's own call: a child of its stream's span.
    assert {c.name for c in _children(spans, watch)} == {"GET /campaigns/{id}"}


async def _finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The span ``name`` once ended (a stream's ends after the caller saw it cancelled)."""
    async with asyncio.timeout(20):
        while True:
            found = [s for s in exporter.get_finished_spans() if s.name == name]
            if found:
                return found[0]
            await asyncio.sleep(0.01)  # polling with a deadline, not a synchronisation


async def test_otlp_export_reaches_a_collector_on_shutdown(settings: Settings) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT set: batched spans are POSTed as OTLP protobuf to
    /v1/traces, flushed when the gateway stops (the loop stays free while it flushes,
    which this collector, on the same loop, needs)."""
    async with _collector() as (base, received):
        tracing = tracing_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": base + "/",
                                    "OTEL_SERVICE_NAME": "gw-under-test"})
        assert tracing is not None
        async with traced(settings, tracing) as stub:
            cid = (await stub.CreateCampaign(create_request(), metadata=auth())).id
            await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True),
                                   metadata=auth())
        assert received, "nothing exported by the time the gateway stopped"
    names, services = set(), set()
    for body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes
                         if a.key == "service.name"}
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert services == {"gw-under-test"}
    assert {f"{SERVICE}/CreateCampaign", "POST /campaigns", f"{SERVICE}/GetCampaign",
            "GET /campaigns/{id}"} <= names


@asynccontextmanager
async def _collector() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A tiny OTLP/HTTP collector: the bodies POSTed to /v1/traces as protobuf."""
    received: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        received.append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


def test_serve_exports_when_the_standard_variable_is_set(tmp_path: Path) -> None:
    """``revox-gateway serve`` reads OTEL_EXPORTER_OTLP_ENDPOINT itself, says so in its
    banner (credentials of the URL left out), and flushes on SIGTERM."""
    with _threaded_collector() as (base, received):
        endpoint = base.replace("http://", "http://user:pw@") + "/v1/traces"
        # A batch delay of 10 min: only the flush on SIGTERM can deliver the spans.
        env = _env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="600000")
        with Cli("gateway", "serve", "--simulator", "--listen", "127.0.0.1:0",
                 "--metrics-listen", "off", "--log-level", "WARNING",
                 "--database", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
                 cwd=tmp_path, env=env) as gateway:
            banner = gateway.read_until(BANNER_END)
            assert f"  traces: OTLP/HTTP to {base}/v1/traces\n" in banner, banner
            address = re.search(r"serving \S+ on (\S+:\d+)", banner)
            assert address, banner
            with grpc.insecure_channel(address.group(1)) as channel:
                campaign_service_pb2_grpc.CampaignServiceStub(channel).ListCampaigns(
                    pb.ListCampaignsRequest(page_size=1), timeout=30, metadata=auth())
            assert not received  # batched: nothing before the flush
            assert gateway.stop() == 0
    names = {span.name for body in received
             for rs in ExportTraceServiceRequest.FromString(body).resource_spans
             for scope in rs.scope_spans for span in scope.spans}
    assert {f"{SERVICE}/ListCampaigns", "GET /campaigns"} <= names, names


@contextmanager
def _threaded_collector() -> Iterator[tuple[str, list[bytes]]]:
    """A collector for a gateway in another process: a threaded HTTP server."""
    received: list[bytes] = []

    class Traces(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.append(body)
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Traces)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_endpoint_that_is_no_url_is_one_line_naming_its_variable(tmp_path: Path) -> None:
    line = _refused(tmp_path, env=_clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="k:s3cret@collector:4318"))
    assert line == ("revox-gateway: env OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318: not an "
                    "http:// or https:// URL (e.g. http://localhost:4318); fix it, or unset it "
                    "to turn traces off")


@pytest.mark.parametrize("env", [
    {},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": " "},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
     "OTEL_TRACES_EXPORTER": "none"},
])
def test_tracing_is_off_unless_an_otlp_endpoint_is_set(env: dict[str, str]) -> None:
    assert tracing_from_env(env) is None


async def test_tracing_off_installs_nothing_and_sends_no_traceparent(settings: Settings) -> None:
    async with serving() as fake:
        fake.script(reply(200, CAMPAIGN))
        off = replace(settings, upstream_url=fake.base_url)
        async with Gateway(off) as gw, grpc.aio.insecure_channel(gw.address) as channel:
            assert gw.tracing is None and len(gw.interceptors) == 1
            assert not any(isinstance(i, TracingInterceptor) for i in gw.interceptors)
            await Stub(channel).GetCampaign(
                pb.GetCampaignRequest(id="cmp_secret_1", skip_cache=True),
                metadata=auth() + (("traceparent", TRACEPARENT),))
        assert _header(fake, 0) is None
