"""``serve --log-format json`` through a whole campaign lifecycle: every line the process
writes after its banner is one JSON object (the access lines, httpx's, warnings, the
shutdown), each rpc has exactly one access line with its code and request id, and no
line carries the API key, a contact's number or a prompt variable (issue 17)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import grpc

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request
from ..test_cli import BANNER_END, Cli

NUMBERS = ("+14155550187", "+33698765432")
SECRET_VALUE = "Zebulon-Quartz-77810"
ACCESS_KEYS = {"ts", "level", "logger", "msg", "request_id", "service", "method", "code",
               "duration_ms", "tenant", "messages_sent"}


def _call(stub: Any, method: str, request: Any, rid: str) -> grpc.StatusCode:
    try:
        answer = getattr(stub, method)(request, timeout=30, metadata=auth() + (("x-request-id", rid),))
        if method in ("ExportCampaignRows",):
            list(answer)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_every_line_of_a_lifecycle_is_json_and_each_rpc_has_one_access_line(tmp_path: Path) -> None:
    request = create_request(2, request_id="json-lifecycle-1")
    for contact, number in zip(request.contacts, NUMBERS, strict=True):
        contact.to_phone_number = number
        contact.prompt_variables["policy"] = SECRET_VALUE
    with Cli("gateway", "serve", "--simulator", "--listen", "127.0.0.1:0", "--log-format", "json",
             "--metrics-listen", "off",
             "--database", f"sqlite+aiosqlite:///{tmp_path / 'run.db'}", cwd=tmp_path) as gateway:
        banner = gateway.read_until(BANNER_END)
        start = len(gateway.seen)
        address = next(w for line in banner.splitlines() if "serving" in line
                       for w in line.split() if w.count(":") == 1 and w.split(":")[1].isdigit())
        expected: list[tuple[str, str, grpc.StatusCode]] = []
        with grpc.insecure_channel(address) as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)

            def call(method: str, req: Any, want: grpc.StatusCode = grpc.StatusCode.OK) -> None:
                rid = f"lc-{len(expected)}"
                assert _call(stub, method, req, rid) == want, method
                expected.append((rid, method, want))

            cid = stub.CreateCampaign(request, timeout=30, metadata=auth() + (("x-request-id", "lc-create"),)).id
            expected.append(("lc-create", "CreateCampaign", grpc.StatusCode.OK))
            call("CreateCampaign", request)  # the idempotent replay
            call("GetCampaign", pb.GetCampaignRequest(id=cid))
            call("GetCampaign", pb.GetCampaignRequest(id=cid, skip_cache=True))
            call("ListCampaigns", pb.ListCampaignsRequest(skip_cache=True))
            call("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=cid, query=NUMBERS[0]))
            call("ExportCampaignRows", pb.ExportCampaignRowsRequest(campaign_id=cid))
            watch = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), timeout=30,
                                           metadata=auth() + (("x-request-id", "lc-watch"),))
            for message in watch:
                if message.HasField("snapshot_complete"):
                    break
            watch.cancel()
            expected.append(("lc-watch", "WatchCampaignRows", grpc.StatusCode.CANCELLED))
            call("GetCampaign", pb.GetCampaignRequest(id="cmp_missing_000"), grpc.StatusCode.NOT_FOUND)
            call("CreateCampaign", create_request(0), grpc.StatusCode.INVALID_ARGUMENT)
            call("CancelCampaign", pb.CancelCampaignRequest(id=cid))
            call("DeleteCampaign", pb.DeleteCampaignRequest(id=cid))
        gateway.read_until('"msg":"rpc","request_id":"' + expected[-1][0] + '"')
        assert gateway.stop() == 0
        with contextlib.suppress(AssertionError):  # the shutdown's lines, up to the exit
            gateway.read_until("\0never printed\0", timeout=30)
        lines = gateway.seen[start:]

    records = []
    for line in lines:
        assert line.startswith("{"), line
        record = json.loads(line)  # every line, not only the access lines
        assert isinstance(record, dict) and {"ts", "level", "logger", "msg"} <= record.keys(), line
        records.append(record)
    assert any(r["msg"] == "shutting down" for r in records), "the shutdown was not read"
    access = {r.get("request_id"): r for r in records if r["logger"] == "gateway.access" and r["msg"] == "rpc"}
    for rid, method, code in expected:
        record = access[rid]
        assert ACCESS_KEYS <= record.keys(), record
        assert (record["service"], record["method"], record["code"]) == (
            "revox.campaigns.v1.CampaignService", method, code.name), record
        assert isinstance(record["duration_ms"], float | int) and record["duration_ms"] >= 0
        assert isinstance(record["tenant"], str) and len(record["tenant"]) >= 16
    assert len([r for r in records if r.get("request_id") in dict.fromkeys(rid for rid, _, _ in expected)
                and r["msg"] == "rpc"]) == len(expected), "one access line per rpc"
    text = "".join(lines)
    for secret in (ALICE, SECRET_VALUE, *NUMBERS, *(n[1:] for n in NUMBERS)):
        assert secret not in text, secret
