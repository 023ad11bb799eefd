"""The README's grpcurl walkthrough, executed verbatim with the grpcurl binary."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from gateway.app import Gateway
from gateway.config import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", readme, re.S)
    assert block, "README has no walkthrough block"
    return block.group(1)


async def test_readme_walkthrough_runs_against_the_gateway(settings: Settings) -> None:
    async with Gateway(replace(settings, api_key="sk_test_readme")) as gw:
        script = "set -euo pipefail\n" + walkthrough().replace("localhost:50051", gw.address)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", script, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode() + err.decode()
    assert proc.returncode == 0, text
    assert "revox.campaigns.v1.CampaignService" in text
    assert '"status": "SERVING"' in text
    assert text.count('"name": "Demo"') >= 2
    assert "contacts[0].to_phone_number" in text  # the BadRequest detail, decoded by grpcurl
    assert '"csv_chunk"' in text and '"filename"' in text
    assert '"is_cancelled": true' in text
    # describe prints the proto's comments (reflection with source info)
    assert "rpc WatchCampaignRows" in text and "Streams changes to a campaign's rows" in text
    assert "bound to `campaign_id`, `query`, `result`" in text
    # read_mask: the masked Get holds its three fields and no assistant
    masked = re.search(r'\{\s*"id": "[^"]+",\s*"status": "[A-Z_]+",\s*"row_stats": \{\s*"total": 2\s*\}\s*\}', text)
    assert masked, text


async def test_grpcurl_can_watch_a_campaign(settings: Settings) -> None:
    import grpc

    from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

    from ..support import create_request

    async with Gateway(replace(settings, api_key="sk_test_readme")) as gw:
        async with grpc.aio.insecure_channel(gw.address) as ch:
            cid = (await campaign_service_pb2_grpc.CampaignServiceStub(ch).CreateCampaign(create_request(2))).id
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = await asyncio.create_subprocess_exec(
            "grpcurl", "-plaintext", "-max-time", "3", "-d", f'{{"campaign_id": "{cid}"}}', gw.address,
            "revox.campaigns.v1.CampaignService/WatchCampaignRows", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert text.count("ROW_CHANGE_TYPE_ROW_ADDED") == 2
    assert '"snapshot_complete"' in text and '"resume_token"' in text
