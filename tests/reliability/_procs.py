"""The processes the reliability scripts run and what they read from them: a simulator
(``python -m gateway.simulator``) and a gateway (``python -m gateway serve``) as child
processes with their logs in files, the gateway's RSS and open files from ``/proc``, its
metrics from ``--metrics-listen``, and a client that creates the way the README asks.

Why child processes and not ``Gateway`` in-process: RSS, open files and kill -9 are
properties of a process; the scripts' own load must not be counted in them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth

__all__ = ["Child", "fd_kinds", "CreateResult", "Stub", "free_port", "gateway_args", "reason_of",
           "retry_after", "retrying_create", "scrape", "simulator_args", "usage"]

Stub = campaign_service_pb2_grpc.CampaignServiceStub
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.CANCELLED}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def simulator_args(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gateway.simulator", "--listen", f"127.0.0.1:{port}", *extra]


def gateway_args(port: int, upstream_url: str, database: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
            "--upstream-url", upstream_url, "--database", sqlite_url(database),
            "--log-level", "WARNING", *extra]


class Child:
    """A child process started with ``args``, ready once its output shows ``ready``;
    stopped with a signal (SIGKILL included). Output goes to ``log`` (appended)."""

    def __init__(self, args: list[str], log: Path, ready: bytes) -> None:
        self.args, self.log, self.ready = args, log, ready
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 60.0) -> None:
        seen = self.log.read_bytes().count(self.ready) if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        async with asyncio.timeout(timeout):
            while self.log.read_bytes().count(self.ready) == seen:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.args[2]} exited:\n{self.tail()}")
                await asyncio.sleep(0.02)

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(how)
        async with asyncio.timeout(30):
            await proc.wait()

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def fd_kinds(pid: int) -> dict[str, int]:
    """``pid``'s open descriptors by what they are: ``socket``, ``pipe``, an anon inode's
    name, or a file's name (``gateway.db-wal``): what grew, when the count grew."""
    kinds: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":", 1)[0] if target.startswith(("socket:", "pipe:")) else (
            target if target.startswith("anon_inode:") else Path(target).name)
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


@dataclass(frozen=True)
class Usage:
    rss_kib: int
    open_files: int  # every descriptor
    sockets: int  # of which sockets


def usage(pid: int) -> Usage:
    """VmRSS (KiB) and the open file descriptors of ``pid`` (all, and sockets), from /proc."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds, sockets = os.listdir(f"/proc/{pid}/fd"), 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            pass
    return Usage(rss, len(fds), sockets)


async def scrape(address: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` at
    ``http://address/metrics``."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        text = (await http.get(f"http://{address}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise LookupError(f"{name} is not in the scrape")


def reason_of(exc: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason, or the status code's name when there is none (a gateway
    that is down answers without details)."""
    status = rpc_status.from_call(exc)
    for any_ in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info) and info.reason:
            return info.reason
    return exc.code().name


def retry_after(exc: grpc.aio.AioRpcError, default: float) -> float:
    """RetryInfo's delay in seconds, or ``default`` when the error has none."""
    status = rpc_status.from_call(exc)
    for any_ in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if any_.Unpack(info):
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return default


@dataclass
class CreateResult:
    campaign_id: str | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)  # ErrorInfo reason or status code name
    unknown: bool = False  # gave up on CREATE_OUTCOME_UNKNOWN


async def retrying_create(stub: Stub, request: pb.CreateCampaignRequest, *, attempts: int,
                          deadline: float, max_wait: float = 5.0,
                          backoff: float = 0.2) -> CreateResult:
    """Create as a careful client does: the same request_id each attempt, honouring
    RetryInfo (up to ``max_wait`` s), a short backoff when there is none (e.g. the gateway
    is down). Non-retryable errors end it at once (``errors`` says which)."""
    result = CreateResult()
    for _ in range(attempts):
        result.attempts += 1
        try:
            result.campaign_id = (await stub.CreateCampaign(
                request, metadata=auth(), timeout=deadline)).id
            result.unknown = False
            return result
        except grpc.aio.AioRpcError as exc:
            reason = reason_of(exc)
            result.errors.append(reason)
            result.unknown = reason == "CREATE_OUTCOME_UNKNOWN"
            if exc.code() not in RETRYABLE:
                return result
            wait = retry_after(exc, backoff)
            await asyncio.sleep(min(max_wait, wait))
    return result
