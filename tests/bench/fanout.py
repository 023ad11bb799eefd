"""Fan-out at 1,000 subscribers, one process and ``serve --workers 2`` (issue 15).

Two parts, every server and every load generator in its own OS process:

* **CPU per event per subscriber.** The ``watch`` bench server (gateway + embedded
  simulator on a manual clock, one poll per step, seeded: every run replays the same
  revisions) and a bare ``grpc.aio`` fan-out server (``bare`` below: one queue per
  stream, pre-serialized bytes of the gateway's own message size). Each at 1 and at N
  subscribers; the server's utime+stime (``/proc/<pid>/stat``) over the delivery of E
  events is divided by the events delivered (E×N). The 1-subscriber run of the same
  server gives the per-revision cost that does not depend on subscribers (the poll, the
  simulator, the commit), so "marginal" = (CPU at N − CPU at 1) / (E × (N − 1)).
* **Commit → delivery at N subscribers**, ``revox-gateway serve`` as shipped (its own
  process; the simulator alone in another, manual clock advanced by this process at a
  fixed cadence), one process and ``--workers 2`` on a fresh PostgreSQL database (and
  SQLite WAL), against the bare server at the same cadence. Subscribers run in 1 or 2
  client processes (``client`` below), on fresh connections (a local subchannel pool per
  channel, so SO_REUSEPORT spreads them over the workers). Each client process also
  reports its own CPU use and its garbage-collector pauses, to show whose the tail is.

Children are this module run as ``python -m tests.bench.fanout {client,bare,watch}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import AUTH, KEY, Options, SuiteResult, median, percentile, table
from ._servers import ROOT, ServerProcess

__all__ = ["run"]

CPU_RATIO_TARGET = 1.3
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
STREAMS_PER_CHANNEL = 25  # 40 connections for 1,000 streams: enough for the kernel to spread
JOIN_TIMEOUT = 150.0  # seconds for N streams of the live part to have their snapshot


@dataclass(frozen=True)
class Plan:
    n: int  # subscribers
    cpu_steps: int  # poll steps (gateway) / publishes (bare) in the CPU part
    live_steps: int  # simulator advances (or publishes) in the latency part
    cadence: float  # seconds between two of them
    contacts: int  # the latency part's campaign
    cap: int
    sqlite_workers: bool
    cpu_contacts: int = 40  # the CPU part's campaign: the `watch` suite's
    cpu_cap: int = 4

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(n=100, cpu_steps=8, live_steps=8, cadence=0.5, contacts=40, cap=4,
                       sqlite_workers=False)
        return cls(n=1000, cpu_steps=40, live_steps=30, cadence=1.0, contacts=40, cap=4,
                   sqlite_workers=True)


# ======================================================================================
# children
# ======================================================================================


class _Collector:
    """The subscriber side of one client process: N streams and what they received."""

    def __init__(self, address: str, campaign_id: str, streams: int) -> None:
        self.address = address
        self.cid = campaign_id
        self.streams = streams
        self.snapshotted = 0
        self.last_rev: list[int] = [-1] * streams
        self.latencies_ms: list[float] = []
        self.reached: dict[int, int] = defaultdict(int)
        self.last_at: dict[int, float] = {}
        self.commit: dict[int, float] = {}
        self.live = 0
        self.size = 0
        self.errors: list[str] = []
        self.rejoins = 0
        self.gc_pauses_ms: list[float] = []
        self._gc_start = 0.0
        self.recording = True

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self.recording and info.get("generation") == 2:
            self.gc_pauses_ms.append((time.perf_counter() - self._gc_start) * 1e3)

    async def run(self, stop: asyncio.Event) -> None:
        import grpc

        from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

        gc.callbacks.append(self._on_gc)
        channels = []
        tasks = []
        for i in range(self.streams):
            if i % STREAMS_PER_CHANNEL == 0:
                channels.append(grpc.aio.insecure_channel(
                    self.address, options=[("grpc.use_local_subchannel_pool", 1)]))
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channels[-1])
            tasks.append(asyncio.create_task(self._consume(i, stub)))
        try:
            await stop.wait()
        finally:
            self.recording = False
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for ch in channels:
                await ch.close()

    async def _consume(self, i: int, stub: Any) -> None:
        import grpc

        from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

        for attempt in range(3):
            call = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=self.cid),
                                          metadata=AUTH)
            try:
                async for m in call:
                    now = time.time()
                    kind = m.WhichOneof("event")
                    if kind == "snapshot_complete":
                        self.last_rev[i] = m.revision
                        self.snapshotted += 1
                    elif kind == "row_change" and not m.row_change.in_snapshot:
                        commit = m.commit_time.ToNanoseconds() / 1e9
                        self.latencies_ms.append((now - commit) * 1e3)
                        self.live += 1
                        if not self.size:
                            self.size = m.ByteSize()
                        if m.revision != self.last_rev[i]:
                            self.last_rev[i] = m.revision
                            self.reached[m.revision] += 1
                            self.commit[m.revision] = commit
                        self.last_at[m.revision] = now  # the last message of it, so far
            except asyncio.CancelledError:
                call.cancel()
                raise
            except grpc.aio.AioRpcError as exc:
                if self.last_rev[i] < 0 and attempt < 2:  # refused while joining: again
                    self.rejoins += 1
                    continue
                self.errors.append(f"{exc.code().name}: {exc.details()}")
            return

    def status(self) -> dict[str, Any]:
        return {
            "snapshotted": self.snapshotted,
            "min_rev": min(self.last_rev) if self.last_rev else -1,
            "live": self.live,
            "cpu_s": time.process_time(),
            "errors": self.errors[:3],
            "rejoins": self.rejoins,
        }

    def result(self) -> dict[str, Any]:
        return {
            **self.status(),
            "latencies_ms": self.latencies_ms,
            "revisions": {str(r): [n, self.commit[r], self.last_at[r]]
                          for r, n in self.reached.items()},
            "size": self.size,
            "gc2_ms": self.gc_pauses_ms,
        }


async def _client(args: argparse.Namespace) -> None:
    from ._servers import _announce, _commands

    col = _Collector(args.address, args.campaign, args.streams)
    stop = asyncio.Event()
    runner = asyncio.create_task(col.run(stop))
    _announce(client=args.streams)
    async for cmd in _commands():
        if cmd["op"] == "status":
            print(json.dumps(col.status()), flush=True)
        elif cmd["op"] == "mark":  # the measured window starts: forget the GC pauses so far
            col.gc_pauses_ms.clear()
            print(json.dumps(col.status()), flush=True)
        elif cmd["op"] == "stop":
            out = col.result()
            stop.set()
            await runner
            print(json.dumps(out), flush=True)
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


def _bare_message(size: int, revision: int) -> bytes:
    """A RowChange response of ``size`` bytes (the row's id padded), ``commit_time`` now."""
    from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
    from generated.revox.campaigns.v1 import row_pb2

    def build(pad: int) -> Any:
        row = row_pb2.Row(id="row_" + "x" * pad, phone_number="+33612340000")
        msg = pb.WatchCampaignRowsResponse(resume_token=f"t{revision}", revision=revision,
                                           row_change=pb.RowChange(type=2, row=row))
        msg.commit_time.GetCurrentTime()
        return msg

    pad = 0
    msg = build(pad)
    while msg.ByteSize() < size:
        pad += max(1, size - msg.ByteSize())
        msg = build(pad)
    return bytes(msg.SerializeToString())


async def _bare(args: argparse.Namespace) -> None:
    """The ceiling: ``_servers``' bare fan-out, with a message size and a count per publish."""
    import grpc

    from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

    from ._servers import _announce, _commands, _rss_kib

    queues: set[asyncio.Queue[bytes]] = set()
    snapshot_done = pb.WatchCampaignRowsResponse(
        resume_token="t", revision=1, snapshot_complete=pb.SnapshotComplete()
    ).SerializeToString()

    async def watch(request: Any, context: Any) -> Any:
        q: asyncio.Queue[bytes] = asyncio.Queue()
        queues.add(q)
        try:
            yield snapshot_done
            while True:
                yield await q.get()
        finally:
            queues.discard(q)

    handler = grpc.method_handlers_generic_handler(
        "revox.campaigns.v1.CampaignService",
        {"WatchCampaignRows": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=pb.WatchCampaignRowsRequest.FromString,
            response_serializer=None)},
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    revision = 1
    _announce(grpc=f"127.0.0.1:{port}")
    async for cmd in _commands():
        if cmd["op"] == "publish":
            revision += 1
            for _ in range(int(cmd.get("events", 1))):
                data = _bare_message(int(cmd.get("size", 64)), revision)
                for q in queues:
                    q.put_nowait(data)
        elif cmd["op"] == "gc":
            gc.collect()
        print(json.dumps({"revision": revision, "subscribers": len(queues),
                          "rss_kib": _rss_kib()}), flush=True)
    await server.stop(1.0)


def _watch(args: argparse.Namespace) -> int:
    """``_servers``' ``watch`` server, plus its generation-2 GC pauses and its tracked
    objects at each ``gc`` command, written at exit. It settles the collector once started
    as ``serve`` does (``gateway.app.settle_collector``); ``--stock-gc`` keeps Python's
    settings instead, to show what that is worth."""
    from . import _servers

    pauses: list[tuple[float, float, float]] = []  # (when it ended, wall ms, CPU ms)
    objects: list[int] = []
    started = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter(), time.process_time()]
        elif info.get("generation") == 2:
            pauses.append((time.time(), (time.perf_counter() - started[0]) * 1e3,
                           (time.process_time() - started[1]) * 1e3))

    gc.callbacks.append(on_gc)
    collect = gc.collect

    def counted_collect(generation: int = 2) -> int:
        found = collect(generation)
        objects.append(len(gc.get_objects()) + gc.get_freeze_count())
        return found

    gc.collect = counted_collect
    try:
        argv = (["watch"] + (["--profile", args.profile] if args.profile else [])
                + (["--stock-gc"] if args.stock_gc else []))
        return _servers.main(argv)
    finally:
        if args.gc_out:
            Path(args.gc_out).write_text(json.dumps({"pauses": pauses, "objects": objects}))


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests.bench.fanout")
    sub = parser.add_subparsers(dest="kind", required=True)
    c = sub.add_parser("client")
    c.add_argument("--address", required=True)
    c.add_argument("--campaign", required=True)
    c.add_argument("--streams", type=int, required=True)
    sub.add_parser("bare")
    w = sub.add_parser("watch")
    w.add_argument("--gc-out")
    w.add_argument("--profile")
    w.add_argument("--stock-gc", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "watch":
        return _watch(args)
    asyncio.run(_client(args) if args.kind == "client" else _bare(args))
    return 0


# ======================================================================================
# the load generator's side
# ======================================================================================


def _child_process(*argv: str) -> ServerProcess:
    proc = ServerProcess("fanout-child", start_timeout=120)
    proc.argv = [sys.executable, "-m", "tests.bench.fanout", *argv]
    proc.kind = f"fanout {argv[0]}"
    return proc


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _until(check: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)


class Clients:
    """``k`` subscriber processes sharing ``n`` streams to ``address``."""

    def __init__(self, address: str, campaign_id: str, n: int, k: int) -> None:
        self.n = n
        share = [n // k + (1 if i < n % k else 0) for i in range(k)]
        self.procs = [_child_process("client", "--address", address, "--campaign", campaign_id,
                                     "--streams", str(s)) for s in share if s]
        self._stack = contextlib.ExitStack()
        self._cpu0 = [0.0] * len(self.procs)

    def __enter__(self) -> Clients:
        for p in self.procs:
            self._stack.enter_context(p)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def status(self, op: str = "status") -> list[dict[str, Any]]:
        out = [p.command(op=op) for p in self.procs]
        if op == "mark":  # the measured window starts: the clients' CPU is counted from here
            self._cpu0 = [s["cpu_s"] for s in out]
        errors = [e for s in out for e in s["errors"]]
        if errors:
            raise RuntimeError(f"a subscriber failed: {errors[0]}")
        return out

    def joined(self, timeout: float = 300) -> None:
        _until(lambda: sum(s["snapshotted"] for s in self.status()) >= self.n, timeout,
               f"{self.n} subscribers to join", every=0.2)

    def min_rev(self) -> int:
        return min(s["min_rev"] for s in self.status())

    def stop(self) -> dict[str, Any]:
        parts = [p.command(op="stop") for p in self.procs]
        revs: dict[int, list[Any]] = {}
        for part in parts:
            for r, (n, commit, last) in part["revisions"].items():
                have = revs.setdefault(int(r), [0, commit, last])
                have[0] += n
                have[2] = max(have[2], last)
        return {
            "latencies_ms": [x for p in parts for x in p["latencies_ms"]],
            # per revision reached by every subscriber: commit -> its last message, anywhere
            "last_ms": {r: (last - commit) * 1e3 for r, (n, commit, last) in revs.items()
                        if n >= self.n},
            "rev_times": {r: (commit, last) for r, (n, commit, last) in revs.items()},
            "live": sum(p["live"] for p in parts),
            "size": max(p["size"] for p in parts),
            "client_cpu_s": [p["cpu_s"] - c for p, c in zip(parts, self._cpu0, strict=True)],
            "gc2_ms": [x for p in parts for x in p["gc2_ms"]],
            "rejoins": sum(p["rejoins"] for p in parts),
        }


# -- part 1: CPU per event per subscriber --------------------------------------------


@dataclass
class CpuRun:
    server: str
    n: int
    k: int
    revisions: int = 0
    events: int = 0  # live messages per subscriber
    cpu_s: float = 0.0
    wall_s: float = 0.0
    window_start: float = 0.0
    window_end: float = 0.0
    size: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    last_ms: dict[int, float] = field(default_factory=dict)
    client_cpu_s: list[float] = field(default_factory=list)
    client_gc2_ms: list[float] = field(default_factory=list)
    server_gc2: list[tuple[float, float, float]] = field(default_factory=list)
    objects: list[int] = field(default_factory=list)  # tracked, before and after the join
    rev_times: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def per_event_us(self) -> float:
        return self.cpu_s / max(1, self.events * self.n) * 1e6


def _cpu_gateway(plan: Plan, n: int, k: int, tmp: Path, *, stock_gc: bool = False) -> CpuRun:
    out = CpuRun("gateway" + (" (Python's default collector settings)" if stock_gc else ""), n, k)
    gc_file = tmp / f"gc-{n}-{stock_gc}.json"
    extra = ["--stock-gc"] if stock_gc else []
    with _child_process("watch", "--gc-out", str(gc_file), *extra) as srv:
        cid = srv.command(op="create", contacts=plan.cpu_contacts, cap=plan.cpu_cap,
                          key=KEY)["campaign_id"]
        srv.command(op="advance", seconds=5)
        srv.command(op="gc")  # counts the objects before any subscriber
        with Clients(srv.info["grpc"], cid, n, k) as subs:
            subs.joined()
            srv.command(op="gc")
            subs.status("mark")
            out.window_start = time.time()
            cpu0, t0 = srv.cpu_seconds(), time.perf_counter()
            last = -1
            for _ in range(plan.cpu_steps):
                rev = srv.command(op="step", campaign_id=cid)["revision"]
                if rev > last:
                    _until(lambda r=rev: subs.min_rev() >= r, 120, f"revision {rev}")
                    last = rev
                    out.revisions += 1
            out.cpu_s = srv.cpu_seconds() - cpu0
            out.wall_s = time.perf_counter() - t0
            out.window_end = time.time()
            got = subs.stop()
    _fill(out, got, n)
    if gc_file.exists():
        written = json.loads(gc_file.read_text())
        out.server_gc2 = [(a, b, c) for a, b, c in written["pauses"]  # in the window only
                          if out.window_start <= a <= out.window_end]
        out.objects = written["objects"][:2]
    return out


def _cpu_bare(plan: Plan, n: int, k: int, revisions: int, events: int, size: int) -> CpuRun:
    """The same number of revisions and events per subscriber, the same message size."""
    out = CpuRun("bare grpc.aio", n, k)
    with _child_process("bare") as srv:
        with Clients(srv.info["grpc"], "bare", n, k) as subs:
            subs.joined()
            srv.command(op="gc")
            subs.status("mark")
            cpu0, t0 = srv.cpu_seconds(), time.perf_counter()
            per = [events // revisions + (1 if i < events % revisions else 0)
                   for i in range(revisions)]
            for e in per:
                rev = srv.command(op="publish", events=e, size=size)["revision"]
                _until(lambda r=rev: subs.min_rev() >= r, 120, f"revision {rev}")
                out.revisions += 1
            out.cpu_s = srv.cpu_seconds() - cpu0
            out.wall_s = time.perf_counter() - t0
            got = subs.stop()
    _fill(out, got, n)
    return out


def _fill(out: CpuRun, got: dict[str, Any], n: int) -> None:
    out.events = got["live"] // n
    out.size = got["size"]
    out.latencies_ms = got["latencies_ms"]
    out.last_ms = got["last_ms"]
    out.client_cpu_s = got["client_cpu_s"]
    out.client_gc2_ms = got["gc2_ms"]
    out.rev_times = got["rev_times"]


# -- part 2: commit -> delivery, one process and --workers 2 ---------------------------


@dataclass
class LiveRun:
    label: str
    k: int
    n: int
    latencies_ms: list[float] = field(default_factory=list)
    last_ms: dict[int, float] = field(default_factory=dict)
    connections: dict[int, int] = field(default_factory=dict)  # server pid -> connections
    server_cpu_s: dict[int, float] = field(default_factory=dict)
    client_cpu_s: list[float] = field(default_factory=list)
    client_gc2_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    live: int = 0
    rejoins: int = 0
    failed: str = ""  # why nothing was measured (the subscribers did not all join)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _socket_owners(port: int, state: str) -> dict[int, int]:
    """pid -> sockets on ``port`` in ``state`` (listening / established, server side)."""
    out = subprocess.run(["ss", "-tnpH", "state", state, f"( sport = :{port} )"],
                         capture_output=True, text=True, check=False).stdout
    owners: dict[int, int] = defaultdict(int)
    for line in out.splitlines():
        for part in line.split("pid=")[1:]:
            owners[int(part.split(",", 1)[0])] += 1
    return dict(owners)


@contextlib.contextmanager
def _simulator() -> Any:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulator", "--listen", f"127.0.0.1:{port}",
         "--clock", "manual", "--seed", "1", "--ignore-windows"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        def up() -> bool:
            try:
                return httpx.get(url + "/_simulator/state", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _until(up, 60, "the simulator", every=0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@contextlib.contextmanager
def _gateway(upstream: str, database: str, workers: int, log: Path) -> Any:
    port = _free_port()
    cmd = [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
           "--upstream-url", upstream, "--database", database, "--workers", str(workers),
           "--poll-interval", "0.1", "--max-poll-interval", "0.1",
           "--max-watch-streams-per-key", "100000", "--max-watch-streams", "100000",
           "--shutdown-grace", "1", "--log-level", "WARNING", "--metrics-listen", "off"]
    mig = subprocess.run([sys.executable, "-m", "gateway", "migrate", "--database", database],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if mig.returncode != 0:
        raise RuntimeError(f"migrate failed: {mig.stderr.strip()[-300:]}")
    err = log.open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        _until(lambda: proc.poll() is not None or len(_socket_owners(port, "listening")) >= workers,
               90, "the gateway's workers to listen", every=0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {log.read_text()[-500:]}")
        yield f"127.0.0.1:{port}", port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


def _create(address: str, plan: Plan) -> str:
    import grpc

    from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
    from tests.support import create_request

    with grpc.insecure_channel(address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        resp = stub.CreateCampaign(
            create_request(plan.contacts, max_concurrent_calls=plan.cap), metadata=AUTH,
            timeout=60)
        return str(resp.id)


def _live_gateway(plan: Plan, label: str, upstream: str, database: str, workers: int,
                  k: int, log: Path) -> LiveRun:
    import httpx

    out = LiveRun(label, k, plan.n)
    with _gateway(upstream, database, workers, log) as (address, port):
        cid = _create(address, plan)
        httpx.post(upstream + "/_simulator/advance", json={"seconds": 5}, timeout=30)
        with Clients(address, cid, plan.n, k) as subs:
            try:
                subs.joined(JOIN_TIMEOUT)
            except RuntimeError:
                joined = sum(s["snapshotted"] for s in subs.status())
                owners = _socket_owners(port, "established")
                out.connections = owners
                out.failed = (
                    f"only {joined:,} of {plan.n:,} streams had their snapshot after "
                    f"{JOIN_TIMEOUT:.0f} s (connections per worker: "
                    f"{' / '.join(str(c) for c in owners.values())}, "
                    f"{STREAMS_PER_CHANNEL} streams each)")
                return out
            out.connections = _socket_owners(port, "established")
            c0 = {pid: _cpu_of(pid) for pid in out.connections}
            subs.status("mark")
            t0 = time.perf_counter()
            for _ in range(plan.live_steps):
                httpx.post(upstream + "/_simulator/advance", json={"seconds": 10}, timeout=30)
                time.sleep(plan.cadence)  # the cadence of the load, not a synchronisation
            time.sleep(1.0)  # let the last revision reach everyone (followers poll 0.2 s)
            out.wall_s = time.perf_counter() - t0
            out.server_cpu_s = {pid: _cpu_of(pid) - c for pid, c in c0.items()}
            got = subs.stop()
    _fill_live(out, got)
    return out


def _live_bare(plan: Plan, k: int, size: int, per_step: list[int]) -> LiveRun:
    out = LiveRun("bare grpc.aio, 1 process", k, plan.n)
    with _child_process("bare") as srv, Clients(srv.info["grpc"], "bare", plan.n, k) as subs:
        subs.joined()
        out.connections = {srv.pid: plan.n // STREAMS_PER_CHANNEL}
        c0 = srv.cpu_seconds()
        subs.status("mark")
        t0 = time.perf_counter()
        for events in per_step:
            if events:
                srv.command(op="publish", events=events, size=size)
            time.sleep(plan.cadence)  # the cadence of the load, not a synchronisation
        time.sleep(1.0)
        out.wall_s = time.perf_counter() - t0
        out.server_cpu_s = {srv.pid: srv.cpu_seconds() - c0}
        got = subs.stop()
    _fill_live(out, got)
    return out


def _fill_live(out: LiveRun, got: dict[str, Any]) -> None:
    out.latencies_ms = got["latencies_ms"]
    out.last_ms = got["last_ms"]
    out.client_cpu_s = got["client_cpu_s"]
    out.client_gc2_ms = got["gc2_ms"]
    out.live = got["live"]
    out.rejoins = got["rejoins"]


@contextlib.contextmanager
def _pg_database() -> Any:
    name = f"fanout_bench_{os.getpid()}_{int(time.time())}"
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql not found")
    subprocess.run([psql, PG_ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    try:
        yield PG_URL.format(db=name)
    finally:
        subprocess.run([psql, PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       check=False, capture_output=True)


# -- Markdown ------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.1f}" if values else "-"


def _cpu_section(runs: list[CpuRun]) -> tuple[str, list[tuple[str, bool, str]]]:
    by = {(r.server, r.n): r for r in runs}
    rows = []
    for r in runs:
        one = by.get((r.server.split(" (")[0], 1))
        marginal = f"{_marginal(r, one):.1f}" if one is not None and r.n > 1 else "-"
        rows.append([
            r.server, f"{r.n:,}", str(r.k), str(r.revisions), str(r.events), str(r.size),
            f"{r.cpu_s * 1e3:.0f}", f"{r.cpu_s / max(1, r.revisions) * 1e3:.1f}",
            f"{r.per_event_us:.1f}", marginal,
            _ms(r.latencies_ms, 50), _ms(r.latencies_ms, 99),
            f"{median(list(r.last_ms.values())):.1f}" if r.last_ms else "-",
        ])
    md = table(["server", "subscribers", "client processes", "revisions",
                "events / subscriber", "message bytes", "server CPU ms", "CPU ms / revision",
                "CPU µs / event / subscriber", "marginal µs (minus 1-subscriber run)",
                "commit→delivery p50 ms", "p99 ms", "last subscriber p50 ms"], rows)
    verdicts = []
    top = max(r.n for r in runs)
    gw, bare = by.get(("gateway", top)), by.get(("bare grpc.aio", top))
    if gw is not None and bare is not None:
        mg, mb, ratio = _marginals(runs)
        raw = gw.per_event_us / bare.per_event_us if bare.per_event_us else float("inf")
        verdicts.append((
            f"server CPU per event per subscriber at {top:,} subscribers ≤ {CPU_RATIO_TARGET}× "
            "the bare grpc.aio fan-out", ratio <= CPU_RATIO_TARGET,
            f"gateway {mg:.1f} µs against bare {mb:.1f} µs = {ratio:.2f}× (marginal: the "
            f"1-subscriber run's per-revision CPU taken off); all server CPU / (E×N): "
            f"{gw.per_event_us:.1f} against {bare.per_event_us:.1f} µs = {raw:.2f}×"))
    return md, verdicts


def _live_section(runs: list[LiveRun]) -> str:
    rows = []
    for r in runs:
        if r.failed:
            rows.append([r.label, str(r.k), f"{r.n:,}", f"not measured: {r.failed}"]
                        + ["-"] * 11)
            continue
        total = sum(r.connections.values()) or 1
        spread = " / ".join(f"{c}" for c in sorted(r.connections.values(), reverse=True))
        last = sorted(r.last_ms.values())
        client = ", ".join(f"{c / r.wall_s * 100:.0f}%" for c in r.client_cpu_s) if r.wall_s else "-"
        rows.append([
            r.label, str(r.k), f"{r.n:,}", spread if total else "-",
            str(len(r.last_ms)), f"{r.live / max(1, r.n * len(r.last_ms)):.1f}",
            _ms(r.latencies_ms, 50), _ms(r.latencies_ms, 90),
            _ms(r.latencies_ms, 99), f"{median(last):.1f}" if last else "-",
            f"{last[-1]:.1f}" if last else "-",
            " + ".join(f"{c:.1f}" for c in r.server_cpu_s.values()),
            client,
            f"{len(r.client_gc2_ms)} / {max(r.client_gc2_ms, default=0):.0f}",
            str(r.rejoins),
        ])
    return table(["server", "client processes", "subscribers", "connections per server process",
                  "revisions", "events / revision", "commit→delivery p50 ms", "p90 ms", "p99 ms",
                  "last subscriber p50 ms", "slowest revision ms", "server CPU s",
                  "client CPU (of one core)", "client gen-2 GCs / longest ms",
                  "streams re-opened while joining"], rows)


def _gc_during(run: CpuRun, rev: int) -> str:
    """The server's full collection that overlapped ``rev``'s delivery, if any."""
    commit, last = run.rev_times.get(rev, (0.0, 0.0))
    hits = [p for p in run.server_gc2 if p[0] >= commit and p[0] - p[1] / 1e3 <= last]
    return f" (gen-2 GC {hits[0][2]:.0f} ms CPU during it)" if hits else ""


def _tail_notes(cpu: list[CpuRun]) -> str:
    """The slowest revisions of the gateway runs, and the full collections during them."""
    lines = []
    for gw in (r for r in cpu if r.server.startswith("gateway") and r.n > 1):
        slow = sorted(gw.last_ms.items(), key=lambda kv: kv[1], reverse=True)[:5]
        pauses = sorted(gw.server_gc2, key=lambda p: p[1], reverse=True)
        objects = " → ".join(f"{o:,}" for o in gw.objects)
        lines += [
            f"- {gw.server} at {gw.n:,} subscribers: tracked objects before → after the "
            f"join {objects}; {len(gw.server_gc2)} generation-2 collection(s) in the window"
            + (": " + ", ".join(f"{p[1]:.0f} ms wall / {p[2]:.0f} ms CPU" for p in pauses[:5])
               if pauses else "")
            + f"; the client processes had {len(gw.client_gc2_ms)}. Slowest revisions (until "
            "the last subscriber had it): "
            + ", ".join(f"r{r} {ms:.0f} ms{_gc_during(gw, r)}" for r, ms in slow),
        ]
    return "\n".join(lines)


# -- entry ---------------------------------------------------------------------------


_CPU_HEADING = ("Server CPU per event per subscriber (the `watch` bench server and a bare "
                "grpc.aio fan-out, same events and message size)")


def _cpu_round(plan: Plan, tmp: Path, log: Any, label: str) -> list[CpuRun]:
    """The gateway and the bare server at 1 and N subscribers (and the gateway with
    Python's default collector settings), one after the other."""
    log(f"CPU{label}: gateway, 1 subscriber")
    g1 = _cpu_gateway(plan, 1, 1, tmp)
    log(f"CPU{label}: gateway, {plan.n} subscribers")
    gn = _cpu_gateway(plan, plan.n, 2, tmp)
    log(f"CPU{label}: gateway with Python's default collector settings, {plan.n} subscribers")
    gf = _cpu_gateway(plan, plan.n, 2, tmp, stock_gc=True)
    log(f"CPU{label}: bare, 1 subscriber")
    b1 = _cpu_bare(plan, 1, 1, gn.revisions, gn.events, gn.size)
    log(f"CPU{label}: bare, {plan.n} subscribers")
    bn = _cpu_bare(plan, plan.n, 2, gn.revisions, gn.events, gn.size)
    return [g1, gn, gf, b1, bn]


def _marginal(r: CpuRun, one: CpuRun | None) -> float:
    """CPU µs per event per subscriber, the 1-subscriber run's per-revision CPU taken off."""
    if one is None:
        return r.per_event_us
    return ((r.cpu_s - one.cpu_s / max(1, one.revisions) * r.revisions)
            / max(1, r.events * (r.n - 1)) * 1e6)


def _marginals(cpu: list[CpuRun]) -> tuple[float, float, float]:
    """The gateway's and the bare server's marginal µs at the largest N, and their ratio."""
    by = {(r.server, r.n): r for r in cpu}
    top = max(r.n for r in cpu)
    mg = _marginal(by[("gateway", top)], by.get(("gateway", 1)))
    mb = _marginal(by[("bare grpc.aio", top)], by.get(("bare grpc.aio", 1)))
    return mg, mb, mg / mb if mb > 0 else float("inf")


def _ratio(cpu: list[CpuRun]) -> float:
    return _marginals(cpu)[2]


def _run(opts: Options, cpu_rounds: int = 1, cpu_only: bool = False) -> SuiteResult:
    plan = Plan.of(opts.quick)
    log = lambda s: print(f"[fanout] {s}", file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="revox-fanout-") as tmp_:
        tmp = Path(tmp_)
        rounds: list[tuple[float, list[CpuRun]]] = []
        for i in range(max(1, cpu_rounds)):
            cpu = _cpu_round(plan, tmp, log, f" (round {i + 1} of {cpu_rounds})")
            rounds.append((_ratio(cpu), cpu))
        # The table is the round of the median ratio; every round's ratio is listed.
        ranked = sorted(rounds, key=lambda r: r[0])
        cpu = ranked[(len(ranked) - 1) // 2][1]
        size = next(r.size for r in cpu if (r.server, r.n) == ("gateway", plan.n))
        cpu_md, verdicts = _cpu_section(cpu)
        cpu_md += ("\n\nMarginal ratio, gateway against bare, per round in the order run: "
                   + ", ".join(f"{r:.2f}×" for r, _ in rounds)
                   + f" (the table: the median round, {_ratio(cpu):.2f}×).")
        log("CPU part:\n" + cpu_md + "\n" + _tail_notes(cpu))  # kept if a later part fails
        if cpu_only:
            return SuiteResult(
                f"## Fan-out at {plan.n:,} subscribers: {_CPU_HEADING}\n\n" + cpu_md
                + "\n\n" + _tail_notes(cpu), verdicts)

        live: list[LiveRun] = []
        with _simulator() as upstream, _pg_database() as pg:
            for label, workers, k in (("gateway, 1 process (PostgreSQL)", 1, 1),
                                      ("gateway, 1 process (PostgreSQL)", 1, 2),
                                      ("gateway, --workers 2 (PostgreSQL)", 2, 2)):
                log(f"live: {label}, {k} client processes")
                live.append(_live_gateway(plan, label, upstream, pg, workers, k,
                                          tmp / f"gateway-{workers}-{k}.log"))
                log(_live_section(live[-1:]))
            if plan.sqlite_workers:
                db = f"sqlite+aiosqlite:///{tmp / 'workers.db'}"
                log("live: gateway --workers 2 (SQLite)")
                live.append(_live_gateway(plan, "gateway, --workers 2 (SQLite)", upstream, db,
                                          2, 2, tmp / "gateway-sqlite.log"))
                log(_live_section(live[-1:]))
        # The bare server gets as many events per subscriber as the one-process gateway
        # delivered, over as many publishes as there were advances.
        total = max(1, live[1].live // plan.n)
        steps = plan.live_steps
        per_step = [total // steps + (1 if i < total % steps else 0) for i in range(steps)]
        for k in (1, 2):
            log(f"live: bare, {k} client processes")
            live.append(_live_bare(plan, k, size, per_step))
            log(_live_section(live[-1:]))
    one = next(r for r in live if r.label.startswith("gateway, 1") and r.k == 2)
    two = next(r for r in live if "--workers 2 (PostgreSQL)" in r.label)
    verdicts.append((
        f"commit→delivery at {plan.n:,} subscribers, --workers 2 against one process "
        "(PostgreSQL, 2 client processes)",
        not two.failed and percentile(two.latencies_ms, 99) <= percentile(one.latencies_ms, 99),
        two.failed if two.failed else
        f"p50 {_ms(two.latencies_ms, 50)} / p99 {_ms(two.latencies_ms, 99)} ms against "
        f"p50 {_ms(one.latencies_ms, 50)} / p99 {_ms(one.latencies_ms, 99)} ms"))
    md = (
        f"## Fan-out at {plan.n:,} subscribers, one process and --workers 2\n\n"
        f"### {_CPU_HEADING}\n\n" + cpu_md + "\n\n"
        + _tail_notes(cpu) + "\n\n"
        f"### Commit → delivery: `serve` and `serve --workers 2` ({plan.live_steps} simulator "
        f"advances, one every {plan.cadence} s; poll interval 0.1 s)\n\n" + _live_section(live)
    )
    return SuiteResult(md, verdicts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fanout-rounds", type=int, default=1,
                        help="fanout: rounds of the CPU part (the median round is reported)")
    parser.add_argument("--fanout-cpu-only", action="store_true",
                        help="fanout: the CPU part only (no commit→delivery part)")


def run(opts: Options, args: argparse.Namespace | None = None) -> SuiteResult:
    if args is None:
        return _run(opts)
    return _run(opts, cpu_rounds=args.fanout_rounds, cpu_only=args.fanout_cpu_only)


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
