"""``serve --workers 2 --metrics-listen``: the parent serves one ``/metrics`` for both
workers (prometheus-client's multiprocess files), so a scrape counts every rpc whichever
worker served it; the hub's gauges, computed at scrape time by a single process, are
published by each worker and add up; the files' directory goes with the set.

Why real processes: the kernel choosing a worker per connection (SO_REUSEPORT), the
environment prometheus-client reads at import and the parent's own HTTP port are what is
tested; none of them exists inside one test process.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth, create_request
from ..test_cli import BANNER_END, Cli
from ._support import Scrape

# Each rpc on a fresh channel (a new connection the kernel hands to either worker): the
# chance that all 20 land on the same worker is 2 * 2**-20, so a scrape that counted only
# one worker's files would come up short.
CHANNELS = 20
SERVICE = "revox.campaigns.v1.CampaignService"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _workers(tmp_path: Path) -> Iterator[tuple[Cli, str, str, Path]]:
    """``serve --workers 2`` with ``--metrics-listen``, once both workers serve: (parent,
    gRPC address, metrics address, multiprocess directory)."""
    with Cli("gateway.simulator", "--listen", "127.0.0.1:0", "--clock", "manual",
             cwd=tmp_path) as sim:
        found = re.search(r"listening on (http://\S+) ", sim.read_until("listening on"))
        assert found
        listen = f"127.0.0.1:{_free_port()}"
        metrics_listen = f"127.0.0.1:{_free_port()}"
        with Cli("gateway", "serve", "--workers", "2", "--listen", listen,
                 "--database", f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
                 "--upstream-url", found.group(1), "--metrics-listen", metrics_listen,
                 "--log-level", "WARNING", "--shutdown-grace", "2", cwd=tmp_path) as parent:
            banners = parent.read_until(BANNER_END) + parent.read_until(BANNER_END)
            # each worker's banner names the parent's port, not one of its own
            assert banners.count(f"metrics: http://{metrics_listen}/metrics") == 2, banners
            announced = re.search(r"metrics of all workers: http://(\S+)/metrics "
                                  r"\(multiprocess files in (\S+)\)", "".join(parent.seen))
            assert announced, "".join(parent.seen)
            assert announced.group(1) == metrics_listen
            yield parent, listen, metrics_listen, Path(announced.group(2))


def _scrape(address: str) -> Scrape:
    response = httpx.get(f"http://{address}/metrics", trust_env=False, timeout=10)
    assert response.status_code == 200, response.text
    families = list(text_string_to_metric_families(response.text))
    return Scrape({f.name: f.type for f in families}, [s for f in families for s in f.samples])


def _until(address: str, name: str, value: float, timeout: float = 20.0) -> Scrape:
    """Scrape until ``name`` (summed over its samples) is ``value``: the workers publish
    their scrape-time gauges every second."""
    deadline = time.monotonic() + timeout
    while True:
        scrape = _scrape(address)
        if scrape.value(name) == value:
            return scrape
        assert time.monotonic() < deadline, f"{name} = {scrape.value(name)}, not {value}"
        time.sleep(0.1)  # polling another process's port, with a deadline


async def test_two_workers_are_scraped_as_one_gateway(tmp_path: Path) -> None:
    with _workers(tmp_path) as (parent, listen, metrics, directory):
        assert directory.is_dir()
        for _ in range(CHANNELS):
            async with grpc.aio.insecure_channel(listen) as channel:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(),
                                         timeout=10)
        scrape = _scrape(metrics)
        method = {"grpc_service": SERVICE, "grpc_method": "ListCampaigns"}
        assert scrape.value("grpc_server_started_total", **method) == CHANNELS
        assert scrape.value("grpc_server_handled_total", grpc_code="OK", **method) == CHANNELS
        assert scrape.value("grpc_server_handling_seconds_count", **method) == CHANNELS
        assert scrape.value("grpc_server_msg_sent_total", **method) == CHANNELS
        assert scrape.value("revox_gateway_cache_lookups_total",
                            method="ListCampaigns") == CHANNELS
        assert scrape.value("revox_gateway_upstream_requests_total", route="/campaigns") > 0
        assert scrape.families["grpc_server_handling_seconds"] == "histogram"
        assert scrape.families["revox_gateway_idempotent_creates"] == "counter"
        for gauge in ("revox_gateway_watch_streams", "revox_gateway_watch_staleness_seconds",
                      "revox_gateway_cache_entries", "revox_gateway_watch_changelog_rows",
                      "revox_gateway_upstream_last_success_timestamp_seconds"):
            assert scrape.families[gauge] == "gauge", gauge
        # one series per gauge: merged over the workers, not one per pid
        assert len(scrape.labelled("revox_gateway_watch_streams")) == 1

        health = httpx.get(f"http://{metrics}/healthz", trust_env=False, timeout=10)
        assert health.status_code == 200
        assert [w["alive"] for w in health.json()["workers"]] == [True, True]

        # A gauge a single process computes at scrape time (open streams), published by
        # the worker that holds the stream and summed with the other's zero.
        async with grpc.aio.insecure_channel(listen) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            created = await stub.CreateCampaign(create_request(2), metadata=auth(), timeout=10)
            watch = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=created.id),
                                           metadata=auth())
            await watch.read()  # admitted: the stream is open
            _until(metrics, "revox_gateway_watch_streams", 1)
            watch.cancel()
        _until(metrics, "revox_gateway_watch_streams", 0)

        parent.proc.send_signal(signal.SIGTERM)
        assert parent.proc.wait(timeout=30) == 0
    assert not directory.exists()  # the set's files go with it
