"""Bad configuration of replicas gets one clear line, and no password reaches a log.

Why: an operator starting replicas reads the first line a process prints. Each way a
replica can be wrongly configured for its database stops it with exit status 2 and one
line naming the problem: the database unreachable, its schema newer than the code,
another live replica using a different tenant secret (which would split tenants,
idempotency and resume tokens between them). The database password in the URL never
appears in what a process prints, at start-up or while the database goes away and
comes back at DEBUG level. Every process is the real CLI.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
from pathlib import Path

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import make_url

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.replicas._proxy import CutProxy
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request
from tests.test_cli import BANNER_END, Cli, _address

ROOT = Path(__file__).resolve().parent.parent.parent
PASSWORD = "s3cret"
SECRET_A = "replica-secret-aaaaaaaaaaaaaaaa"
SECRET_B = "replica-secret-bbbbbbbbbbbbbbbb"
NOBODY = "http://127.0.0.1:9"  # an upstream nobody answers on: serve starts anyway


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "REVOX_"))}
    return {**env, **extra}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env or _env())


def _one_line_refusal(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stdout == "", (out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("revox-gateway: "), lines[0]
    return lines[0]


def _serve_args(url: str, *flags: str) -> list[str]:
    return ["serve", "--listen", "127.0.0.1:0", "--database", url, "--upstream-url", NOBODY,
            *flags]


def _with_password(url: str, password: str = PASSWORD) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


@pytest.mark.parametrize("flags", [(), ("--no-migrate",), ("--log-level", "DEBUG")])
def test_serve_with_an_unreachable_database_is_one_line_without_the_password(
    flags: tuple[str, ...],
) -> None:
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:1/x"
    out = _run(*_serve_args(url, *flags))
    if "DEBUG" in flags:  # asyncio's own debug line may come first: the refusal ends it
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        line = out.stderr.splitlines()[-1]
    else:
        line = _one_line_refusal(out)
    assert "cannot reach the database at postgresql+asyncpg://postgres:***@127.0.0.1:1/x" \
        in line, line
    assert PASSWORD not in out.stdout + out.stderr


async def test_serve_refuses_a_postgresql_schema_newer_than_the_code() -> None:
    async with fresh_postgres_url() as url:
        assert _run("migrate", "--database", url).returncode == 0
        conn = await asyncpg.connect(make_url(url).set(drivername="postgresql")
                                     .render_as_string(hide_password=False))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '9999'")
        finally:
            await conn.close()
        for flags in ((), ("--no-migrate",)):
            out = _run(*_serve_args(_with_password(url), *flags))
            line = _one_line_refusal(out)
            assert "revision 9999" in line and "newer than this gateway" in line, line
            assert PASSWORD not in out.stdout + out.stderr


async def test_a_replica_with_another_tenant_secret_is_refused(tmp_path: Path) -> None:
    async with fresh_postgres_url() as url:
        first = Cli("gateway", *_serve_args(url, "--log-level", "WARNING"), cwd=tmp_path,
                    env=_env(GATEWAY_TENANT_SECRET=SECRET_A))
        with first:
            await asyncio.to_thread(first.read_until, BANNER_END)
            for other in ({"GATEWAY_TENANT_SECRET": SECRET_B}, {}):  # {}: the database's own
                out = _run(*_serve_args(url), env=_env(**other))
                line = _one_line_refusal(out)
                assert "uses a different tenant secret" in line, line
                assert SECRET_A not in line and SECRET_B not in line
            same = Cli("gateway", *_serve_args(url, "--log-level", "WARNING"), cwd=tmp_path,
                       env=_env(GATEWAY_TENANT_SECRET=SECRET_A))
            with same:  # the same secret: a replica like any other
                await asyncio.to_thread(same.read_until, BANNER_END)
                assert await asyncio.to_thread(same.stop) == 0
            assert await asyncio.to_thread(first.stop) == 0
        # Every replica stopped: starting them with a new secret is a rotation, not a split.
        rotated = Cli("gateway", *_serve_args(url, "--log-level", "WARNING"), cwd=tmp_path,
                      env=_env(GATEWAY_TENANT_SECRET=SECRET_B))
        with rotated:
            await asyncio.to_thread(rotated.read_until, BANNER_END)
            assert await asyncio.to_thread(rotated.stop) == 0


def _rest(cli: Cli) -> str:
    """Everything the (stopped) process printed."""
    while True:
        try:
            line = cli._lines.get(timeout=10)
        except queue.Empty:
            break
        if line is None:
            break
        cli.seen.append(line)
    return "".join(cli.seen)


async def test_no_password_in_debug_logs_while_postgres_goes_away_and_returns(
    tmp_path: Path, upstream: Simulator,
) -> None:
    async with fresh_postgres_url() as url, CutProxy("127.0.0.1", 5432) as proxy:
        proxied = make_url(url).set(host="127.0.0.1", port=proxy.port, password=PASSWORD)
        cli = Cli("gateway", "serve", "--listen", "127.0.0.1:0", "--log-level", "DEBUG",
                  "--database", proxied.render_as_string(hide_password=False),
                  "--upstream-url", upstream.base_url, cwd=tmp_path, env=_env())
        with cli:
            address = _address(await asyncio.to_thread(cli.read_until, BANNER_END))
            async with grpc.aio.insecure_channel(address) as channel:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                await stub.CreateCampaign(create_request(2, request_id="one"), metadata=auth(),
                                          timeout=30)
                await proxy.cut()
                await asyncio.to_thread(cli.read_until, "NOT_SERVING", 30)  # health noticed
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.CreateCampaign(create_request(2, request_id="two"),
                                              metadata=auth(), timeout=30)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(), timeout=30)
                await proxy.restore()
                await asyncio.to_thread(cli.read_until, "database answers again", 30)
            assert await asyncio.to_thread(cli.stop) == 0
        printed = _rest(cli)
        assert "database unreachable" in printed  # the outage was logged...
        assert PASSWORD not in printed  # ...without the password
