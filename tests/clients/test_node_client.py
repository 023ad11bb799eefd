"""The Node client (tests/clients/node/client.js: @grpc/grpc-js with the contract loaded at
run time by @grpc/proto-loader) against the gateway over a real port: create, get, list
rows, a refused create whose google.rpc.BadRequest it decodes from the trailers, and a
watch that sees a row change once the simulator's clock moves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import ALICE, BOB, auth, driving
from . import NODE_DIR, ensure_node_modules, node_or_skip

# A first `npm ci` (when `make` has not installed the packages) may take a while.
pytestmark = pytest.mark.timeout(300)


async def read_steps(stream: asyncio.StreamReader, steps: dict[str, dict[str, Any]], until: str) -> None:
    """The client's JSON lines into ``steps`` (by step name) until step ``until``, or the end."""
    while until not in steps:
        line = await stream.readline()
        if not line:
            return
        record = json.loads(line)
        steps[record.pop("step")] = record


async def test_the_node_client_creates_reads_decodes_errors_and_watches(
    gateway: Gateway, upstream: Simulator, stub
) -> None:
    node = node_or_skip()
    await ensure_node_modules()
    proc = await asyncio.create_subprocess_exec(
        node, "client.js", "--address", gateway.address, "--api-key", ALICE, "--timeout", "60",
        cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.create_task(proc.stderr.read())
    steps: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(60):
            # Nothing moves on the simulator's manual clock until the client watches.
            await read_steps(proc.stdout, steps, until="watch_snapshot")
            assert "watch_snapshot" in steps, (steps, (await errors).decode())
            async with driving(upstream, finish=False):
                await read_steps(proc.stdout, steps, until="watch_change")
                await proc.wait()
            stderr = (await errors).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        errors.cancel()
    assert proc.returncode == 0, (steps, stderr)

    create, get, rows = steps["create"], steps["get"], steps["list_rows"]
    assert create["id"] and get["id"] == create["id"]
    assert get["name"] == create["name"] == "Node client" and get["assistant_id"] == "asst_demo"
    assert rows["count"] == 3
    assert sorted(rows["phone_numbers"]) == ["+33612340000", "+33612340001", "+33612340002"]

    invalid = steps["invalid_create"]
    assert invalid["code"] == "INVALID_ARGUMENT" and invalid["status_code"] == 3
    assert invalid["fields"] == ["contacts"]  # the rest of the request is valid
    assert {"google.rpc.BadRequest", "google.rpc.ErrorInfo"} <= set(invalid["details"])
    assert invalid["domain"] == "revox.campaigns.v1"

    snapshot, change = steps["watch_snapshot"], steps["watch_change"]
    assert snapshot["rows"] == snapshot["row_count"] == 3 and snapshot["resume_token"]
    assert change["type"] == "ROW_CHANGE_TYPE_ROW_MODIFIED"  # no filter: rows only change
    assert int(change["revision"]) > int(snapshot["revision"])
    # Nothing moved between the listing and the watch: the change starts from the listed state.
    listed_status = dict(zip(rows["ids"], rows["statuses"], strict=True))
    assert change["previous_status"] == listed_status[change["row_id"]] != change["status"]

    # What the Node client created is the same campaign to a Python client with its key,
    # and no one else's.
    seen = await stub.GetCampaign(pb.GetCampaignRequest(id=create["id"]), metadata=auth(ALICE))
    assert seen.name == "Node client"
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth(BOB))
    assert create["id"] not in {c.id for c in listed.campaigns}
