"""Server processes for the benchmarks, each in its own OS process.

The load generator (the ``python -m tests.bench`` process) never shares a
process, an event loop or a GIL with what it measures. Each server is started as
``python -m tests.bench._servers KIND ...``; it prints one JSON line (its
addresses and pid) on stdout once it is serving, and stops on SIGTERM.

Kinds:

``gateway``
    The production shape of ``revox-gateway serve --simulator``: the embedded
    simulator and the gateway in ONE process and one event loop (the gateway
    talks to the simulator over loopback HTTP). Differences from ``serve``: the
    simulator runs the ``manual`` clock (no background engine ticks, so rounds
    are comparable), the database is a fresh SQLite file in a temp directory,
    and ``--cache-ttl`` is set by the benchmark (long, so cache-hit rounds are
    all hits).

``echo``
    The ceiling: a bare ``grpc.aio`` server with one generic handler for
    ``/revox.campaigns.v1.CampaignService/GetCampaign`` that parses the request
    like the gateway (``GetCampaignRequest.FromString``) and answers fixed,
    pre-serialized ``Campaign`` bytes (identity response serializer).

``watch``
    The gateway as in ``gateway``, tuned for the watch benchmark: the poller
    polls only when told to (a huge ``--poll-interval``; each poll is a
    ``hub.poke``), so every poll cycle is one the benchmark asked for. It
    reads JSON commands on stdin and answers one JSON line each (see
    ``_run_watch``): ``create`` a campaign, ``step`` (advance simulated
    time to the next call event, poke, wait until the poll committed),
    ``stats`` (hub counters, simulator requests, RSS of this process).

``fanout``
    The ceiling of the watch fan-out: a bare ``grpc.aio`` server whose
    ``WatchCampaignRows`` handler parks each stream on its own queue and yields
    whatever is put there (pre-serialized bytes, identity serializer). Stdin
    commands: ``publish`` (one RowChange response with the current time as
    ``commit_time``, put on every stream's queue), ``gc``/``stats`` (RSS, streams).

``simulator``
    The simulator alone (manual clock), for benchmarks that drive a poller
    in their own process and need the upstream's CPU kept out of it.

``--profile PATH`` (gateway, echo and watch): SIGUSR1 starts cProfile, SIGUSR2 stops it (so only the
load window is profiled, not start-up); the pstats file is written to PATH on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GET_METHOD = "/revox.campaigns.v1.CampaignService/GetCampaign"
_MAX_MESSAGE = 64 * 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """``with ServerProcess("gateway") as s: s.info["grpc"]`` — a child server process."""

    def __init__(
        self, kind: str, *args: str, profile: Path | None = None, start_timeout: float = 60.0
    ):
        self.kind = kind
        self.argv = [sys.executable, "-m", "tests.bench._servers", kind, *args]
        if profile is not None:
            self.argv += ["--profile", str(profile)]
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.start_timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self._stop()
            raise RuntimeError(
                f"{self.kind} server did not start (exit code {self.proc.returncode})"
            )
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def command(self, **cmd: Any) -> dict[str, Any]:
        """One JSON command to a ``watch`` server and its JSON answer (blocking)."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.kind} server died (exit code {self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # after "pid (comm)": state=0 ... utime=11 stime=12 (0-based in this slice)
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK


# -- the child side ------------------------------------------------------------


# The benchmarks measure capacity with one API key: the per-key rate and stream caps of
# gateway.limits (what a production process enforces) would measure the caps instead.
_UNCAPPED: dict[str, Any] = {
    "rate_per_second": 1e9, "rate_burst": 10**9,
    "max_watch_streams_per_key": 10**6, "max_watch_streams": 10**6,
}


def _announce(**info: Any) -> None:
    print(json.dumps({"pid": os.getpid(), **info}), flush=True)


_profiler: Any = None


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if _profiler is not None:
        loop.add_signal_handler(signal.SIGUSR1, _profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, _profiler.disable)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run_gateway(args: argparse.Namespace) -> None:
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.simulator import Simulator, SimulatorConfig
    from gateway.store import sqlite_url

    with tempfile.TemporaryDirectory(prefix="revox-bench-") as tmp:
        async with Simulator(SimulatorConfig(seed=1, clock="manual")) as sim:
            settings = Settings(
                listen="127.0.0.1:0",
                upstream_url=sim.base_url,
                database_url=sqlite_url(Path(tmp) / "gateway.db"),
                cache_ttl=args.cache_ttl,
                shutdown_grace=1.0,
                **_UNCAPPED,
            )
            async with Gateway(settings) as gateway:
                _announce(grpc=gateway.address, simulator=sim.base_url)
                await _until_sigterm()
                await gateway.stop(grace=1.0)


async def _commands() -> AsyncIterator[dict[str, Any]]:
    """JSON commands read from stdin, one per line, until EOF or SIGTERM."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.ensure_future(_until_sigterm())
    try:
        while True:
            read = asyncio.ensure_future(reader.readline())
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop.done() or not read.result():
                read.cancel()
                return
            yield json.loads(read.result())
    finally:
        stop.cancel()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _run_watch(args: argparse.Namespace) -> None:
    import gc

    from gateway.app import Gateway, settle_collector
    from gateway.config import Settings
    from gateway.convert import create_body
    from gateway.simulator import Simulator, SimulatorConfig
    from gateway.store import sqlite_url
    from gateway.upstream import RevoxClient
    from tests.support import create_request

    with tempfile.TemporaryDirectory(prefix="revox-bench-") as tmp:
        config = SimulatorConfig(seed=1, clock="manual", ignore_windows=True)
        async with Simulator(config) as sim, RevoxClient(sim.base_url) as direct:
            settings = Settings(
                listen="127.0.0.1:0",
                upstream_url=sim.base_url,
                database_url=sqlite_url(Path(tmp) / "gateway.db"),
                shutdown_grace=1.0,
                poll_interval=3600.0,  # polls happen when the benchmark pokes
                max_poll_interval=3600.0,
                full_sweep_every=args.full_sweep_every,
                linger_seconds=0.5,
                **_UNCAPPED,
            )
            async with Gateway(settings) as gateway:
                if not args.stock_gc:
                    settle_collector()  # as `serve` does once started
                hub = gateway.watch
                _announce(grpc=gateway.address, simulator=sim.base_url)
                async for cmd in _commands():
                    op = cmd["op"]
                    out: dict[str, Any] = {}
                    if op == "create":
                        req = create_request(int(cmd["contacts"]), max_concurrent_calls=int(cmd["cap"]))
                        body = await direct.create_campaign(cmd["key"], create_body(req))
                        out["campaign_id"] = body["campaign"]["id"]
                    elif op == "step":
                        out.update(await _step(sim, hub, cmd["campaign_id"]))
                    elif op == "advance":
                        await sim.advance(float(cmd["seconds"]))
                    elif op == "gc":
                        gc.collect()
                    out.update(hub.stats(), sim_requests=sim.request_count, rss_kib=_rss_kib())
                    print(json.dumps(out), flush=True)
                await gateway.stop(grace=1.0)


async def _step(sim: Any, hub: Any, cid: str) -> dict[str, Any]:
    """Advance to the next call event(s) until a poll commits a new revision."""
    state = hub._campaigns[cid]  # the bench reads the hub's state; production code does not
    before = state.revision
    for _ in range(50):
        nxt = sim.engine.next_event_at()
        if nxt is None:
            break
        await sim.advance(max(0.0, nxt - sim.now()) + 0.001)
        polls = hub.stats()["polls"]
        hub.poke(cid)
        deadline = time.monotonic() + 30
        while hub.stats()["polls"] == polls and time.monotonic() < deadline:
            await asyncio.sleep(0.0005)
        if state.revision != before:
            break
    return {"revision": state.revision}


async def _run_fanout(args: argparse.Namespace) -> None:
    import gc

    import grpc

    from gateway.convert import decode
    from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
    from generated.revox.campaigns.v1 import row_pb2

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
    row = decode({"id": "row_1", "phone_number": "+33612340000", "call": {"status": "completed"}},
                 row_pb2.Row)
    revision = 1
    _announce(grpc=f"127.0.0.1:{port}")
    async for cmd in _commands():
        op = cmd["op"]
        if op == "publish":
            revision += 1
            msg = pb.WatchCampaignRowsResponse(resume_token=f"t{revision}", revision=revision,
                                               row_change=pb.RowChange(type=2, row=row))
            msg.commit_time.GetCurrentTime()
            data = msg.SerializeToString()
            for q in queues:
                q.put_nowait(data)
        elif op == "gc":
            gc.collect()
        print(json.dumps({"revision": revision, "subscribers": len(queues),
                          "rss_kib": _rss_kib()}), flush=True)
    await server.stop(1.0)


async def _run_simulator(args: argparse.Namespace) -> None:
    from gateway.simulator import Simulator, SimulatorConfig

    config = SimulatorConfig(seed=1, clock="manual", ignore_windows=True)
    async with Simulator(config) as sim:
        _announce(simulator=sim.base_url)
        await _until_sigterm()


async def _run_echo(args: argparse.Namespace) -> None:
    import grpc

    from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

    payload = Path(args.payload).read_bytes()

    async def get_campaign(request: Any, context: grpc.aio.ServicerContext) -> bytes:
        return payload

    handler = grpc.method_handlers_generic_handler(
        "revox.campaigns.v1.CampaignService",
        {
            "GetCampaign": grpc.unary_unary_rpc_method_handler(
                get_campaign,
                request_deserializer=pb.GetCampaignRequest.FromString,
                response_serializer=None,  # identity: the bytes go out as they are
            )
        },
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _announce(grpc=f"127.0.0.1:{port}")
    await _until_sigterm()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.bench._servers")
    parser.add_argument("kind", choices=("gateway", "echo", "watch", "fanout", "simulator"))
    parser.add_argument("--full-sweep-every", type=int, default=10)
    parser.add_argument("--stock-gc", action="store_true",
                        help="watch: keep Python's collector settings (serve settles them)")
    parser.add_argument("--cache-ttl", type=float, default=3600.0)
    parser.add_argument("--payload", help="echo: file holding the serialized Campaign to answer")
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    run = {
        "gateway": _run_gateway, "echo": _run_echo, "watch": _run_watch,
        "fanout": _run_fanout, "simulator": _run_simulator,
    }[args.kind]
    if args.profile is None:
        asyncio.run(run(args))
        return 0
    import cProfile

    global _profiler
    _profiler = cProfile.Profile(time.perf_counter)
    try:
        asyncio.run(run(args))
    finally:
        _profiler.disable()
        _profiler.dump_stats(str(args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
