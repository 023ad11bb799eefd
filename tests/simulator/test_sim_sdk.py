"""Done-when #1: the official SDK revox==0.1.1, strict validation, through every method."""

from __future__ import annotations

import csv
import io

import pytest
import revox
from revox import AsyncRevox

from gateway.simulator import Simulator

from .conftest import KEY

RESULTS = ["IVR", "voicemail", "human", "unknown", "ios-screening-filter"]
CALL_STATUSES = ["initializing", "queued_for_calling", "calling", "scheduled", "completed",
                 "cancelled", "errored"]

TRICKY = [
    {"to_phone_number": "+33612340001",
     "prompt_variables": {"first_name": "Zoé", "company": "Acme, Inc.", "note": 'He said "hi"'}},
    {"to_phone_number": "+33612340002",
     "prompt_variables": {"first_name": "Line\nBreak", "company": "O'Brien; \"Quotes\", Ltd"}},
    {"to_phone_number": "+442071234567", "prompt_variables": {"first_name": "Ada"}},
    {"to_phone_number": "+12125550100", "prompt_variables": {"first_name": "Grace"}},
] + [
    {"to_phone_number": f"+3361111{i:04d}", "prompt_variables": {"first_name": f"P{i}"}}
    for i in range(40)
]


async def test_sdk_every_campaign_method_validates(sim: Simulator) -> None:
    client = AsyncRevox(api_key=KEY, base_url=sim.base_url, max_retries=0,
                        _strict_response_validation=True)
    async with client:
        created = await client.campaigns.create(
            assistant_id="asst_sdk", name="SDK round trip", contacts=TRICKY,
            max_concurrent_calls=8, from_phone_number="+14155550199",
            call_retry_config={
                "calling_windows": [{"calling_window_start_time": "9am",
                                     "calling_window_end_time": "18:00",
                                     "retry_delay_seconds": 600}],
                "max_retry_attempts": 2,
                "timezone": "Europe/Paris",
            },
        )
        campaign = created.campaign
        assert campaign.id.startswith("cmp_")
        assert campaign.status == "running"
        assert campaign.assistant is not None and campaign.assistant.id == "asst_sdk"
        assert campaign.row_stats is not None and campaign.row_stats.total == len(TRICKY)
        assert campaign.organization_id.startswith("org_") and KEY not in campaign.organization_id

        listed = await client.campaigns.list()
        assert [c.id for c in listed.campaigns] == [campaign.id]

        # Let calls happen so that results, transcripts and structured output exist.
        for _ in range(60):
            await sim.advance(60)
        retrieved = (await client.campaigns.retrieve(campaign.id)).campaign
        assert retrieved.id == campaign.id and retrieved.row_stats is not None

        everything = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000)
        assert everything.total == len(TRICKY) and everything.page == 0
        assert all(r.call is not None for r in everything.rows)
        assert any(r.call and r.call.last_call_attempt and r.call.last_call_attempt.transcript
                   for r in everything.rows)
        assert any(r.call and r.call.last_call_attempt and
                   r.call.last_call_attempt.structured_output for r in everything.rows)

        q = await client.campaigns.get_rows(campaign.id, page=0, page_size=50, query="acme")
        assert [r.phone_number for r in q.rows] == ["+33612340001"]
        q = await client.campaigns.get_rows(campaign.id, page=0, page_size=50, query="+4420")
        assert [r.phone_number for r in q.rows] == ["+442071234567"]

        counted = 0
        for result in RESULTS:
            page = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000,
                                                   result=result)  # type: ignore[arg-type]
            for row in page.rows:
                assert row.call and row.call.last_call_attempt
                assert row.call.last_call_attempt.result == result
            counted += page.total
        none = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000, result="none")
        assert all(r.call is None or r.call.last_call_attempt is None
                   or r.call.last_call_attempt.result is None for r in none.rows)
        assert counted + none.total == len(TRICKY)
        all_rows = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000,
                                                   result="all")
        assert all_rows.total == len(TRICKY)

        by_status = 0
        for status in CALL_STATUSES:
            page = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000,
                                                   statuses=status)
            assert all(r.call and r.call.status == status for r in page.rows)
            by_status += page.total
        assert by_status == len(TRICKY)
        multi = await client.campaigns.get_rows(campaign.id, page=0, page_size=1000,
                                                statuses="completed,errored")
        assert all(r.call and r.call.status in ("completed", "errored") for r in multi.rows)

        export = await client.campaigns.export_rows(campaign.id)
        assert export.filename.startswith(f"campaign-{campaign.id}-")
        records = list(csv.DictReader(io.StringIO(export.csv)))
        assert len(records) == len(TRICKY)
        assert records[1]["first_name"] == "Line\nBreak"
        assert records[1]["company"] == "O'Brien; \"Quotes\", Ltd"
        assert records[0]["note"] == 'He said "hi"'

        assert (await client.campaigns.cancel(campaign.id)).success is True
        after = (await client.campaigns.retrieve(campaign.id)).campaign
        assert after.is_cancelled is True

        assert (await client.campaigns.delete(campaign.id)).success is True
        with pytest.raises(revox.NotFoundError):
            await client.campaigns.retrieve(campaign.id)
        assert (await client.campaigns.list()).campaigns == []
