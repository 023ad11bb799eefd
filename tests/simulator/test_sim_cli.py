"""The standalone CLI: flags, the startup line, serving, clean exit on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest

from gateway.simulator._cli import build_parser, config_from_args


def test_flags_map_onto_config() -> None:
    args = build_parser().parse_args([
        "--listen", "0.0.0.0:9999", "--seed", "9", "--speedup", "120", "--latency", "0.5",
        "--error-rate", "0.1", "--error-status", "502", "--rate-limit-rate", "0.2",
        "--retry-after", "4", "--drop-rate", "0.05", "--malformed-rate", "0.01", "--drift",
        "--clock", "manual", "--ignore-windows", "--start-time", "2026-05-04T12:00:00Z",
    ])
    config = config_from_args(args)
    assert (config.host, config.port, config.seed, config.speedup) == ("0.0.0.0", 9999, 9, 120)
    assert (config.error_rate, config.error_status, config.drift) == (0.1, 502, True)
    assert config.clock == "manual" and config.ignore_windows
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--listen", "nope"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--error-rate", "3"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serves_until_sigterm() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from gateway.simulator import main; "
         "sys.exit(main(sys.argv[1:]))"), "--listen", f"127.0.0.1:{port}", "--seed", "3",
         "--drift"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        state = httpx.get(f"http://127.0.0.1:{port}/_simulator/state").json()
        assert state["clock"] == "real" and state["seed"] == 3 and state["faults"]["drift"]
        r = httpx.get(f"http://127.0.0.1:{port}/campaigns",
                      headers={"Authorization": "Bearer sk_test_cli"})
        assert r.json() == {"campaigns": []}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
