"""``python -m tests.reliability.faults``: the idempotent-create fault matrix, from a real run.

For each fault (upstream 5xx, 429, dropped connections, unreadable answers, latency past
the caller's deadline, and the gateway killed with SIGKILL while a create is at the
upstream), N creates, each with its own ``request_id``, are retried by a client the way
the README asks (same ``request_id``, up to ``--attempts`` times) against a real gateway
and the simulator, and the table says per fault: creates attempted, POSTs that reached the
upstream, campaigns created, duplicated (more than one campaign for one request),
reconciled (an unknown outcome answered with the campaign found upstream), left unknown
(still ``CREATE_OUTCOME_UNKNOWN`` after the last attempt) and failed otherwise.

The client honours RetryInfo (up to 5 s) between attempts. The gateway runs with
``--reconcile-grace`` 2 s (``--grace``), above the 1 s the latency fault holds a create
before the simulator commits it; one row runs the latency fault with grace 0 to show the
remaining risk the grace guards against: an upstream that commits a create after the
window, once a retry has created it again, makes a duplicate.
The in-process rows use ``gateway.app.Gateway``; the kill -9 row runs ``python -m gateway
serve`` as a child process and kills it while its create is at the upstream, ``--kills``
times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from google.rpc import error_details_pb2

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request, detail, error_info, simulator

__all__ = ["Row", "main", "run_matrix"]

Stub = campaign_service_pb2_grpc.CampaignServiceStub
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass
class Row:
    fault: str
    attempted: int = 0
    posts: int = 0
    created: int = 0
    duplicated: int = 0
    reconciled: int = 0
    unknown: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        seen = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "-"
        return (f"| {self.fault} | {self.attempted} | {self.posts} | {self.created} | "
                f"{self.duplicated} | {self.reconciled} | {self.unknown} | {self.failed} | {seen} |")


HEADER = ("| fault | attempted | POSTs | campaigns | duplicated | reconciled | left unknown "
          "| failed | errors seen by the client |\n|---|---|---|---|---|---|---|---|---|")


async def _create(stub: Stub, request: pb.CreateCampaignRequest, row: Row, attempts: int,
                  deadline: float) -> None:
    """Create with retries as a careful client does; tally how it ended."""
    last = ""
    for _ in range(attempts):
        try:
            await stub.CreateCampaign(request, metadata=auth(), timeout=deadline)
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _RETRYABLE:
                raise
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # the client's own deadline
                last = "DEADLINE_EXCEEDED"
                row.errors[last] += 1
                continue
            last = error_info(exc).reason
            row.errors[last] += 1
            retry = detail(exc, error_details_pb2.RetryInfo)
            if isinstance(retry, error_details_pb2.RetryInfo):
                await asyncio.sleep(min(5.0, retry.retry_delay.ToTimedelta().total_seconds()))
    if last == "CREATE_OUTCOME_UNKNOWN":
        row.unknown += 1
    else:
        row.failed += 1


async def _tally(sim: Simulator, row: Row, names: list[str]) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        listed = (await http.get("/campaigns", headers={"authorization": f"Bearer {ALICE}"})).json()
    per_name = Counter(c["name"] for c in listed["campaigns"] if c["name"] in names)
    row.created = sum(per_name.values())
    row.duplicated = sum(n - 1 for n in per_name.values() if n > 1)
    row.posts = sum(1 for r in sim.received if (r.method, r.path) == ("POST", "/campaigns"))


def _settings(sim: Simulator, db: Path, grace: float) -> Settings:
    return Settings(listen="127.0.0.1:0", upstream_url=sim.base_url, database_url=sqlite_url(db),
                    upstream_timeout=2.0, reconcile_grace=grace, log_level="ERROR",
                    rate_per_second=1000.0, rate_burst=1000)


FAULTS: dict[str, Callable[[Simulator], object]] = {
    "upstream 5xx (30%)": lambda s: s.faults.fail_ratio(0.3, status=503, method="POST"),
    "upstream 429 (30%)": lambda s: s.faults.set("rate_limit", ratio=0.3, retry_after=0.01,
                                                 method="POST"),
    "dropped connection (30%)": lambda s: s.faults.set("drop", ratio=0.3, method="POST"),
    "unreadable 2xx (30%)": lambda s: s.faults.set("malformed", ratio=0.3, method="POST"),
    "latency 1 s > deadline 0.5 s (30%)": lambda s: s.faults.set(
        "latency", ratio=0.3, seconds=1.0, method="POST"),
}
# The latency fault again, with no grace window: the risk the window guards against.
_NO_GRACE = "latency 1 s > deadline 0.5 s (30%), grace 0"


async def _in_process(fault: str, creates: int, attempts: int, tmp: Path, seed: int,
                      grace: float) -> Row:
    row = Row(fault, attempted=creates)
    async with simulator(seed=seed) as sim:
        sim.received = deque()  # every request, not the last 32: POSTs are counted
        FAULTS[fault.removesuffix(", grace 0")](sim)
        deadline = 0.5 if fault.startswith("latency") else 10.0
        gate = asyncio.Semaphore(10)  # creates in flight at once

        async def one(i: int, name: str) -> None:
            async with gate:
                request = create_request(2, name=name, request_id=f"r-{i}")
                await _create(stub, request, row, attempts, deadline)

        db = tmp / f"{abs(hash(fault))}.db"
        async with Gateway(_settings(sim, db, grace)) as gw, grpc.aio.insecure_channel(gw.address) as ch:
            stub = Stub(ch)
            names = [f"{fault} #{i}" for i in range(creates)]
            await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
            row.reconciled = int(gw.metrics.creates.outcomes.labels("reconciled")._value.get())
        await _tally(sim, row, names)
    return row


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Child:
    """``python -m gateway serve`` on a fixed port and database; killed with SIGKILL."""

    def __init__(self, sim: Simulator, db: Path) -> None:
        self.port, self.sim, self.db = _free_port(), sim, db
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{self.port}",
             "--upstream-url", self.sim.base_url, "--database", sqlite_url(self.db),
             "--reconcile-grace", "2", "--log-level", "ERROR", "--metrics-listen", "off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
        async with grpc.aio.insecure_channel(self.address) as ch:
            await asyncio.wait_for(ch.channel_ready(), 30)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


async def _killed(creates: int, attempts: int, tmp: Path, seed: int) -> Row:
    row = Row(f"gateway kill -9 mid-create (x{creates})", attempted=creates)
    async with simulator(seed=seed) as sim:
        sim.received = deque()
        child = _Child(sim, tmp / "killed.db")
        names = [f"killed #{i}" for i in range(creates)]
        await child.start()
        try:
            for i, name in enumerate(names):
                request = create_request(2, name=name, request_id=f"k-{i}")
                sim.faults.add_latency(0.3, method="POST", count=1)
                posts = sum(1 for r in sim.received if r.method == "POST")
                async with grpc.aio.insecure_channel(child.address) as ch:
                    call = Stub(ch).CreateCampaign(request, metadata=auth(), timeout=10)
                    while sum(1 for r in sim.received if r.method == "POST") == posts:
                        await asyncio.sleep(0.005)  # until the POST is at the upstream
                    child.kill()
                    try:
                        await call
                    except grpc.aio.AioRpcError:
                        pass
                await child.start()
                async with grpc.aio.insecure_channel(child.address) as ch:
                    await _create(Stub(ch), request, row, attempts, 10)
        finally:
            child.kill()
        await _tally(sim, row, names)
    # Each create sent one POST before the kill: a retry answered without another POST
    # found the campaign upstream.
    row.reconciled = creates - (row.posts - creates) - row.unknown - row.failed
    return row


async def run_matrix(creates: int, kills: int, attempts: int, seed: int, grace: float) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [await _in_process(f, creates, attempts, Path(tmp), seed, grace) for f in FAULTS]
        rows.append(await _in_process(_NO_GRACE, creates, attempts, Path(tmp), seed, 0.0))
        if kills:
            rows.append(await _killed(kills, attempts, Path(tmp), seed))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=50, help="creates per fault (%(default)s)")
    parser.add_argument("--kills", type=int, default=5, help="gateway kills (%(default)s)")
    parser.add_argument("--attempts", type=int, default=6, help="client attempts (%(default)s)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--grace", type=float, default=2.0, help="--reconcile-grace of the "
                        "gateway, seconds (%(default)s)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = asyncio.run(run_matrix(args.creates, args.kills, args.attempts, args.seed, args.grace))
    if args.json:
        print(json.dumps([{**vars(r), "errors": dict(r.errors)} for r in rows], indent=1))
    else:
        print(HEADER)
        for r in rows:
            print(r.line())
    # Duplicates are expected only where the grace window is off (the documented risk).
    return 1 if any(r.duplicated for r in rows if not r.fault.endswith("grace 0")) else 0


if __name__ == "__main__":
    sys.exit(main())
