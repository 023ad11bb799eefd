"""Bytes per watch event with and without a read mask (issue 13).

A dashboard that needs each row's call status should not receive the ~90-line assistant
with every event. Two watches of the same campaign, one unmasked and one with
``read_mask: id,call.status``, follow it from its snapshot until every call is final; the
suite reports the serialized size of their row_change messages and how many each got
(a masked watch also skips the modifications of fields it does not show). Sizes are
deterministic: no timing is involved.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator, SimulatorConfig
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ._common import AUTH, Options, SuiteResult, table

MASK = ("id", "call.status")


async def _follow(stream: Any, sizes: list[int]) -> None:
    async with asyncio.timeout(120):
        async for message in stream:
            if message.WhichOneof("event") == "row_change":
                sizes.append(message.ByteSize())
            elif message.heartbeat.campaign_final:
                return


async def _measure(rows: int) -> dict[str, list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = SimulatorConfig(seed=3, clock="manual", ignore_windows=True)
        async with Simulator(config) as sim:
            settings = Settings(
                listen="127.0.0.1:0", upstream_url=sim.base_url,
                database_url=sqlite_url(Path(tmp) / "bench.db"), poll_interval=0.05,
                max_poll_interval=0.2,
            )
            async with Gateway(settings) as gw, grpc.aio.insecure_channel(gw.address) as ch:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
                contacts = [
                    pb.Contact(to_phone_number=f"+336123{i:05d}", prompt_variables={"n": str(i)})
                    for i in range(rows)
                ]
                created = await stub.CreateCampaign(
                    pb.CreateCampaignRequest(assistant_id="asst_demo", name="bench", contacts=contacts),
                    metadata=AUTH,
                )
                sizes: dict[str, list[int]] = {"unmasked": [], "masked": []}
                plain = stub.WatchCampaignRows(
                    pb.WatchCampaignRowsRequest(campaign_id=created.id), metadata=AUTH
                )
                masked = stub.WatchCampaignRows(
                    pb.WatchCampaignRowsRequest(
                        campaign_id=created.id, read_mask=field_mask_pb2.FieldMask(paths=MASK)
                    ),
                    metadata=AUTH,
                )
                followers = [
                    asyncio.create_task(_follow(plain, sizes["unmasked"])),
                    asyncio.create_task(_follow(masked, sizes["masked"])),
                ]
                while not all(f.done() for f in followers):
                    await sim.advance(60)
                    await asyncio.wait(followers, timeout=0.05)
                await asyncio.gather(*followers)
                return sizes


def run(opts: Options) -> SuiteResult:
    rows = 20 if opts.quick else 100
    sizes = asyncio.run(_measure(rows))
    plain, masked = sizes["unmasked"], sizes["masked"]
    body = table(
        ["watch", "row_change events", "median bytes/event", "total bytes"],
        [
            ["no read_mask", f"{len(plain)}", f"{statistics.median(plain):,.0f}", f"{sum(plain):,}"],
            [f"read_mask {','.join(MASK)}", f"{len(masked)}", f"{statistics.median(masked):,.0f}",
             f"{sum(masked):,}"],
        ],
    )
    ratio = sum(plain) / max(1, sum(masked))
    markdown = (
        f"## Read masks: bytes per watch event ({rows} rows, snapshot to final)\n\n{body}\n\n"
        f"The masked watch received {ratio:,.0f}x fewer bytes "
        f"({statistics.median(plain) / statistics.median(masked):,.0f}x per event)."
    )
    return SuiteResult(markdown, [(
        "a read mask shrinks watch traffic", ratio > 10, f"{ratio:,.0f}x fewer bytes with {MASK}"
    )])
