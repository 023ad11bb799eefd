"""`revox-gateway serve --simulator` (what `make run` starts): banner, grpcurl, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_serve_with_simulator_answers_the_banner_command(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--simulator", "--listen", "127.0.0.1:0",
         "--database", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )
    try:
        banner = []
        assert proc.stdout is not None
        for line in proc.stdout:
            banner.append(line)
            if "ListCampaigns" in line:
                break
        text = "".join(banner)
        assert "NO REAL PHONE CALLS ARE PLACED" in text
        command = re.search(r"^\s+(grpcurl .*ListCampaigns)\s*$", text, re.M)
        assert command, text
        answer = subprocess.run(["bash", "-c", command.group(1)], env=env, capture_output=True, text=True, timeout=60)
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip().startswith("{")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_simulator_subcommand_help() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "simulator", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--listen" in out.stdout
