"""A gateway in front of the simulator, both on real ports bound to 0, driven by raw
bytes over generic channel calls: what the fuzz and the tenant matrix send through.

Every rpc is reached by its path from the service descriptor
(``/revox.campaigns.v1.CampaignService/<Method>``), requests and answers as bytes, so
a method added to the proto is driven without a change here, and a request the stubs
could not even build (corrupt bytes) goes through the same call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import ALICE, auth, simulator

__all__ = ["SERVICE", "Answer", "LoopThread", "Stand", "Tracebacks"]

SERVICE = pb.DESCRIPTOR.services_by_name["CampaignService"]
T = TypeVar("T")


@dataclass
class Answer:
    """What a caller got from one call: the status, every byte of every message, the
    trailing metadata and the status details, and the upstream requests it cost."""

    code: str
    details: str = ""
    messages: list[bytes] = field(default_factory=list)
    trailers: list[tuple[str, str | bytes]] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # "GET /campaigns/x" per request

    def payload(self) -> bytes:
        """Every byte the caller received, as one blob to search."""
        parts = [*self.messages, self.details.encode()]
        for key, value in self.trailers:
            parts += [key.encode(), value if isinstance(value, bytes) else value.encode()]
        return b"\x00".join(parts)


class LoopThread:
    """An event loop running in a thread of its own, for a driver that is not async
    (Hypothesis draws examples in the calling thread meanwhile): ``run`` a coroutine
    on it and wait for its result. Run only during each call instead, the loop would
    stand still while an example is drawn, and the gateway's own timers (its database
    health check's 2 s timeout among them) would fire late and spuriously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-gateway", daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


class Tracebacks(logging.Handler):
    """Counts log records that carry a traceback or are ERROR and above: in a process
    that never crashes on input, an input that gets one is a bug."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "gateway.health" and not record.exc_info:
            return  # a dependency check that failed: a report on the machine, not a crash
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


class Stand:
    """``async with Stand(workdir) as stand``: a simulator, a gateway, a channel."""

    def __init__(self, workdir: Path, *, seed: int = 7, page_base: int = 0, **overrides: Any) -> None:
        self.workdir = workdir
        self.seed = seed
        self.page_base = page_base  # the simulator's first page (the gateway learns it)
        self.overrides = overrides
        self.sim: Simulator | None = None
        self.gateway: Gateway | None = None
        self.channel: grpc.aio.Channel | None = None
        self.tracebacks = Tracebacks()

    async def __aenter__(self) -> Stand:
        logging.getLogger().addHandler(self.tracebacks)
        self.sim = await simulator(seed=self.seed, page_base=self.page_base).__aenter__()
        self.sim.received = deque(maxlen=4096)  # every request of a call, to name them
        chosen: dict[str, Any] = {
            "cache_ttl": 30.0, "shutdown_grace": 1.0, "upstream_timeout": 3.0, "poll_interval": 0.05,
            "max_poll_interval": 0.2, "linger_seconds": 0.05, "log_level": "WARNING",
            "rate_per_second": 100_000.0, "rate_burst": 100_000, **self.overrides,
        }
        settings = Settings(listen="127.0.0.1:0", upstream_url=self.sim.base_url,
                            database_url=sqlite_url(self.workdir / "gateway.db"), **chosen)
        self.gateway = await Gateway(settings).__aenter__()
        self.channel = grpc.aio.insecure_channel(
            self.gateway.address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.channel is not None:
                await self.channel.close()
            if self.gateway is not None:
                await self.gateway.__aexit__(None, None, None)
            if self.sim is not None:
                await self.sim.stop()
        finally:
            logging.getLogger().removeHandler(self.tracebacks)

    # -- calls ----------------------------------------------------------------------------

    def _method_path(self, method: MethodDescriptor) -> str:
        return f"/{SERVICE.full_name}/{method.name}"

    async def call(self, method: MethodDescriptor, data: bytes, *, key: str = ALICE,
                   timeout: float = 5.0, stream_timeout: float = 0.5,
                   stream_messages: int = 1) -> Answer:
        """One call of ``method`` with ``data`` as the request's bytes. A stream is read
        for its first ``stream_messages`` messages or its status within
        ``stream_timeout`` seconds, then cancelled."""
        assert self.channel is not None and self.sim is not None
        before = self.sim.request_count
        if method.server_streaming:
            answer = await self._stream(method, data, key, stream_timeout, stream_messages)
        else:
            answer = await self._unary(method, data, key, timeout)
        new = self.sim.request_count - before
        recent = list(self.sim.received)[-new:] if new else []
        answer.upstream = [f"{r.method} {r.path}" for r in recent]
        return answer

    async def _unary(self, method: MethodDescriptor, data: bytes, key: str, timeout: float) -> Answer:
        assert self.channel is not None
        call = self.channel.unary_unary(self._method_path(method))(
            data, metadata=auth(key), timeout=timeout)
        try:
            reply = await call
        except grpc.aio.AioRpcError as exc:
            return Answer(exc.code().name, exc.details() or "", [], _trailers(exc.trailing_metadata()))
        return Answer("OK", "", [reply], _trailers(await call.trailing_metadata()))

    async def _stream(self, method: MethodDescriptor, data: bytes, key: str, timeout: float,
                      wanted: int) -> Answer:
        assert self.channel is not None
        call = self.channel.unary_stream(self._method_path(method))(
            data, metadata=auth(key), timeout=timeout)
        messages: list[bytes] = []
        try:
            while len(messages) < wanted:
                message = await call.read()
                if message is grpc.aio.EOF:
                    break
                messages.append(message)
            else:
                call.cancel()
                return Answer("OK", "", messages)
            code = await call.code()
            return Answer(code.name, await call.details() or "", messages,
                          _trailers(await call.trailing_metadata()))
        except grpc.aio.AioRpcError as exc:
            return Answer(exc.code().name, exc.details() or "", messages,
                          _trailers(exc.trailing_metadata()))

    async def alive(self) -> bool:
        """Whether the gateway still answers a health check."""
        assert self.channel is not None
        try:
            await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.aio.AioRpcError:
            return False
        return True

    async def quiet(self, deadline: float = 5.0) -> None:
        """Wait until no campaign is watched (its poller calls the upstream on its own
        schedule, which a count of one call's upstream requests must not include)."""
        assert self.gateway is not None and self.gateway.watch is not None
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while self.gateway.watch.stats()["campaigns"] and loop.time() < end:
            await asyncio.sleep(0.005)


def _trailers(metadata: Sequence[tuple[str, str | bytes]] | None) -> list[tuple[str, str | bytes]]:
    return [(k, v) for k, v in metadata or ()]
