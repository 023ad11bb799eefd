"""What metrics and JSON logs cost (issue 17): cached GetCampaign at concurrency 16 on a
gateway with ``--metrics-listen`` and ``--log-format json``, against one without, in the
same run.

Method:

* Three child processes, started as an operator starts them: one simulator
  (``tests.bench._servers simulator``, manual clock) and two ``python -m gateway serve``
  in front of it, each with its own fresh SQLite file, ``--cache-ttl 3600`` (every
  measured call is a cache hit: the upstream is not on the path) and the per-key rate
  cap lifted (it would measure the cap). Their stdout and stderr go to a file each, as
  under a supervisor (a terminal would measure the terminal).
* "on": ``--metrics-listen 127.0.0.1:0 --log-format json``. "off": no
  ``--metrics-listen`` and the default text format. The per-rpc log line and the
  request id are features, always on: "off" still writes one text line per rpc and
  returns an ``x-request-id``; the interceptor still runs and counts into its registry
  (nobody can scrape it). So the ratio is what an operator pays for turning on the
  scrape port and JSON lines, not the whole interceptor; the interceptor's own cost is
  in the profile (``--profile``) and in the unary suite's gateway/echo ratio.
* Placement: both gateways are pinned to the same half of the CPUs, the load generator
  to the other half (on 2 cores: one each). Unpinned, on a shared 2-core machine, where
  the scheduler happened to put each process swung a round's on/off ratio from 0.3 to 5;
  pinned, the two gateways meet the same conditions in turn.
* One channel per gateway, 16 workers each sending calls back to back (pre-serialized
  request bytes; response bytes kept as they are), timing every call. Interleaved
  rounds (on, off, then off, on, ...); throughput = calls / wall time; the verdict is
  the median over rounds of the per-round ratio on/off. Server CPU per call from /proc.
* Afterwards, sanity checks that "on" really was on: a scrape of its ``/metrics``
  counts every call made, and its log file holds one JSON line per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.support import create_request

from ._common import AUTH, Options, SuiteResult, median, percentile, table
from ._servers import GET_METHOD, ROOT, ServerProcess

CONCURRENCY = 16
# Both gateways on the same core(s), the load generator on the others: each round's
# gateway then meets the same placement (on 2 shared cores, where the scheduler put each
# process made a round's ratio swing by 2-5x).
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = set(_CPUS[len(_CPUS) // 2:])
CLIENT_CPUS = set(_CPUS[:len(_CPUS) // 2]) or SERVER_CPUS
RATIO_TARGET = 0.95
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_SERVING = re.compile(r"serving \S+ on (\S+)")
_METRICS = re.compile(r"metrics: http://(\S+)/metrics")


@dataclass(frozen=True)
class Plan:
    rounds: int
    calls: int  # per round and gateway
    warmup: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(7, 480, 400) if quick else cls(31, 960, 800)


@dataclass
class Gateway:
    """One ``python -m gateway serve`` child, its output going to ``log``."""

    name: str
    flags: tuple[str, ...]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    address: str = ""
    metrics: str | None = None

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@contextlib.contextmanager
def _serving(gw: Gateway, sim_url: str, db: Path, profile: Path | None) -> Iterator[Gateway]:
    runner = [sys.executable, "-m", "gateway"]
    if profile is not None:
        runner = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "gateway"]
    argv = [*runner, "serve", "--listen", "127.0.0.1:0", "--upstream-url", sim_url,
            "--database", f"sqlite+aiosqlite:///{db}", "--cache-ttl", "3600",
            "--rate", "1000000000", "--rate-burst", "1000000000", "--shutdown-grace", "1",
            *gw.flags]
    with gw.log.open("wb") as out:
        gw.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   preexec_fn=lambda: os.sched_setaffinity(0, SERVER_CPUS))
    try:
        deadline = time.monotonic() + 60
        while True:  # the banner's last line says it is serving
            text = gw.log.read_text(errors="replace")
            if "  try:" in text:
                break
            if gw.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway {gw.name} did not start:\n{text[-2000:]}")
            time.sleep(0.05)  # polling a file another process writes, with a deadline
        found = _SERVING.search(text)
        assert found, text
        gw.address = found.group(1)
        metrics = _METRICS.search(text)
        gw.metrics = metrics.group(1) if metrics else None
        yield gw
    finally:
        gw.proc.send_signal(signal.SIGTERM)
        try:
            gw.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gw.proc.kill()
            gw.proc.wait()


@dataclass
class Samples:
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    calls: int = 0


async def _blast(call: grpc.aio.UnaryUnaryMultiCallable, request: bytes, total: int,
                 into: list[float] | None) -> tuple[int, float]:
    per_worker = max(1, total // CONCURRENCY)

    async def worker() -> None:
        clock = time.perf_counter
        for _ in range(per_worker):
            t0 = clock()
            await call(request, metadata=AUTH)
            if into is not None:
                into.append((clock() - t0) * 1e3)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return per_worker * CONCURRENCY, time.perf_counter() - start


async def _round(gw: Gateway, call: grpc.aio.UnaryUnaryMultiCallable, request: bytes,
                 calls: int, into: Samples) -> None:
    times: list[float] = []
    cpu0 = gw.cpu_seconds()
    n, elapsed = await _blast(call, request, calls, times)
    cpu1 = gw.cpu_seconds()
    into.rps.append(n / elapsed)
    into.cpu_us.append((cpu1 - cpu0) / n * 1e6)
    into.p50.append(percentile(times, 50))
    into.p99.append(percentile(times, 99))
    into.latencies_ms += times
    into.calls += n


async def _measure(plan: Plan, gws: dict[str, Gateway]) -> tuple[dict[str, Samples], str]:
    results = {name: Samples() for name in gws}
    async with contextlib.AsyncExitStack() as stack:
        calls: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        request = b""
        for name, gw in gws.items():
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(gw.address))
            if not request:  # one campaign, in the simulator both gateways ask
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                created = await stub.CreateCampaign(create_request(3), metadata=AUTH)
                request = pb.GetCampaignRequest(id=created.id).SerializeToString()
            calls[name] = channel.unary_unary(GET_METHOD)
            await calls[name](request, metadata=AUTH)  # fills that gateway's cache
            probe = calls[name](request, metadata=AUTH)
            await probe
            cache = dict(await probe.trailing_metadata()).get("x-revox-cache")
            assert cache == "hit", f"{name}: expected a cache hit, got {cache!r}"
            await _blast(calls[name], request, plan.warmup, None)
        warm = plan.warmup + 2
        for r in range(plan.rounds):
            order = list(gws) if r % 2 == 0 else list(reversed(gws))
            for name in order:
                await _round(gws[name], calls[name], request, plan.calls, results[name])
    return results, _sanity(gws["on"], results["on"].calls + warm)


def _sanity(on: Gateway, calls: int) -> str:
    """That "on" was on: its scrape counts the GetCampaign calls, its log has JSON lines."""
    assert on.metrics is not None, "the 'on' gateway serves no metrics"
    text = httpx.get(f"http://{on.metrics}/metrics", trust_env=False, timeout=10).text
    handled = sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("grpc_server_handled_total{")
        and 'grpc_method="GetCampaign"' in line and 'grpc_code="OK"' in line
    )
    lines = [json.loads(line) for line in on.log.read_text().splitlines()
             if line.startswith("{")]
    rpc_lines = sum(1 for line in lines if line.get("msg") == "rpc"
                    and line.get("method") == "GetCampaign")
    ok = int(handled) == calls == rpc_lines
    return (f"Check: the 'on' gateway's scrape counts {int(handled):,} GetCampaign calls "
            f"handled OK and its log holds {rpc_lines:,} JSON rpc lines for them; calls made: "
            f"{calls:,} ({'consistent' if ok else 'INCONSISTENT'}).")


class _Context:
    """What ``RpcObserver`` reads of a finished GetCampaign's context."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return AUTH

    def code(self) -> None:
        return None

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-revox-cache", "hit"),)

    def time_remaining(self) -> None:
        return None


def _bookkeeping(log_dir: Path, repeat: int, number: int) -> dict[str, float]:
    """CPU µs per rpc of the interceptor's own work (request id, counters, histogram,
    cache result, the access line formatted and written to a file), text vs JSON,
    in this process: the structural part of the difference, without the machine's noise.
    It drives the observer's per-call steps directly (a bench may; production code not)."""
    from gateway.observability import JsonFormatter, Metrics
    from gateway.observability._logging import TextFormatter
    from gateway.observability.serving import RpcObserver

    service, method = "revox.campaigns.v1.CampaignService", "GetCampaign"
    timers: dict[str, Any] = {}
    for fmt in ("json", "text"):
        metrics = Metrics(shared=False)
        log = logging.getLogger(f"bench.observability.{fmt}")
        log.propagate = False
        handler = logging.FileHandler(log_dir / f"bookkeeping-{fmt}.log", mode="w")
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        log.handlers = [handler]
        log.setLevel(logging.INFO)
        observer = RpcObserver(metrics, tenant_of=lambda md: "f7348abd0eed3c4c9733e4c1404dee1f",
                               logged_services=(service,), logger=log)
        per_method = metrics.grpc.method("unary", service, method)
        context = _Context()

        def one(observer: Any = observer, m: Any = per_method, context: Any = context) -> None:
            rpc = observer._begin(m, service, method, logging.INFO, context)
            m.received.inc()
            rpc.sent = 1
            m.sent.inc()
            observer._end(rpc, context, None)

        timers[fmt] = timeit.Timer(one, timer=time.process_time)
    best: dict[str, list[float]] = {fmt: [] for fmt in timers}
    for _ in range(repeat):  # interleaved, like the rounds above
        for fmt, timer in timers.items():
            best[fmt].append(timer.timeit(number) / number * 1e6)
    return {**{fmt: min(v) for fmt, v in best.items()}, "number": float(number)}


def _profile_table(path: Path, label: str) -> str:
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "/gateway/observability/" in file or "/logging/" in file or "prometheus_client" in file:
            name = f"{file.split('site-packages/')[-1].replace(str(ROOT) + '/', '')}:{line}({func})"
            rows.append((ct, nc, tt, name))
    rows.sort(reverse=True)
    shown = [[name, str(nc), f"{tt:.3f}", f"{ct:.3f}"] for ct, nc, tt, name in rows[:16]]
    return (f"#### {label}: observability, logging and prometheus_client functions "
            f"(whole process life, cProfile)\n\n"
            + table(["function", "calls", "own s", "cum s"], shown))


def _report(plan: Plan, results: dict[str, Samples], sanity: str, book: dict[str, float],
            profiles: list[str]) -> SuiteResult:
    on, off = results["on"], results["off"]
    ratios = [a / b for a, b in zip(on.rps, off.rps, strict=True)]
    ratio = median(ratios)
    ok = ratio >= RATIO_TARGET
    # CPU the server spent per call, off/on per round: less exposed than wall-clock
    # throughput to what else the machine runs at that moment.
    cpu_ratios = [b / a for a, b in zip(on.cpu_us, off.cpu_us, strict=True)]

    def row(name: str, s: Samples) -> list[str]:
        return [name, f"{median(s.rps):,.0f}", f"{median(s.p50):.3f}", f"{median(s.p99):.3f}",
                f"{median(s.cpu_us):.0f}"]

    body = table(["gateway", "calls/s", "p50 ms", "p99 ms", "server CPU µs/call"],
                 [row("on: --metrics-listen, --log-format json", on),
                  row("off: no metrics port, text log lines", off)])
    markdown = (
        f"## Issue 17: cost of metrics and JSON logs\n\n"
        "Cached GetCampaign at concurrency 16 (one channel, 16 callers back to back) on two "
        "`python -m gateway serve` processes in front of one simulator, output to a file each, "
        "cache TTL 3600 s (every call a hit), rate cap lifted; both gateways pinned to CPU(s) "
        f"{sorted(SERVER_CPUS)}, the load generator to {sorted(CLIENT_CPUS)}. "
        "**on** = `--metrics-listen "
        "127.0.0.1:0 --log-format json`; **off** = no `--metrics-listen`, default "
        "`--log-format text`. The per-rpc log line and the `x-request-id` are always on (a "
        "feature, not an option), so off still writes one text line per call.\n\n"
        f"{plan.rounds} interleaved rounds (on/off, then off/on, ...) × {plan.calls:,} calls per "
        "gateway; medians over rounds (p50/p99: of each round's percentiles).\n\n"
        f"{body}\n\n"
        f"Ratio on/off (median of per-round ratios): **{ratio:.2f}×** (per round "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); ratio of medians "
        f"{median(on.rps) / median(off.rps):.2f}×; target ≥ {RATIO_TARGET}×: "
        f"**{'PASS' if ok else 'MISS'}**. The same comparison by server CPU per call (off / "
        f"on, median of per-round ratios): {median(cpu_ratios):.2f}× (per-round range "
        f"{min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}).\n\n{sanity}\n\n"
        "The interceptor's own work per rpc (request id, counters, histogram, cache result, "
        "the access line formatted and written to a file), driven in the load process, CPU "
        f"time, best of 5 interleaved × {int(book['number']):,}: **{book['json']:.1f} µs** "
        "with JSON lines, "
        f"**{book['text']:.1f} µs** with text lines (JSON − text: "
        f"{book['json'] - book['text']:+.1f} µs; the scrape port costs nothing until scraped)."
    )
    if profiles:
        markdown += ("\n\n### cProfile of both gateways (diagnostic; cProfile inflates "
                     "Python-heavy code)\n\n" + "\n\n".join(profiles))
    return SuiteResult(markdown, [(
        f"cached GetCampaign, metrics + JSON logs on ≥ {RATIO_TARGET}× off at concurrency "
        f"{CONCURRENCY}", ok, f"{ratio:.2f}×")])


def _pass(plan: Plan, profile_dir: Path | None) -> tuple[dict[str, Samples], str]:
    """Both gateways in front of one simulator, measured side by side."""
    with tempfile.TemporaryDirectory(prefix="revox-bench-obs-") as tmp_name, \
            ServerProcess("simulator") as sim, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        gws: dict[str, Gateway] = {}
        for name, flags in (("on", ("--metrics-listen", "127.0.0.1:0", "--log-format", "json")),
                            ("off", ())):
            profile = None if profile_dir is None else \
                profile_dir / f"profile-observability-{name}.pstats"
            gws[name] = stack.enter_context(_serving(
                Gateway(name, flags, tmp / f"{name}.log"), sim.info["simulator"],
                tmp / f"{name}.db", profile))
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, CLIENT_CPUS)
        try:
            return asyncio.run(_measure(plan, gws))  # the stack stops them: profiles written
        finally:
            os.sched_setaffinity(0, before)


def run(opts: Options) -> SuiteResult:
    plan = Plan.of(opts.quick)
    results, sanity = _pass(plan, None)
    with tempfile.TemporaryDirectory(prefix="revox-bench-obs-") as tmp:
        book = _bookkeeping(Path(tmp), repeat=5, number=20_000 if not opts.quick else 5_000)
    profiles: list[str] = []
    if opts.profile:  # a pass of its own: cProfile slows what it watches
        _pass(Plan.of(True), opts.profile_dir)
        profiles = [_profile_table(opts.profile_dir / f"profile-observability-{name}.pstats",
                                   name) for name in ("on", "off")]
    return _report(plan, results, sanity, book, profiles)
