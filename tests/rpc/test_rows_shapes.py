"""ListCampaignRows over a real port against the shapes of rows answer the reference leaves
open: every row at once (SDK 0.5.0's drift), ``rows`` null or left out, pages without
``total`` (or with a ``total`` that is not a number), and a ``rows`` that is not a list.
Whatever the upstream does, a page holds ``page_size`` rows while rows remain, and a
token walk meets every row exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth, create_request, error_info
from ..upstream._fakes import FakeRevox, reply, serving

SIZES = [4, 3, 5, 2, 10, 1, 6]  # page_size may change between the calls of one walk


async def _walk(stub: Any, cid: str, total: int) -> list[list[str]]:
    """A token walk; every page must be full while rows remain."""
    pages: list[list[str]] = []
    token, seen, sizes = "", 0, iter(SIZES)
    while True:
        size = next(sizes)
        got = await stub.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id=cid, page_size=size, page_token=token),
            metadata=auth(),
        )
        page = [row.id for row in got.rows]
        assert len(page) == min(size, total - seen), (size, seen, page)
        pages.append(page)
        seen += len(page)
        token = got.next_page_token
        if not token:
            return pages


@pytest.fixture(params=[0, 1], ids=["pages-from-0", "pages-from-1"])
def page_base(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.mark.parametrize("learnt", [False, True], ids=["base-unknown", "base-learnt"])
async def test_an_unpaged_upstream_is_paged_by_the_gateway(
    stub, upstream: Simulator, learnt: bool
) -> None:
    # The upstream turns unpaged (0.5.0) before the gateway could tell its page base, or after.
    cid = (await stub.CreateCampaign(create_request(11), metadata=auth())).id
    if learnt:  # more rows than a page: the gateway learns the base
        await stub.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id=cid, page_size=4), metadata=auth()
        )
    everyone = [r.id for r in (await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=100), metadata=auth()
    )).rows]
    upstream.faults.drift = True  # from now on the upstream answers every row at once
    pages = await _walk(stub, cid, 11)
    assert [r for p in pages for r in p] == everyone
    by_number = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page=1, page_size=4), metadata=auth()
    )
    assert [r.id for r in by_number.rows] == everyone[4:8]
    assert not by_number.HasField("total")  # an unpaged upstream tells no total
    last = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page=2, page_size=4), metadata=auth()
    )
    assert [r.id for r in last.rows] == everyone[8:]
    exact = await stub.ListCampaignRows(  # ends exactly at the last row: nothing follows
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=11), metadata=auth()
    )
    assert len(exact.rows) == 11 and not exact.next_page_token


async def test_a_paged_upstream_walked_by_misaligned_tokens_fills_every_page(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(17), metadata=auth())).id
    pages = await _walk(stub, cid, 17)
    assert len({r for p in pages for r in p}) == 17


# --- a scripted upstream --------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeRevox]:
    async with serving() as fake:
        yield fake


@pytest.fixture
async def scripted(start_gateway, fake: FakeRevox) -> AsyncIterator[Any]:
    async with start_gateway(upstream_url=fake.base_url) as gw, grpc.aio.insecure_channel(
        gw.address
    ) as ch:
        yield campaign_service_pb2_grpc.CampaignServiceStub(ch)


def _rows(*ids: str) -> list[dict[str, Any]]:
    return [{"id": i, "phone_number": "+33612345678", "row_index": n} for n, i in enumerate(ids)]


_NO_TOTAL = object()


def _pages(ids: list[str], total: Any = _NO_TOTAL, base: int = 0) -> Any:
    """Pages by number from ``base``, each with ``page``; ``total`` as given, or left out.
    Page 0 of a base-1 upstream is served as its page 1."""

    async def handle(request: web.Request) -> web.StreamResponse:
        page, size = int(request.query["page"]), int(request.query["page_size"])
        first = max(page - base, 0) * size
        body = {"page": page, "page_size": size, "rows": _rows(*ids[first:first + size])}
        if total is not _NO_TOTAL:
            body["total"] = total
        return reply(200, body).to_response()

    return handle


@pytest.mark.parametrize("body", [
    {"page": 0, "page_size": 5, "rows": None, "total": 0},
    {"page": 0, "page_size": 5, "total": 0},
    {"rows": None},
    {},
])
async def test_rows_null_or_left_out_is_an_empty_page(scripted, fake: FakeRevox, body: Any) -> None:
    fake.script(reply(200, body))
    got = await scripted.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=5), metadata=auth()
    )
    assert list(got.rows) == [] and not got.next_page_token


@pytest.mark.parametrize("rows", ["all of them", {"0": {"id": "r"}}, 3])
async def test_rows_that_are_not_a_list_are_internal_and_say_why(
    scripted, fake: FakeRevox, rows: Any
) -> None:
    fake.script(reply(200, {"page": 0, "page_size": 5, "rows": rows, "total": 1}))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await scripted.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=5), metadata=auth()
        )
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "rows response has no 'rows' array" in info.value.details()
    assert error_info(info.value).metadata["upstream_status"] == "200"


@pytest.mark.parametrize("total", [_NO_TOTAL, None, True, "7", 7.0])
async def test_without_a_numeric_total_a_full_page_means_more(
    scripted, fake: FakeRevox, total: Any
) -> None:
    ids = [f"r{n}" for n in range(7)]
    fake.script(_pages(ids, total))
    first = await scripted.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=7), metadata=auth()
    )
    assert [r.id for r in first.rows] == ids
    assert first.next_page_token  # a full page: rows may follow, the next page tells
    after = await scripted.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=7, page_token=first.next_page_token),
        metadata=auth(),
    )
    assert list(after.rows) == [] and not after.next_page_token
    short = await scripted.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=8), metadata=auth()
    )
    assert len(short.rows) == 7 and not short.next_page_token


@pytest.mark.parametrize("base", [0, 1])
async def test_without_a_total_every_row_is_walked_whatever_the_page_base(
    scripted, fake: FakeRevox, base: int
) -> None:
    ids = [f"r{n}" for n in range(10)]
    fake.script(_pages(ids, base=base))
    seen: list[str] = []
    token = ""
    for _ in range(5):
        got = await scripted.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id="cmp_1", page_size=7, page_token=token),
            metadata=auth(),
        )
        seen += [r.id for r in got.rows]
        token = got.next_page_token
        if not token:
            break
    assert seen == ids
