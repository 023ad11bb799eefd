"""`revox-gateway serve` as `make run` starts it: the banner, grpcurl, SIGTERM, restarts.

Why through real processes: what an operator reads (the banner's "no real calls", the
simulated clock, the grpcurl line) and what survives a restart are properties of the
assembled command, not of any one module. Every wait reads the process's output with a
deadline; nothing sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

import grpc
import httpx
import pytest

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from .support import auth, create_request, simulator

BIN = Path(sys.executable).parent
BANNER_END = "CampaignService/ListCampaigns"


def _env(**extra: str) -> dict[str, str]:
    """grpcurl on PATH; none of the machine's gateway settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "REVOX_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


class Cli:
    """A ``python -m <module> ...`` process whose merged output is read line by line, with
    a deadline, by a thread (which also keeps the pipe drained)."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=cwd, env=env or _env(),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read_until(self, marker: str, timeout: float = 60.0) -> str:
        """The output from the last call up to the line containing ``marker``."""
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {timeout} s:\n"
                                     + "".join(self.seen)) from None
            if line is None:
                raise AssertionError(f"exited ({self.proc.wait()}) before {marker!r}:\n"
                                     + "".join(self.seen))
            self.seen.append(line)
            if marker in line:
                return "".join(self.seen[start:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def _serve(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> Cli:
    return Cli("gateway", "serve", "--listen", "127.0.0.1:0", "--log-level", "WARNING",
               "--database", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}", *flags,
               cwd=tmp_path, env=env)


def _address(banner: str) -> str:
    found = re.search(r"serving \S+ on (\S+:\d+)", banner)
    assert found, banner
    return found.group(1)


def _assert_simulated(banner: str) -> None:
    assert "simulator: no real calls are placed" in banner, banner
    assert "REAL calls" not in banner
    clock = re.search(r"simulated clock: now \S+T\S+Z, runs 60x real time \(GET "
                      r"(http://\S+/_simulator/state)\)", banner)
    assert clock, banner
    assert "watch heartbeats and logs show wall-clock time" in banner


def test_serve_with_simulator_answers_the_banner_command(tmp_path: Path) -> None:
    with _serve(tmp_path, "--simulator") as gateway:
        banner = gateway.read_until(BANNER_END)
        _assert_simulated(banner)
        assert "upstream: the embedded Revox simulator at http://127.0.0.1:" in banner
        # The simulator's state sits beside the database, so a restart keeps campaigns.
        assert f"simulator state: {tmp_path / 'run.simulator.db'}" in banner
        command = re.search(r"^\s+(grpcurl .*ListCampaigns)\s*$", banner, re.M)
        assert command, banner
        answer = subprocess.run(["bash", "-c", command.group(1)], env=_env(),
                                capture_output=True, text=True, timeout=60)
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip().startswith("{")
        # A second gateway on the same port is refused, in one line, and the first serves on.
        second = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--simulator", "--listen",
             _address(banner), "--database", f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_env())
        assert second.returncode == 2 and "Traceback" not in second.stderr
        port = _address(banner).rsplit(":", 1)[1]
        assert second.stderr == (f"revox-gateway: port {port} on 127.0.0.1 is in use "
                                 "(another gateway?); choose another with --listen "
                                 "HOST:PORT\n")
        again = subprocess.run(["bash", "-c", command.group(1)], env=_env(),
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert gateway.stop() == 0


def _list_names(address: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        listed = stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth(),
                                    timeout=30)
        return [campaign.name for campaign in listed.campaigns]


def test_a_restarted_simulator_gateway_keeps_its_campaigns(tmp_path: Path) -> None:
    """``make run`` twice: the demo campaigns of the first run are still upstream."""
    with _serve(tmp_path, "--simulator") as first:
        address = _address(first.read_until(BANNER_END))
        with grpc.insecure_channel(address) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            stub.CreateCampaign(create_request(2, name="kept"), metadata=auth(), timeout=30)
        assert _list_names(address) == ["kept"]
        assert first.stop() == 0
    with _serve(tmp_path, "--simulator") as second:
        assert _list_names(_address(second.read_until(BANNER_END))) == ["kept"]
        assert second.stop() == 0
    with _serve(tmp_path, "--simulator", "--simulator-state", ":memory:") as fresh:
        banner = fresh.read_until(BANNER_END)
        assert "simulator state:" not in banner
        assert _list_names(_address(banner)) == []
        assert fresh.stop() == 0


def test_a_separately_started_simulator_is_announced_as_such(tmp_path: Path) -> None:
    with Cli("gateway.simulator", "--listen", "127.0.0.1:0", cwd=tmp_path) as simulator:
        found = re.search(r"listening on (http://\S+)", simulator.read_until("listening on"))
        assert found
        with _serve(tmp_path, "--upstream-url", found.group(1)) as gateway:
            banner = gateway.read_until(BANNER_END)
            _assert_simulated(banner)
            assert f"upstream: a Revox simulator at {found.group(1)}" in banner
            assert f"GET {found.group(1)}/_simulator/state" in banner
            assert gateway.stop() == 0
        assert simulator.stop() == 0


class _Api(BaseHTTPRequestHandler):
    """Answers like the real API to a request without a key: 401, no simulator header."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        type(self).seen.append(dict(self.headers))
        body = json.dumps({"error": {"message": "unauthorized"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def real_looking_api() -> Iterator[str]:
    _Api.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_an_upstream_without_the_header_is_announced_as_real(
    tmp_path: Path, real_looking_api: str
) -> None:
    env = _env(REVOX_API_KEY="sk_live_never_sent_by_the_probe")
    with _serve(tmp_path, "--upstream-url", real_looking_api, env=env) as gateway:
        banner = gateway.read_until(BANNER_END)
        assert f"upstream: {real_looking_api} (REAL calls are placed" in banner
        assert "no real calls" not in banner
        assert gateway.stop() == 0
    assert len(_Api.seen) == 1  # one probe, and without any key
    assert not {name.lower() for name in _Api.seen[0]} & {"authorization", "x-api-key"}


def test_an_unreachable_upstream_is_reported_not_fatal(tmp_path: Path) -> None:
    with _serve(tmp_path, "--upstream-url", "http://127.0.0.1:9/api") as gateway:
        banner = gateway.read_until(BANNER_END)
        assert "upstream: http://127.0.0.1:9/api did not answer" in banner
        assert gateway.stop() == 0


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout == f"revox-grpc-gateway {version('revox-grpc-gateway')}\n"


async def test_the_simulator_marks_every_response_with_the_header_the_probe_reads() -> None:
    from gateway.preflight import SIMULATOR_HEADER
    from gateway.simulator._app import SIMULATOR_HEADER as SENT

    assert SIMULATOR_HEADER == SENT
    async with simulator() as sim, httpx.AsyncClient(base_url=sim.base_url) as client:
        answers = [
            await client.get("/campaigns"),  # 401: no key
            await client.get("/campaigns", headers=dict(auth())),
            await client.get("/campaigns/cmp_missing", headers=dict(auth())),  # 404
            await client.put("/campaigns", headers=dict(auth())),  # 405
            await client.get("/_simulator/state"),
            await client.get("/_simulator/nothing-here"),
        ]
    assert [a.headers.get(SIMULATOR_HEADER) for a in answers] == ["1"] * len(answers), \
        [a.status_code for a in answers]


def test_simulator_subcommand_help() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "simulator", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--listen" in out.stdout
