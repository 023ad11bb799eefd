"""HTTP surface: auth and tenancy, validation, paging, filters, CSV, control API."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from gateway.simulator import Simulator

from ..support import contacts
from .conftest import OTHER_KEY

VALID: dict[str, Any] = {"assistant_id": "asst_v", "name": "valid", "contacts": contacts(2)}


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/campaigns", json={**VALID, **overrides})
    assert r.status_code == 200, r.text
    return r.json()["campaign"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer sk_live_nope"}, {"Authorization": "sk_test_x"},
    {"Authorization": "Basic sk_test_x"}, {"Authorization": "Bearer  x"},
])
async def test_unauthenticated_requests_get_401(sim: Simulator, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as c:
        for method, path in [("GET", "/campaigns"), ("POST", "/campaigns"),
                             ("GET", "/campaigns/cmp_x/rows")]:
            r = await c.request(method, path)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "unauthenticated"


async def test_campaigns_are_private_to_their_organization(sim: Simulator,
                                                           client: httpx.AsyncClient) -> None:
    mine = await _create(client)
    async with httpx.AsyncClient(base_url=sim.base_url,
                                 headers={"Authorization": f"Bearer {OTHER_KEY}"}) as other:
        assert (await other.get("/campaigns")).json() == {"campaigns": []}
        for method, path in [("GET", f"/campaigns/{mine['id']}"),
                             ("GET", f"/campaigns/{mine['id']}/rows"),
                             ("GET", f"/campaigns/{mine['id']}/export"),
                             ("POST", f"/campaigns/{mine['id']}/cancel"),
                             ("DELETE", f"/campaigns/{mine['id']}")]:
            r = await other.request(method, path)
            assert r.status_code == 404, (method, path)
            assert r.json()["error"]["code"] == "not_found"
        theirs = (await other.post("/campaigns", json=VALID)).json()["campaign"]
        assert theirs["organization_id"] != mine["organization_id"]
    assert [c["id"] for c in (await client.get("/campaigns")).json()["campaigns"]] == [mine["id"]]
    assert (await client.get(f"/campaigns/{mine['id']}")).status_code == 200


def _window(**kw: Any) -> dict[str, Any]:
    w = {"calling_window_start_time": "10:00", "calling_window_end_time": "18:00",
         "retry_delay_seconds": 60}
    w.update(kw)
    return {"calling_windows": [w], "max_retry_attempts": 1}


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"assistant_id": 5}, "assistant_id"),
    ({"contacts": None}, "contacts"),
    ({"contacts": []}, "contacts"),
    ({"contacts": "x"}, "contacts"),
    ({"contacts": [{"to_phone_number": "+33612345678", "prompt_variables": {}}, 3]}, "contacts[1]"),
    ({"contacts": contacts(3) + [{"prompt_variables": {}}]}, "contacts[3].to_phone_number"),
    ({"contacts": contacts(3) + [{"to_phone_number": "0612345678", "prompt_variables": {}}]},
     "contacts[3].to_phone_number"),
    ({"contacts": [{"to_phone_number": "+33 6 12 34 56 78", "prompt_variables": {}}]},
     "contacts[0].to_phone_number"),
    ({"contacts": [{"to_phone_number": "+999123456789", "prompt_variables": {}}]},
     "contacts[0].to_phone_number"),
    ({"contacts": [{"to_phone_number": "+33612345678"}]}, "contacts[0].prompt_variables"),
    ({"contacts": [{"to_phone_number": "+33612345678", "prompt_variables": {"a": 1}}]},
     "contacts[0].prompt_variables.a"),
    ({"from_phone_number": "12345"}, "from_phone_number"),
    ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
    ({"max_concurrent_calls": 1.5}, "max_concurrent_calls"),
    ({"scheduled_at": "next tuesday"}, "scheduled_at"),
    ({"scheduled_at": 12}, "scheduled_at"),
    ({"call_retry_config": "x"}, "call_retry_config"),
    ({"call_retry_config": {"max_retry_attempts": 1}}, "call_retry_config.calling_windows"),
    ({"call_retry_config": _window(calling_window_start_time="25:00")},
     "call_retry_config.calling_windows[0].calling_window_start_time"),
    ({"call_retry_config": _window(calling_window_end_time="6 o'clock")},
     "call_retry_config.calling_windows[0].calling_window_end_time"),
    ({"call_retry_config": _window(calling_window_end_time="13pm")},
     "call_retry_config.calling_windows[0].calling_window_end_time"),
    ({"call_retry_config": _window(retry_delay_seconds=-1)},
     "call_retry_config.calling_windows[0].retry_delay_seconds"),
    ({"call_retry_config": {**_window(), "max_retry_attempts": None}},
     "call_retry_config.max_retry_attempts"),
    ({"call_retry_config": {**_window(), "timezone": "Mars/Olympus_Mons"}},
     "call_retry_config.timezone"),
])
async def test_validation_names_the_field(client: httpx.AsyncClient, body: dict[str, Any],
                                          field: str) -> None:
    payload = {**VALID, **body}
    payload = {k: v for k, v in payload.items() if v is not None or k not in ("name", "contacts")}
    r = await client.post("/campaigns", json=payload)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_argument"
    assert error["field"] == field
    assert error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
async def test_malformed_json_body_is_400_on_body(client: httpx.AsyncClient, raw: bytes) -> None:
    r = await client.post("/campaigns", content=raw,
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "body"


async def test_window_formats_and_timezone_are_accepted(client: httpx.AsyncClient) -> None:
    cfg = {"calling_windows": [
        {"calling_window_start_time": "9am", "calling_window_end_time": "6pm",
         "retry_delay_seconds": 60},
        {"calling_window_start_time": "7:30PM", "calling_window_end_time": "21:00",
         "retry_delay_seconds": 60}],
        "max_retry_attempts": 0, "timezone": "America/Los_Angeles"}
    campaign = await _create(client, call_retry_config=cfg,
                             scheduled_at="2026-03-02T12:00:00+02:00")
    assert campaign["call_retry_config"]["timezone"] == "America/Los_Angeles"
    assert campaign["scheduled_at"] == "2026-03-02T10:00:00.000Z"


async def test_paging_is_zero_based(client: httpx.AsyncClient) -> None:
    cid = (await _create(client, contacts=contacts(25)))["id"]
    first = (await client.get(f"/campaigns/{cid}/rows",
                              params={"page": 0, "page_size": 10})).json()
    assert (first["page"], first["page_size"], first["total"]) == (0, 10, 25)
    assert [r["row_index"] for r in first["rows"]] == list(range(10))
    last = (await client.get(f"/campaigns/{cid}/rows",
                             params={"page": 2, "page_size": 10})).json()
    assert [r["row_index"] for r in last["rows"]] == list(range(20, 25))
    beyond = (await client.get(f"/campaigns/{cid}/rows", params={"page": 3, "page_size": 10}))
    assert beyond.json()["rows"] == [] and beyond.json()["total"] == 25
    default = (await client.get(f"/campaigns/{cid}/rows")).json()
    assert (default["page"], default["page_size"], len(default["rows"])) == (0, 50, 25)
    for params, field in [({"page": -1}, "page"), ({"page_size": 1001}, "page_size"),
                          ({"page_size": -5}, "page_size"), ({"page": "x"}, "page"),
                          ({"result": "maybe"}, "result"), ({"statuses": "calling,nope"},
                                                            "statuses")]:
        r = await client.get(f"/campaigns/{cid}/rows", params=params)
        assert r.status_code == 400 and r.json()["error"]["field"] == field


async def test_query_matches_phone_and_prompt_variables(client: httpx.AsyncClient) -> None:
    people = contacts(5) + [{"to_phone_number": "+442071234567",
                            "prompt_variables": {"company": "Big Corp, London"}}]
    cid = (await _create(client, contacts=people))["id"]

    async def q(text: str) -> list[int]:
        body = (await client.get(f"/campaigns/{cid}/rows", params={"query": text})).json()
        return [r["row_index"] for r in body["rows"]]

    assert await q("big corp") == [5]
    assert await q("NAME3") == [3]
    assert await q("+4420712") == [5]
    assert await q("nothing") == []


async def test_csv_export_quotes_every_awkward_value(client: httpx.AsyncClient) -> None:
    nasty = {"first_name": 'Ann "The Hammer"', "company": "A, B and C",
             "note": "line one\nline two\r\nline three", "empty": ""}
    cid = (await _create(client, contacts=[
        {"to_phone_number": "+33612340000", "prompt_variables": nasty},
        {"to_phone_number": "+33612340001", "prompt_variables": {"first_name": "Bo"}}]))["id"]
    body = (await client.get(f"/campaigns/{cid}/export")).json()
    assert set(body) == {"csv", "filename"}
    assert body["filename"] == f"campaign-{cid}-2026-03-02.csv"
    records = list(csv.DictReader(io.StringIO(body["csv"], newline="")))
    assert len(records) == 2
    for key, value in nasty.items():
        assert records[0][key] == value
    assert records[1]["company"] == ""
    assert records[0]["phone_number"] == "+33612340000"
    assert records[0]["status"] == "initializing"


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_control_api_is_unauthenticated_and_uncounted(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as c:
        before = (await c.get("/_simulator/state")).json()
        assert before["request_count"] == 0 and before["clock"] == "manual"
        after = (await c.post("/_simulator/advance", json={"seconds": 90})).json()
        assert after["now_epoch"] == pytest.approx(before["now_epoch"] + 90)
        assert (await c.post("/_simulator/advance", json={"seconds": -1})).status_code == 400
        r = await c.post("/_simulator/faults", json={"faults": [
            {"kind": "error", "count": 1, "status": 502}]})
        assert r.json()["faults"][0]["status"] == 502
        assert (await c.post("/_simulator/faults", json={"kind": "explode"})).status_code == 400
        assert (await c.delete("/_simulator/faults")).json() == {"drift": False, "faults": []}
    assert sim.request_count == 0
