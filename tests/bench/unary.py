"""Unary benchmarks: GetCampaign from cache vs a bare grpc.aio echo, GetCampaign with the
cache bypassed vs plain httpx to the simulator, CreateCampaign with 10,000 contacts vs the
same POST sent directly.

Method (see also ``_servers``):

* Servers run in child processes; this process only generates load, so its CPU does not
  count against the server. The gateway process embeds the simulator (as ``serve
  --simulator`` does); the echo server is a third process.
* Every comparison is interleaved: round after round, each target runs once (the order
  alternates between rounds), and medians over rounds are reported, so slow phases of the
  shared machine hit both targets alike.
* Throughput: one ``grpc.aio`` channel per target (one HTTP/2 connection), C workers
  (C = 1, 16, 64) each sending a fixed number of GetCampaign calls back to back;
  throughput = calls / wall time. The client sends pre-serialized request bytes and keeps
  the response bytes (no client-side protobuf work, identical for both targets). Server CPU
  per call is read from /proc for the server process.
* Latency: concurrency 1; the gRPC client decodes the Campaign and the httpx client decodes
  the JSON, so each gets a usable object.
"""

from __future__ import annotations

import asyncio
import pstats
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_pb2, campaign_service_pb2_grpc
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from tests.support import create_request

from ._common import AUTH, Options, SuiteResult, median, percentile, table
from ._servers import GET_METHOD, ServerProcess

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]
CONCURRENCY = (1, 16, 64)
CACHE_RATIO_TARGET = 0.8
BYPASS_P50_TARGET_MS = 1.0
CREATE_CONTACTS = 10_000


@dataclass(frozen=True)
class Plan:
    rounds: int
    calls: dict[int, int]  # per concurrency, per round and target
    warmup: int
    latency_rounds: int
    latency_calls: int
    create_reps: int
    profile_calls: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(3, {1: 300, 16: 1000, 64: 1000}, 100, 3, 100, 3, 2000)
        return cls(7, {1: 800, 16: 2500, 64: 2500}, 300, 5, 200, 5, 5000)


# -- throughput ----------------------------------------------------------------


@dataclass
class Samples:
    rps: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)  # server CPU per call
    client_us: list[float] = field(default_factory=list)  # load-generator CPU per call


async def _blast(call: Any, request: bytes, concurrency: int, total: int) -> tuple[int, float]:
    per_worker = max(1, total // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            await call(request, metadata=AUTH)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_worker * concurrency, time.perf_counter() - start


async def _measured(
    call: Any, request: bytes, concurrency: int, total: int, server: ServerProcess, into: Samples
) -> None:
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    n, elapsed = await _blast(call, request, concurrency, total)
    cpu1, client1 = server.cpu_seconds(), time.process_time()
    into.rps.append(n / elapsed)
    into.server_us.append((cpu1 - cpu0) / n * 1e6)
    into.client_us.append((client1 - client0) / n * 1e6)


async def _throughput(
    plan: Plan,
    gw: ServerProcess,
    gw_channel: grpc.aio.Channel,
    echo: ServerProcess,
    echo_channel: grpc.aio.Channel,
    payload: bytes,
    request: bytes,
) -> tuple[str, list[tuple[str, bool, str]]]:
    targets = {
        "gateway": (gw, gw_channel.unary_unary(GET_METHOD)),
        "echo": (echo, echo_channel.unary_unary(GET_METHOD)),
    }
    for name, (_, call) in targets.items():
        got = await call(request, metadata=AUTH)
        assert got == payload, f"{name} answered different bytes"
        for c in CONCURRENCY:
            await _blast(call, request, c, plan.warmup)
    results = {(name, c): Samples() for name in targets for c in CONCURRENCY}
    for r in range(plan.rounds):
        for c in CONCURRENCY:
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for name in order:
                server, call = targets[name]
                await _measured(call, request, c, plan.calls[c], server, results[name, c])

    rows, verdicts = [], []
    for c in CONCURRENCY:
        g, e = results["gateway", c], results["echo", c]
        ratios = [a / b for a, b in zip(g.rps, e.rps, strict=True)]  # per round, side by side
        ratio = median(ratios)  # paired: both targets ran back to back in each round
        of_medians = median(g.rps) / median(e.rps)
        ok = ratio >= CACHE_RATIO_TARGET
        rows.append(
            [
                str(c),
                f"{median(g.rps):,.0f}",
                f"{median(e.rps):,.0f}",
                f"**{ratio:.2f}×**",
                f"{of_medians:.2f}×",
                f"{min(ratios):.2f}–{max(ratios):.2f}",
                f"{median(g.server_us):.0f}",
                f"{median(e.server_us):.0f}",
                f"{median(g.client_us):.0f} / {median(e.client_us):.0f}",
                f"{median(g.server_us) * median(g.rps) / 1e6:.2f} / {median(e.server_us) * median(e.rps) / 1e6:.2f}",
                "PASS" if ok else "MISS",
            ]
        )
        verdicts.append(
            (
                f"GetCampaign cached ≥ {CACHE_RATIO_TARGET}× echo at concurrency {c}",
                ok,
                f"{ratio:.2f}×",
            )
        )
    md = (
        "### GetCampaign served from cache vs bare grpc.aio echo\n\n"
        f"{plan.rounds} interleaved rounds; per round and target {plan.calls} calls "
        "(concurrency: calls); one channel per target; payload "
        f"{len(payload)} bytes. Throughput in calls/s (median over rounds); ratio = "
        "median over rounds of (gateway / echo in that round) — the paired figure the verdict uses; "
        "ratio of the two medians and the per-round range alongside. CPU µs/call from /proc "
        "(server) and process_time (load generator).\n\n"
        + table(
            [
                "concurrency",
                "gateway rps",
                "echo rps",
                "ratio (median of per-round)",
                "ratio of medians",
                "per-round ratios",
                "gateway CPU µs/call",
                "echo CPU µs/call",
                "client CPU µs/call (gw / echo)",
                "server cores busy (gw / echo)",
                f"≥ {CACHE_RATIO_TARGET}×",
            ],
            rows,
        )
    )
    return md, verdicts


# -- latency, cache bypassed ---------------------------------------------------------


async def _latency(
    plan: Plan,
    stub: campaign_service_pb2_grpc.CampaignServiceStub,
    echo_stub: campaign_service_pb2_grpc.CampaignServiceStub,
    sim_url: str,
    campaign_id: str,
) -> tuple[str, list[tuple[str, bool, str]]]:
    request = pb.GetCampaignRequest(id=campaign_id, skip_cache=True)
    gw: list[float] = []
    direct: list[float] = []
    floor: list[float] = []
    deltas: list[float] = []
    headers = {"authorization": AUTH[0][1]}
    async with httpx.AsyncClient(base_url=sim_url, headers=headers) as http:

        async def via_gateway() -> None:
            await stub.GetCampaign(request, metadata=AUTH)

        async def via_echo() -> None:
            await echo_stub.GetCampaign(request, metadata=AUTH)

        async def via_httpx() -> None:
            response = await http.get(f"/campaigns/{campaign_id}")
            response.raise_for_status()
            response.json()

        async def run(fn: Any, n: int) -> list[float]:
            out = []
            for _ in range(n):
                start = time.perf_counter()
                await fn()
                out.append((time.perf_counter() - start) * 1e3)
            return out

        for fn in (via_gateway, via_httpx, via_echo):
            await run(fn, plan.warmup // 3)
        for r in range(plan.latency_rounds):
            got: dict[str, list[float]] = {}
            order = [("gateway", via_gateway), ("httpx", via_httpx), ("echo", via_echo)]
            for name, fn in order if r % 2 == 0 else reversed(order):
                got[name] = await run(fn, plan.latency_calls)
            gw += got["gateway"]
            direct += got["httpx"]
            floor += got["echo"]
            deltas.append(percentile(got["gateway"], 50) - percentile(got["httpx"], 50))

    delta = percentile(gw, 50) - percentile(direct, 50)
    ok = delta <= BYPASS_P50_TARGET_MS
    md = (
        "### GetCampaign with the cache bypassed vs plain httpx to the simulator\n\n"
        f"Concurrency 1; {plan.latency_rounds} interleaved rounds × {plan.latency_calls} calls per "
        "target. gateway = `GetCampaign(skip_cache=True)` decoded to a Campaign; httpx = "
        "`AsyncClient.get({simulator}/campaigns/{id})` + `.json()`, same key, from the load "
        "process; the echo row is the same gRPC call against the bare echo server (no upstream). "
        "Milliseconds over all calls.\n\n"
        + table(
            ["target", "p50 ms", "p90 ms", "p99 ms"],
            [
                [
                    "gateway",
                    f"{percentile(gw, 50):.3f}",
                    f"{percentile(gw, 90):.3f}",
                    f"{percentile(gw, 99):.3f}",
                ],
                [
                    "httpx → simulator",
                    f"{percentile(direct, 50):.3f}",
                    f"{percentile(direct, 90):.3f}",
                    f"{percentile(direct, 99):.3f}",
                ],
                [
                    "(floor) bare echo, same call",
                    f"{percentile(floor, 50):.3f}",
                    f"{percentile(floor, 90):.3f}",
                    f"{percentile(floor, 99):.3f}",
                ],
            ],
        )
        + f"\n\np50 added by the gateway: **{delta:.3f} ms** (per-round deltas "
        f"{', '.join(f'{d:.3f}' for d in deltas)}; median {median(deltas):.3f}); target ≤ "
        f"{BYPASS_P50_TARGET_MS} ms: **{'PASS' if ok else 'MISS'}**. For scale, one bare grpc.aio "
        f"round trip (echo, same client code) costs {percentile(floor, 50):.3f} ms at p50 on this machine."
    )
    return md, [
        (f"GetCampaign skip_cache adds ≤ {BYPASS_P50_TARGET_MS} ms at p50", ok, f"{delta:.3f} ms")
    ]


# -- CreateCampaign, 10,000 contacts ---------------------------------------------------


async def _create(
    plan: Plan, stub: campaign_service_pb2_grpc.CampaignServiceStub, sim_url: str
) -> tuple[str, list[tuple[str, bool, str]]]:
    from gateway.convert import create_body

    request = create_request(CREATE_CONTACTS)
    body = create_body(request)  # exactly the JSON the gateway POSTs upstream
    proto_size = request.ByteSize()
    json_size = len(httpx.Request("POST", sim_url, json=body).content)
    times: dict[str, list[float]] = {
        "gateway": [],
        "gateway + request_id": [],
        "httpx → simulator": [],
    }
    headers = {"authorization": AUTH[0][1]}
    async with httpx.AsyncClient(base_url=sim_url, headers=headers, timeout=120) as http:

        async def via_gateway() -> float | None:
            campaign = await stub.CreateCampaign(request, metadata=AUTH, timeout=120)
            assert campaign.row_stats.total == CREATE_CONTACTS, campaign.row_stats
            return None

        async def via_gateway_idempotent() -> float | None:
            keyed = pb.CreateCampaignRequest()
            keyed.CopyFrom(request)
            keyed.request_id = str(uuid.uuid4())
            start = time.perf_counter()
            await stub.CreateCampaign(keyed, metadata=AUTH, timeout=120)
            return time.perf_counter() - start

        async def via_httpx() -> float | None:
            response = await http.post("/campaigns", json=body)
            response.raise_for_status()
            response.json()
            return None

        fns = {
            "gateway": via_gateway,
            "gateway + request_id": via_gateway_idempotent,
            "httpx → simulator": via_httpx,
        }
        for fn in fns.values():  # warm-up: connections, code paths
            await fn()
        for r in range(plan.create_reps):
            names = list(fns) if r % 2 == 0 else list(reversed(fns))
            for name in names:
                start = time.perf_counter()
                took = await fns[name]()
                if took is None:  # the keyed variant times itself, excluding the request copy
                    took = time.perf_counter() - start
                times[name].append(took * 1e3)

    base = median(times["httpx → simulator"])
    rows = [
        [
            name,
            f"{median(v):.1f}",
            f"{min(v):.1f}–{max(v):.1f}",
            f"{median(v) / base:.2f}×",
            f"{median(v) - base:+.1f}",
        ]
        for name, v in times.items()
    ]
    md = (
        f"### CreateCampaign with {CREATE_CONTACTS:,} contacts, end to end\n\n"
        f"{plan.create_reps} interleaved repetitions per target (after one warm-up each). "
        f"Request: {proto_size / 1e6:.2f} MB protobuf, {json_size / 1e6:.2f} MB JSON (the body "
        "the gateway POSTs, from `gateway.convert.create_body`; httpx sends the same dict). "
        "Each simulator create really stores the 10,000 rows. Times in ms.\n\n"
        + table(["target", "median ms", "range ms", "vs direct", "Δ ms"], rows)
    )
    g = median(times["gateway"])
    return md, [
        (
            "CreateCampaign 10k contacts (informational, no target)",
            True,
            f"{g / base:.2f}× / {g - base:+.1f} ms",
        )
    ]


# -- optional profile ----------------------------------------------------------------


async def _profile(plan: Plan, out_dir: Path) -> str:
    """cProfile a fresh gateway process per scenario; show where its Python time goes."""
    scenarios = (
        ("hit", "GetCampaign cache hit, concurrency 64", plan.profile_calls),
        ("skip", "GetCampaign skip_cache, concurrency 1", plan.profile_calls // 5),
        ("create", f"CreateCampaign {CREATE_CONTACTS:,} contacts, sequential", 3),
    )
    sections = []
    for kind, label, calls in scenarios:
        path = out_dir / f"profile-gateway-{kind}.pstats"
        with ServerProcess("gateway", profile=path) as gw:
            async with grpc.aio.insecure_channel(
                gw.info["grpc"], options=CHANNEL_OPTIONS
            ) as channel:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                created = await stub.CreateCampaign(create_request(3), metadata=AUTH)
                big = create_request(CREATE_CONTACTS)
                request = pb.GetCampaignRequest(id=created.id, skip_cache=kind == "skip")
                call = channel.unary_unary(GET_METHOD)
                await call(request.SerializeToString(), metadata=AUTH)  # warm: first fetch, cache
                gw.signal(signal.SIGUSR1)
                await asyncio.sleep(0.2)  # let the server's loop run the handler
                if kind == "create":
                    start = time.perf_counter()
                    for _ in range(calls):
                        await stub.CreateCampaign(big, metadata=AUTH, timeout=120)
                    n, elapsed = calls, time.perf_counter() - start
                else:
                    n, elapsed = await _blast(
                        call, request.SerializeToString(), 64 if kind == "hit" else 1, calls
                    )
                gw.signal(signal.SIGUSR2)
                await asyncio.sleep(0.2)
        sections.append(_profile_table(path, label, n, elapsed))
    return (
        "### cProfile of the gateway process (diagnostic; cProfile inflates Python-heavy code)\n\n"
        "Cumulative time of the heaviest gateway-side functions (and the libraries they call), "
        "per RPC, profiled only while the load ran (SIGUSR1/SIGUSR2). Time inside gRPC core and "
        "the event loop between callbacks is the rest of the profiled total. SQLAlchemy's "
        "asyncio layer switches greenlets, which cProfile attributes poorly (its cumulative "
        "figures can exceed the total): read them as 'large', not as exact.\n\n"
        + "\n\n".join(sections)
    )


_PROFILE_FILES = ("/gateway/", "sqlalchemy/ext/asyncio/engine.py", "httpx/_client.py", "aiosqlite")


def _profile_table(path: Path, label: str, n: int, elapsed: float) -> str:
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if (
            func == "<module>"
            or "/simulator/" in file
            or not any(f in file for f in _PROFILE_FILES)
        ):
            continue
        rows.append(
            (
                ct,
                nc,
                f"{file.split('site-packages/')[-1].replace('/work/main/', '')}:{line}({func})",
            )
        )
    rows.sort(reverse=True)
    shown = [[name, str(nc), f"{ct:.3f}", f"{ct / n * 1e6:,.0f}"] for ct, nc, name in rows[:14]]
    return (
        f"#### {label}: {n} calls, {n / elapsed:,.1f} calls/s under cProfile; profiled "
        f"total {total:.2f} s; stats in `{path.name}`\n\n"
        + table(["function", "calls*", "cum s", "cum µs / RPC"], shown)
        + "\n\n*coroutine resumptions count as calls."
    )


# -- the suite -------------------------------------------------------------------------


async def _run(opts: Options) -> SuiteResult:
    plan = Plan.of(opts.quick)
    parts: list[str] = []
    verdicts: list[tuple[str, bool, str]] = []
    with ServerProcess("gateway", "--cache-ttl", "3600") as gw:
        sim_url = gw.info["simulator"]
        async with grpc.aio.insecure_channel(gw.info["grpc"], options=CHANNEL_OPTIONS) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            created = await stub.CreateCampaign(create_request(3), metadata=AUTH)
            request = pb.GetCampaignRequest(id=created.id).SerializeToString()
            call = channel.unary_unary(GET_METHOD)
            await call(request, metadata=AUTH)
            raw = call(request, metadata=AUTH)
            payload = await raw
            state = dict(await raw.trailing_metadata()).get("x-revox-cache")
            assert state == "hit", f"expected a cache hit, got {state!r}"
            campaign_pb2.Campaign.FromString(payload)

            with tempfile.TemporaryDirectory(prefix="revox-bench-") as tmp:
                payload_file = Path(tmp) / "campaign.bin"
                payload_file.write_bytes(payload)
                with ServerProcess("echo", "--payload", str(payload_file)) as echo:
                    async with grpc.aio.insecure_channel(
                        echo.info["grpc"], options=CHANNEL_OPTIONS
                    ) as echo_ch:
                        md, v = await _throughput(
                            plan, gw, channel, echo, echo_ch, payload, request
                        )
                        parts.append(md)
                        verdicts += v
                        echo_stub = campaign_service_pb2_grpc.CampaignServiceStub(echo_ch)
                        md, v = await _latency(plan, stub, echo_stub, sim_url, created.id)
                        parts.append(md)
                        verdicts += v
            md, v = await _create(plan, stub, sim_url)
            parts.append(md)
            verdicts += v
    if opts.profile:
        parts.append(await _profile(plan, opts.profile_dir))
    setup = (
        "Setup: gateway + embedded simulator in one child process (as `serve --simulator`, "
        "manual simulator clock, fresh SQLite, cache TTL 3600 s); bare echo server in another; "
        "this process generates load with grpc.aio / httpx."
    )
    return SuiteResult("## Unary\n\n" + setup + "\n\n" + "\n\n".join(parts), verdicts)


def run(opts: Options) -> SuiteResult:
    return asyncio.run(_run(opts))
