"""``revox-gateway serve --simulator`` as ``make run`` starts it: the banner names the
metrics port (127.0.0.1:9464 unless taken), which serves ``/metrics`` and ``/healthz``;
``--log-format json`` writes one JSON object per line, one per rpc with its request id."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth
from ..test_cli import BANNER_END, Cli


def _serve(tmp_path: Path, *flags: str) -> Cli:
    return Cli("gateway", "serve", "--simulator", "--listen", "127.0.0.1:0",
               "--database", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}", *flags, cwd=tmp_path)


def test_make_run_serves_metrics_and_health_and_logs_json(tmp_path: Path) -> None:
    with _serve(tmp_path, "--log-format", "json") as gateway:
        banner = gateway.read_until(BANNER_END)
        address = re.search(r"serving \S+ on (\S+:\d+)", banner)
        metrics = re.search(r"^  metrics: (http://127\.0\.0\.1:(\d+))/metrics, health: "
                            r"\1/healthz( \(127\.0\.0\.1:9464 was in use\))?$", banner, re.M)
        assert address and metrics, banner
        assert (metrics.group(2) == "9464") != bool(metrics.group(3)), banner
        with grpc.insecure_channel(address.group(1)) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            stub.ListCampaigns(pb.ListCampaignsRequest(), timeout=30,
                               metadata=auth() + (("x-request-id", "make-run-1"),))
        lines = gateway.read_until('"method":"ListCampaigns"').splitlines()
        line = lines[-1]
        record = json.loads(line)
        assert (record["msg"], record["code"], record["request_id"]) == ("rpc", "OK", "make-run-1")
        # The upstream call's log line (httpx, INFO) carries the rpc's id too.
        assert any('"logger":"httpx"' in other and '"request_id":"make-run-1"' in other
                   for other in lines)
        with httpx.Client(trust_env=False, timeout=30) as http:
            scraped = http.get(f"{metrics.group(1)}/metrics").text
            health = http.get(f"{metrics.group(1)}/healthz")
        assert re.search(r'^grpc_server_handled_total\{grpc_code="OK",grpc_method="ListCampaigns",'
                         r'grpc_service="revox.campaigns.v1.CampaignService",grpc_type="unary"\} '
                         r'1\.0$', scraped, re.M), scraped
        assert health.status_code == 200 and health.json()["database"]["ok"] is True
        assert gateway.stop() == 0
    logged = [line for line in gateway.seen[gateway.seen.index(line + "\n"):]
              if line.startswith("{")]
    assert all(json.loads(line)["level"] for line in logged)


def test_metrics_can_be_turned_off_and_a_taken_default_port_moves(tmp_path: Path) -> None:
    with _serve(tmp_path, "--metrics-listen", "off") as gateway:
        assert "metrics:" not in gateway.read_until(BANNER_END)
        assert gateway.stop() == 0
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 9464))
            busy.listen()
        except OSError:
            pass  # taken already: the default moves all the same
        with _serve(tmp_path) as gateway:
            banner = gateway.read_until(BANNER_END)
            assert "(127.0.0.1:9464 was in use)" in banner, banner
            assert gateway.stop() == 0
