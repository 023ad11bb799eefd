"""Clients in other languages, built from protos/ at test time: a Node client (@grpc/grpc-js
and @grpc/proto-loader) and TypeScript stubs (buf generate with protoc-gen-es). Their npm
packages are pinned in tests/clients/node/package-lock.json; the helpers here find node and
install those packages (``npm ci``) when ``make`` has not already done it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

__all__ = ["NODE_DIR", "PROTOS", "ROOT", "ensure_node_modules", "node_or_skip", "run"]

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
NODE_DIR = Path(__file__).resolve().parent / "node"


def node_or_skip() -> str:
    """The node executable; the test is skipped (saying why) only when there is none."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (not on PATH): the Node/TypeScript client tests need it")
    assert (PROTOS / "third_party" / "google" / "rpc" / "status.proto").exists(), (
        "protos/third_party is missing: run `make install`"
    )
    return node


async def run(*argv: str, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run a command to its end (killed past ``timeout``): its exit code and its output,
    stdout and stderr together."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, out.decode(errors="replace")


async def ensure_node_modules(*, timeout: float = 240) -> Path:
    """tests/clients/node/node_modules as package-lock.json pins it: installed by
    ``make`` normally; here ``npm ci`` runs only if it is missing or older than the lock."""
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install the client's packages"
        code, out = await run(
            npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", cwd=NODE_DIR, timeout=timeout
        )
        assert code == 0, f"npm ci failed in {NODE_DIR}:\n{out}"
    return NODE_DIR / "node_modules"
