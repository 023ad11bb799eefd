"""No personal data in the gateway's logs: a whole campaign lifecycle and a watch, with
every logger at DEBUG, leave no contact's phone number (E.164, URL-encoded or bare
digits) and no prompt variable value in any log record."""

from __future__ import annotations

import logging

import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, driving, until_final, until_snapshot_complete

NUMBERS = ("+14155550187", "+33698765432", "+447700900461")
VARIABLES = (
    {"first_name": "Zebulon-Quartz", "policy": "PX-77810-Q"},
    {"first_name": "Ottoline-Vane", "policy": "PX-99213-V"},
    {"first_name": "Wilhelmina-Okoro", "policy": "PX-31337-O"},
)


def _secrets() -> list[str]:
    found: list[str] = []
    for number in NUMBERS:
        found += [number, "%2B" + number[1:], "%2b" + number[1:], number[1:]]
    for variables in VARIABLES:
        found += variables.values()
    return found


def _text(record: logging.LogRecord) -> str:
    """All a handler could write of ``record``: message, raw args, traceback."""
    return "\n".join((logging.Formatter().format(record), str(record.msg), repr(record.args)))


def _searches(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """httpx's request lines of rows searched by text (ListCampaignRows, the poller's lookups)."""
    return [r for r in caplog.records if r.name == "httpx" and "query=" in r.getMessage()]


async def test_a_lifecycle_and_a_watch_log_no_personal_data(
    stub, upstream: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger without its own level
    for name in ("httpx", "httpcore", "gateway", "aiohttp", "grpc"):
        caplog.set_level(logging.DEBUG, logger=name)
    request = create_request(3, request_id="privacy-1")
    for contact, number, variables in zip(request.contacts, NUMBERS, VARIABLES, strict=True):
        contact.to_phone_number = number
        contact.prompt_variables.clear()
        contact.prompt_variables.update(variables)

    cid = (await stub.CreateCampaign(request, metadata=auth())).id
    await stub.CreateCampaign(request, metadata=auth())  # the idempotent replay
    await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
    await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    for query in (NUMBERS[0], VARIABLES[1]["policy"]):
        rows = await stub.ListCampaignRows(pb.ListCampaignRowsRequest(campaign_id=cid, query=query), metadata=auth())
        assert len(rows.rows) == 1
    async for _ in stub.ExportCampaignRows(pb.ExportCampaignRowsRequest(campaign_id=cid), metadata=auth()):
        pass

    # The watch's poller looks rows that left its listing up by phone number.
    searched = len(_searches(caplog))
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    await until_snapshot_complete(stream)
    async with driving(upstream):
        await until_final(stream, [])
    stream.cancel()
    assert len(_searches(caplog)) > searched, "the poller looked no row up: the test would prove nothing"

    await stub.CancelCampaign(pb.CancelCampaignRequest(id=cid), metadata=auth())
    await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=cid), metadata=auth())

    assert len(caplog.records) > 10
    leaks = [
        (record.name, record.levelname, secret)
        for record in caplog.records
        for secret in _secrets()
        if secret in _text(record)
    ]
    assert not leaks, sorted(set(leaks))
    # Redacted, not dropped: the line still says which page of which listing was read.
    assert all("query=[REDACTED]" in r.getMessage() and "page_size=" in r.getMessage() for r in _searches(caplog))
