"""The replica families: poller leases held, leases taken over, database errors by kind.

Why: an operator running replicas asks which one polls, whether a takeover happened
(a replica died or lost its database without letting go) and whether the database
fails. Two gateways on one PostgreSQL database, in one process; the first reaches it
through a TCP proxy the test cuts (``tests.replicas._proxy``). Cut off, it can neither
renew nor release its lease, exactly as after a kill -9 as far as the database knows:
the lease expires, the other gateway takes it over, and only that taking counts as a
takeover (the first gateway's fresh lease did not). Read over HTTP from each gateway's
``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gateway.app import Gateway
from gateway.config import Settings
from gateway.observability._database import DatabaseMetrics
from gateway.store import Database, DatabaseErrors, sqlite_url
from gateway.store._error_count import error_kind
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc
from tests.observability._support import Scrape, scrape
from tests.observability.test_workers_metrics import _scrape as _scrape_workers
from tests.observability.test_workers_metrics import _until as _workers_until
from tests.observability.test_workers_metrics import _workers
from tests.replicas._proxy import CutProxy
from tests.store._pg import fresh_postgres_url
from tests.support import auth, create_request

LEASE_TTL = 1.5
HELD = "revox_gateway_watch_leases_held"
TAKEOVERS = "revox_gateway_watch_lease_takeovers_total"
ERRORS = "revox_gateway_database_errors_total"
KINDS = ("unreachable", "locked", "full", "other")


async def _until(gateway: Gateway, name: str, want: float, timeout: float = 20,
                 **labels: str) -> Scrape:
    """Scrape until ``name`` reads ``want`` (a deadline, not a sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await scrape(gateway)
        value = got.value(name, **labels)
        if value == want:
            return got
        assert asyncio.get_running_loop().time() < deadline, \
            f"{name}{labels or ''} is {value}, not {want}, after {timeout} s"
        await asyncio.sleep(0.1)  # polling the port, with the deadline above


async def _watch(stub: campaign_service_pb2_grpc.CampaignServiceStub, cid: str) -> grpc.aio.Call:
    call = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid),
                                  metadata=auth())
    await call.read()  # admitted: the campaign's task runs
    return call  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def _two_gateways(settings: Settings) -> AsyncIterator[tuple[Gateway, Gateway, CutProxy]]:
    async with fresh_postgres_url() as url, CutProxy("127.0.0.1", 5432) as proxy:
        proxied = make_url(url).set(host="127.0.0.1", port=proxy.port)
        s = replace(settings, lease_ttl=LEASE_TTL)
        async with Gateway(replace(s, database_url=proxied.render_as_string(
                hide_password=False))) as a:
            try:
                async with Gateway(replace(s, database_url=url)) as b:
                    yield a, b, proxy
            finally:
                await proxy.restore()  # a closes cleanly on a live database


async def test_the_poller_holds_the_lease_the_other_takes_it_over_once_it_expires(
    settings: Settings,
) -> None:
    async with _two_gateways(settings) as (a, b, proxy), \
            grpc.aio.insecure_channel(a.address) as ch_a, \
            grpc.aio.insecure_channel(b.address) as ch_b:
        stub_a = campaign_service_pb2_grpc.CampaignServiceStub(ch_a)
        stub_b = campaign_service_pb2_grpc.CampaignServiceStub(ch_b)
        created = await stub_a.CreateCampaign(create_request(4), metadata=auth(), timeout=30)
        watch_a = await _watch(stub_a, created.id)  # first to watch: a takes the lease
        seen_a = await _until(a, HELD, 1)
        watch_b = await _watch(stub_b, created.id)
        seen_b = await _until(b, "revox_gateway_watch_streams", 1)
        assert seen_b.value(HELD) == 0  # b follows
        assert seen_a.value(TAKEOVERS) == 0  # a fresh lease is not a takeover
        assert seen_b.value(TAKEOVERS) == 0
        for seen in (seen_a, seen_b):  # every kind is a series from the start, at 0
            assert {lb["kind"] for lb in seen.labelled(ERRORS)} == set(KINDS)
            assert seen.value(ERRORS) == 0
        assert seen_a.families[HELD] == "gauge"
        assert seen_a.families[TAKEOVERS.removesuffix("_total")] == "counter"
        assert seen_a.families[ERRORS.removesuffix("_total")] == "counter"

        await proxy.cut()  # a can neither renew nor release: its lease expires
        took = await _until(b, TAKEOVERS, 1, timeout=LEASE_TTL * 4 + 20)
        assert took.value(HELD) == 1
        cut_off = await _until(a, HELD, 0)  # its renewals failed for a whole TTL
        assert cut_off.value(ERRORS, kind="unreachable") >= 1
        assert cut_off.value(TAKEOVERS) == 0
        assert took.value(ERRORS) == 0  # b's own database never failed
        # No label names a campaign, a key or a tenant.
        assert created.id not in cut_off.label_values() | took.label_values()
        watch_a.cancel()
        watch_b.cancel()


async def test_only_an_expired_unreleased_lease_of_another_owner_is_a_takeover(
    tmp_path: Path,
) -> None:
    """The store's word, for each way a lease can be free (SQLite file)."""
    async with Database(sqlite_url(tmp_path / "lease.db")) as db:
        log = db.changelog
        first = await log.take_lease("c1", "a", ttl=10, now=100)
        assert first is not None and not first.took_over  # never taken before
        assert await log.take_lease("c1", "b", ttl=10, now=105) is None  # a's is alive
        kept = await log.take_lease("c1", "a", ttl=10, now=120)  # a's own, expired
        assert kept is not None and not kept.took_over
        await log.release_lease("c1", kept)
        after_release = await log.take_lease("c1", "b", ttl=10, now=121)
        assert after_release is not None and not after_release.took_over
        taken = await log.take_lease("c1", "a", ttl=10, now=140)  # b's expired, never released
        assert taken is not None and taken.took_over


async def test_a_statement_refused_by_a_lock_counts_as_locked(tmp_path: Path) -> None:
    """A failed statement (not a failed connect): another process's write lock on the
    SQLite file outlasts busy_timeout."""
    path = tmp_path / "locked.db"
    async with Database(sqlite_url(path), busy_timeout=0.1) as db:
        await db.changelog.take_lease("c1", "a", ttl=10, now=100)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # holds the write lock
            with pytest.raises(OperationalError):
                await db.changelog.take_lease("c1", "a", ttl=10, now=101)
        finally:
            other.close()
        assert db.errors.counts == {"unreachable": 0, "locked": 1, "full": 0, "other": 0}


@pytest.mark.parametrize(("error", "kind"), [
    (OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full")),
     "full"),
    (ConnectionRefusedError(111, "Connect call failed"), "unreachable"),
    (OperationalError("SELECT ...", {}, ConnectionResetError(104, "reset")), "unreachable"),
    (OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: x")),
     "other"),  # an OperationalError, yet no outage
    (ValueError("not a database error"), "other"),
])
def test_failures_are_classified_by_kind(error: Exception, kind: str) -> None:
    assert error_kind(error) == kind


def test_a_worker_publishes_what_grew_since_its_last_publication() -> None:
    """--workers: the store's counts become increments of a real counter (what the
    multiprocess files hold), never counted twice."""
    errors = DatabaseErrors()
    registry = CollectorRegistry()
    published = DatabaseMetrics(registry, shared=True)
    published.attach(errors)
    errors.count(ConnectionRefusedError(111, "Connect call failed"))
    errors.count(ConnectionRefusedError(111, "Connect call failed"))
    published.publish()
    published.publish()  # nothing grew since
    errors.count(ValueError("x"))
    published.publish()
    assert registry.get_sample_value(ERRORS, {"kind": "unreachable"}) == 2
    assert registry.get_sample_value(ERRORS, {"kind": "other"}) == 1
    assert registry.get_sample_value(ERRORS, {"kind": "locked"}) == 0


async def test_two_workers_publish_leases_held_and_database_errors(tmp_path: Path) -> None:
    with _workers(tmp_path) as (parent, listen, metrics, _):
        seen = _scrape_workers(metrics)
        assert seen.families[HELD] == "gauge"
        assert seen.families[TAKEOVERS.removesuffix("_total")] == "counter"
        assert {lb["kind"] for lb in seen.labelled(ERRORS)} == set(KINDS)
        async with grpc.aio.insecure_channel(listen) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            created = await stub.CreateCampaign(create_request(2), metadata=auth(), timeout=10)
            watch = await _watch(stub, created.id)
            # the worker holding the stream holds the lease; the other's 0 adds nothing
            held = _workers_until(metrics, HELD, 1)
            assert len(held.labelled(HELD)) == 1  # merged, not one series per worker
            assert held.value(TAKEOVERS) == 0
            watch.cancel()
        _workers_until(metrics, HELD, 0)  # released after the last stream (and linger)
        parent.proc.send_signal(signal.SIGTERM)
        assert parent.proc.wait(timeout=30) == 0
