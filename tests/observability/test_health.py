"""Health per dependency over real ports: ``/healthz`` on the metrics port and the gRPC
health statuses. The database decides the overall status; the upstream is reported
under its own name and never takes the gateway out of rotation."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from gateway.app import Gateway
from gateway.config import StartupError
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth
from ..upstream._fakes import FakeRevox, reply
from ._support import healthz

SERVICE = "revox.campaigns.v1.CampaignService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CAMPAIGN = {"campaign": {"id": "cmp_1", "name": "Spring", "status": "running",
                         "created_at": "2026-01-01T00:00:00Z"}}


async def _statuses(gateway: Gateway) -> dict[str, int]:
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return {
            name: (await health.Check(health_pb2.HealthCheckRequest(service=name))).status
            for name in ("", SERVICE, "revox.gateway.database", "revox.gateway.upstream")
        }


async def test_healthz_reports_each_dependency_and_grpc_health_agrees(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub
) -> None:
    status, report = await healthz(gateway)
    assert status == 200 and report["status"] == "SERVING"
    assert report["database"]["ok"] is True and report["database"]["error"] is None
    assert report["database"]["latency_ms"] >= 0
    # Nothing called upstream yet: nothing known against it.
    assert report["upstream"] == {"ok": True, "last_success_age_seconds": None,
                                  "last_error": None, "last_error_age_seconds": None}
    await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
    status, report = await healthz(gateway)
    assert report["upstream"]["ok"] is True and report["upstream"]["last_success_age_seconds"] >= 0
    assert await _statuses(gateway) == dict.fromkeys(
        ("", SERVICE, "revox.gateway.database", "revox.gateway.upstream"), SERVING)


async def test_a_database_that_fails_its_query_is_not_serving_until_it_answers(
    gateway: Gateway
) -> None:
    assert gateway.db is not None
    async with gateway.db.engine.begin() as conn:  # the probe's table, gone
        await conn.execute(text("ALTER TABLE meta RENAME TO meta_away"))
    try:
        status, report = await healthz(gateway)
        assert status == 503 and report["status"] == "NOT_SERVING"
        assert report["database"]["ok"] is False
        assert "meta" in report["database"]["error"]  # SQLite: no such table: meta
        statuses = await _statuses(gateway)
        assert statuses[""] == statuses[SERVICE] == NOT_SERVING
        assert statuses["revox.gateway.database"] == NOT_SERVING
    finally:
        async with gateway.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE meta_away RENAME TO meta"))
    status, report = await healthz(gateway)
    assert status == 200 and report["database"]["ok"] is True
    assert (await _statuses(gateway))[""] == SERVING


async def _not_serving_then_serving(gateway: Gateway, fault: Any, release: Any) -> str:
    """While ``fault`` holds: NOT_SERVING (overall and database); after ``release``:
    SERVING. Returns the database error the report named."""
    await fault()
    try:
        status, report = await healthz(gateway)
        assert status == 503 and report["database"]["ok"] is False, report
        statuses = await _statuses(gateway)
        assert statuses[""] == statuses[SERVICE] == statuses["revox.gateway.database"] == NOT_SERVING
        error = str(report["database"]["error"])
    finally:
        await release()
    status, report = await healthz(gateway)
    assert status == 200 and report["database"]["ok"] is True, report
    assert (await _statuses(gateway))[""] == SERVING
    return error


async def test_a_database_locked_past_the_busy_timeout_is_not_serving(
    gateway: Gateway, tmp_path: Path
) -> None:
    """Readable but not writable: another program holds the write lock (WAL readers go on)."""
    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)

    async def lock() -> None:
        other.execute("BEGIN EXCLUSIVE")

    async def unlock() -> None:
        other.execute("ROLLBACK")
        other.close()

    assert "locked" in await _not_serving_then_serving(gateway, lock, unlock)


async def test_a_database_that_cannot_grow_is_not_serving(gateway: Gateway) -> None:
    """A full disk, as SQLite sees one: the writer connection may not add a page."""
    assert gateway.db is not None
    engine = gateway.db.engine  # SQLite: one writer connection, where the limit applies

    async def fill() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE filler (b BLOB)")
            await conn.commit()
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            await conn.exec_driver_sql(f"PRAGMA max_page_count = {int(pages)}")
            while True:  # every free page taken
                try:
                    await conn.exec_driver_sql("INSERT INTO filler VALUES (randomblob(2048))")
                    await conn.commit()
                except Exception:  # noqa: BLE001 - SQLITE_FULL
                    await conn.rollback()
                    break

    async def free() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")
            await conn.exec_driver_sql("DROP TABLE filler")
            await conn.commit()

    assert "full" in await _not_serving_then_serving(gateway, fill, free)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRevox]:
    fake = FakeRevox()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def test_a_failing_upstream_is_reported_but_keeps_the_gateway_serving(
    start_gateway, fake: FakeRevox
) -> None:
    fake.script(reply(500, {"error": "boom"}))
    async with start_gateway(upstream_url=fake.base_url) as gw, \
            grpc.aio.insecure_channel(gw.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_secret_1"), metadata=auth())
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        status, report = await healthz(gw)
        assert status == 200 and report["status"] == "SERVING"
        upstream = report["upstream"]
        assert upstream["ok"] is False and upstream["last_success_age_seconds"] is None
        assert upstream["last_error"] == "ServerError on GET /campaigns/{id}"  # no id
        assert upstream["last_error_age_seconds"] >= 0
        statuses = await _statuses(gw)
        assert statuses[""] == statuses[SERVICE] == SERVING
        assert statuses["revox.gateway.upstream"] == NOT_SERVING

        fake.script(reply(200, CAMPAIGN))  # it answers again
        await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_1"), metadata=auth())
        status, report = await healthz(gw)
        assert report["upstream"]["ok"] is True
        assert report["upstream"]["last_error"] == "ServerError on GET /campaigns/{id}"
        assert (await _statuses(gw))["revox.gateway.upstream"] == SERVING


async def test_a_busy_metrics_port_stops_the_start_unless_it_was_only_the_default(
    start_gateway
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(StartupError, match="--metrics-listen HOST:PORT"):
            async with start_gateway(metrics_listen=taken):
                pass
        async with start_gateway(metrics_listen=taken, metrics_port_fallback=True) as gw:
            assert gw.ops is not None and gw.ops.fell_back
            assert gw.metrics_address != taken
            status, _ = await healthz(gw)
            assert status == 200


async def test_without_a_metrics_port_nothing_listens_but_health_is_kept(start_gateway) -> None:
    async with start_gateway(metrics_listen=None) as gw:
        assert gw.ops is None and gw.metrics_address is None
        assert (await _statuses(gw))["revox.gateway.database"] == SERVING


async def test_a_health_watch_through_the_interceptor_streams_and_is_counted(
    gateway: Gateway
) -> None:
    """grpc's Health/Watch writes with context.write (not a generator): still served, its
    messages counted, its request id returned."""
    from ._support import scrape

    async with grpc.aio.insecure_channel(gateway.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE), metadata=(("x-request-id", "hw-1"),))
        first = await watch.read()
        assert first.status == SERVING
        assert dict(await watch.initial_metadata())["x-request-id"] == "hw-1"
        m = await scrape(gateway)
        watch.cancel()
    labels = {"grpc_type": "server_stream", "grpc_service": "grpc.health.v1.Health",
              "grpc_method": "Watch"}
    assert m.value("grpc_server_started_total", **labels) == 1
    assert m.value("grpc_server_msg_sent_total", **labels) == 1


async def test_grpcurl_watching_health_sees_the_transition_and_back(gateway: Gateway) -> None:
    """What an operator runs: ``grpcurl ... grpc.health.v1.Health/Watch`` prints SERVING,
    NOT_SERVING while the database fails, SERVING once it answers again."""
    assert gateway.db is not None and gateway.health_monitor is not None
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "grpcurl"), "-plaintext", "-max-time", "60",
        "-d", '{"service": ""}', gateway.address, "grpc.health.v1.Health/Watch",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []

    async def until(status: str) -> None:
        async with asyncio.timeout(30):
            while f'"status": "{status}"' not in "".join(seen):
                line = await proc.stdout.readline()  # type: ignore[union-attr]
                assert line, "grpcurl ended: " + "".join(seen)
                seen.append(line.decode())

    try:
        await until("SERVING")
        async with gateway.db.engine.begin() as conn:  # the probe's table, gone
            await conn.execute(text("ALTER TABLE meta RENAME TO meta_away"))
        try:
            await gateway.health_monitor.check()
            await until("NOT_SERVING")
        finally:
            async with gateway.db.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE meta_away RENAME TO meta"))
        seen.clear()
        await gateway.health_monitor.check()
        await until("SERVING")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
