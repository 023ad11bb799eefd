"""The upstream's page base (0 or 1) is learnt from its answers, never assumed (``_paging``)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.simulator import Simulator
from gateway.upstream import RevoxClient

from ..support import contacts, simulator
from ._fakes import API_KEY, FakeRevox, reply

KEY = "sk_test_paging"


async def _campaign(sim: Simulator, client: RevoxClient, n: int) -> str:
    body = {"assistant_id": "asst_demo", "name": "paging", "contacts": contacts(n)}
    created = await client.create_campaign(KEY, body)
    return str(created["campaign"]["id"])


def _phones(body: dict[str, Any]) -> list[str]:
    return [row["phone_number"] for row in body["rows"]]


@pytest.mark.parametrize("base", [0, 1])
async def test_pages_are_counted_from_zero_whatever_the_upstream_base(base: int) -> None:
    async with simulator(page_base=base) as sim, RevoxClient(sim.base_url) as client:
        cid = await _campaign(sim, client, 120)
        everyone = [c["to_phone_number"] for c in contacts(120)]
        got = []
        for page in range(3):
            body = await client.get_rows(KEY, cid, page=page, page_size=50)
            assert body["page"] == page  # the echo is in the gateway's numbering too
            assert body["total"] == 120
            got.append(_phones(body))
        assert got == [everyone[:50], everyone[50:100], everyone[100:]]
        assert client.page_base == base
        past = await client.get_rows(KEY, cid, page=3, page_size=50)
        assert past["rows"] == [] and past["total"] == 120


@pytest.mark.parametrize("base", [0, 1])
async def test_a_filtered_first_page_is_never_empty_while_total_says_otherwise(base: int) -> None:
    async with simulator(page_base=base) as sim, RevoxClient(sim.base_url) as client:
        cid = await _campaign(sim, client, 30)
        body = await client.get_rows(KEY, cid, page=0, page_size=50, statuses=["initializing"])
        assert body["total"] == 30
        assert len(body["rows"]) == 30


async def test_a_single_page_leaves_the_base_open_and_later_pages_empty() -> None:
    async with simulator(page_base=1) as sim, RevoxClient(sim.base_url) as client:
        cid = await _campaign(sim, client, 5)
        first = await client.get_rows(KEY, cid, page=0, page_size=50)
        assert len(first["rows"]) == 5  # page 0 empty + total 5: the base is 1
        assert client.page_base == 1
    async with simulator(page_base=0) as sim, RevoxClient(sim.base_url) as client:
        cid = await _campaign(sim, client, 5)
        assert len((await client.get_rows(KEY, cid, page=0, page_size=50))["rows"]) == 5
        assert client.page_base is None  # 0 or 1: one page cannot tell
        second = await client.get_rows(KEY, cid, page=1, page_size=50)
        assert second["rows"] == [] and second["page"] == 1 and second["total"] == 5


def _page(ids: list[str], page: int, total: int) -> dict[str, Any]:
    return {"page": page, "page_size": 2, "rows": [{"id": i} for i in ids], "total": total}


async def test_a_refused_page_zero_means_pages_count_from_one(fake_revox: FakeRevox) -> None:
    fake_revox.script(
        reply(422, {"error": {"message": "page must be >= 1", "field": "page"}}),
        reply(200, _page(["a", "b"], 1, 3)),
        reply(200, _page(["c"], 2, 3)),
    )
    async with RevoxClient(fake_revox.base_url) as client:
        first = await client.get_rows(API_KEY, "c", page=0, page_size=2)
        assert [r["id"] for r in first["rows"]] == ["a", "b"] and first["page"] == 0
        second = await client.get_rows(API_KEY, "c", page=1, page_size=2)
        assert [r["id"] for r in second["rows"]] == ["c"] and second["page"] == 1
    assert [r.query["page"] for r in fake_revox.requests] == ["0", "1", "2"]


async def test_page_zero_served_as_page_one_is_recognised(fake_revox: FakeRevox) -> None:
    # An upstream that clamps page 0 to its first page and echoes what it was sent.
    fake_revox.script(
        reply(200, _page(["a", "b"], 0, 3)),
        reply(200, _page(["a", "b"], 1, 3)),
        reply(200, _page(["c"], 2, 3)),
    )
    async with RevoxClient(fake_revox.base_url) as client:
        first = await client.get_rows(API_KEY, "c", page=0, page_size=2)
        second = await client.get_rows(API_KEY, "c", page=1, page_size=2)
        assert client.page_base == 1
    assert [r["id"] for r in first["rows"] + second["rows"]] == ["a", "b", "c"]
    assert [r.query["page"] for r in fake_revox.requests] == ["0", "1", "2"]


async def test_an_echo_of_page_one_for_page_zero_means_base_one(fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(200, _page(["a", "b"], 1, 3)), reply(200, _page(["c"], 2, 3)))
    async with RevoxClient(fake_revox.base_url) as client:
        first = await client.get_rows(API_KEY, "c", page=0, page_size=2)
        assert first["page"] == 0 and client.page_base == 1
        await client.get_rows(API_KEY, "c", page=1, page_size=2)
    assert [r.query["page"] for r in fake_revox.requests] == ["0", "2"]


async def test_a_learnt_base_is_questioned_when_the_first_page_goes_missing(
    fake_revox: FakeRevox,
) -> None:
    fake_revox.script(
        reply(200, _page(["a", "b"], 0, 3)),
        reply(200, _page(["c"], 1, 3)),  # different rows: base 0
        reply(200, _page([], 0, 3)),  # the upstream now counts from 1
        reply(200, _page(["a", "b"], 1, 3)),
    )
    async with RevoxClient(fake_revox.base_url) as client:
        await client.get_rows(API_KEY, "c", page=0, page_size=2)
        assert client.page_base == 0
        again = await client.get_rows(API_KEY, "c", page=0, page_size=2)
        assert [r["id"] for r in again["rows"]] == ["a", "b"]
        assert client.page_base == 1


async def test_an_unpaged_answer_passes_through(fake_revox: FakeRevox) -> None:
    fake_revox.script(reply(200, {"rows": [{"id": "a"}, {"id": "b"}]}))
    async with RevoxClient(fake_revox.base_url) as client:
        body = await client.get_rows(API_KEY, "c", page=0, page_size=1)
    assert body == {"rows": [{"id": "a"}, {"id": "b"}]}
    assert client.page_base is None


async def test_an_unpaged_answer_is_every_row_whatever_page_was_asked(
    fake_revox: FakeRevox,
) -> None:
    # The caller slices an unpaged answer by offset; had page 1 come back empty, a walk over
    # a drifted upstream would lose every row past its first page.
    everyone = {"rows": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    fake_revox.script(reply(200, everyone))
    async with RevoxClient(fake_revox.base_url) as client:
        for page in (1, 2, 7):
            assert await client.get_rows(API_KEY, "c", page=page, page_size=1) == everyone
        assert client.page_base is None
