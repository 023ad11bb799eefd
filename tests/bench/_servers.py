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

``--profile PATH`` (both kinds): SIGUSR1 starts cProfile, SIGUSR2 stops it (so only the
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
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
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
    from gateway.config import Settings
    from gateway.rpc import Gateway
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
            )
            async with Gateway(settings) as gateway:
                _announce(grpc=gateway.address, simulator=sim.base_url)
                await _until_sigterm()
                await gateway.stop(grace=1.0)


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
    parser.add_argument("kind", choices=("gateway", "echo"))
    parser.add_argument("--cache-ttl", type=float, default=3600.0)
    parser.add_argument("--payload", help="echo: file holding the serialized Campaign to answer")
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    run = _run_gateway if args.kind == "gateway" else _run_echo
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
