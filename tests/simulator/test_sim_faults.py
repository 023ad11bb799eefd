"""Fault injection (each kind, scoping, ratios) and the SDK 0.5.0 drift mode."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.simulator import Faults, Simulator, SimulatorConfig

from ..support import contacts


async def test_fail_next_n_with_status(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.fail_next(2, status=502)
    for _ in range(2):
        r = await client.get("/campaigns")
        assert r.status_code == 502 and r.json()["error"]["code"] == "internal"
    assert (await client.get("/campaigns")).status_code == 200
    assert sim.faults.rules == []  # spent rules are removed


async def test_rate_limit_sends_retry_after(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.rate_limit_next(1, retry_after=7)
    r = await client.get("/campaigns")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["error"]["code"] == "rate_limited"
    assert (await client.get("/campaigns")).status_code == 200


async def test_dropped_connection(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/campaigns")
    assert (await client.get("/campaigns")).status_code == 200
    assert sim.request_count == 2


async def test_malformed_json(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.malformed_next(1)
    r = await client.get("/campaigns")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert (await client.get("/campaigns")).json() == {"campaigns": []}


async def test_latency_is_added_and_scoped(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.add_latency(2.0, method="GET", path="/campaigns/")
    await client.get("/campaigns", timeout=1.0)  # not under "/campaigns/": not delayed
    with pytest.raises(httpx.ReadTimeout):  # delayed past what this client waits
        await client.get("/campaigns/cmp_missing", timeout=0.3)


async def test_scope_by_method_and_path(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.fail_next(1, status=500, method="POST", path="/campaigns")
    assert (await client.get("/campaigns")).status_code == 200
    body = {"assistant_id": "a", "name": "n", "contacts": contacts(1)}
    assert (await client.post("/campaigns", json=body)).status_code == 500
    assert (await client.post("/campaigns", json=body)).status_code == 200


def test_ratio_is_seeded_and_validated() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.fail_ratio(0.5)
        return [faults.pick("GET", "/campaigns")[1] is not None for _ in range(40)]

    assert pattern(1) == pattern(1)
    assert 5 < sum(pattern(1)) < 35
    faults = Faults()
    for status in (302, 600):  # injected errors are 4xx (a 409, a 404) or 5xx
        with pytest.raises(ValueError):
            faults.set("error", status=status)
    with pytest.raises(ValueError):
        faults.set("teleport")
    with pytest.raises(ValueError):
        faults.set("error", ratio=2)


async def test_config_faults_and_control_api() -> None:
    config = SimulatorConfig(clock="manual", error_rate=1.0, error_status=504)
    async with Simulator(config) as sim, httpx.AsyncClient(
            base_url=sim.base_url, headers={"Authorization": "Bearer sk_test_z"}) as c:
        assert (await c.get("/campaigns")).status_code == 504
        assert (await c.delete("/_simulator/faults")).status_code == 200
        assert (await c.get("/campaigns")).status_code == 200
        await c.post("/_simulator/faults", json={"kind": "rate_limit", "count": 1,
                                                 "retry_after": 3})
        r = await c.get("/campaigns")
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"


async def test_drift_shapes(sim: Simulator, client: httpx.AsyncClient) -> None:
    later = "2030-01-01T00:00:00Z"
    draft = (await client.post("/campaigns", json={
        "assistant_id": "asst_d", "name": "d", "contacts": contacts(3),
        "scheduled_at": later})).json()["campaign"]
    assert draft["status"] == "draft"
    cid = (await client.post("/campaigns", json={
        "assistant_id": "asst_d", "name": "r", "contacts": contacts(30),
        "max_concurrent_calls": 5})).json()["campaign"]["id"]
    await sim.advance(240)
    await client.post(f"/campaigns/{draft['id']}/cancel")
    sim.faults.drift = True

    d = (await client.get(f"/campaigns/{draft['id']}")).json()["campaign"]
    assert d["status"] in ("running", "completed")  # 0.5.0 has no draft
    assert {"not_launched", "skipped"} <= set(d["row_stats"])
    assert {"funnel_stats", "created_by", "metadata_keys"} <= set(d)
    assistant = d["assistant"]
    assert {"sms_enabled", "stt_model", "type", "background_sound_volume",
            "thinking_sound_probability", "thinking_sound_volume"} <= set(assistant)
    assert set(assistant["call_retry_config"] or {"allowed_days": 1}) >= {"allowed_days"}

    body = (await client.get(f"/campaigns/{draft['id']}/rows")).json()
    assert set(body) == {"rows"}  # no pagination in 0.5.0
    assert {r["call"]["status"] for r in body["rows"]} == {"not_launched"}

    rows = (await client.get(f"/campaigns/{cid}/rows")).json()["rows"]
    assert len(rows) == 30
    call = rows[0]["call"]
    assert {"contact", "updated_at", "prompt_variables"} <= set(call)
    attempted = [r for r in rows if r["call"]["call_attempts"]]
    assert attempted and all({"handled_by_ai", "handled_by_human"} <=
                             set(r["call"]["call_attempts"][0]) for r in attempted)
    # post_processing shows up at some point while calls end.
    seen = set()
    for _ in range(120):
        await sim.advance(2)
        seen |= {r["call"]["status"] for r in
                 (await client.get(f"/campaigns/{cid}/rows")).json()["rows"]}
        if "post_processing" in seen:
            break
    assert "post_processing" in seen
    providers = set()
    for i in range(12):
        cmp = (await client.post("/campaigns", json={
            "assistant_id": f"asst_v{i}", "name": "v", "contacts": contacts(1)})).json()
        providers.add(cmp["campaign"]["assistant"]["voice"]["provider"])
    assert "gradium" in providers

    sim.faults.drift = False
    plain = (await client.get(f"/campaigns/{cid}/rows")).json()
    assert set(plain) == {"page", "page_size", "rows", "total"}
    assert "post_processing" not in {r["call"]["status"] for r in plain["rows"]}


async def test_drift_status_literals_rename_rows_and_filters(sim: Simulator,
                                                             client: httpx.AsyncClient) -> None:
    """A literal newer than every contract, for the gateway's drift tests: rendered in rows
    and honoured by the statuses filter, only in drift mode."""
    cid = (await client.post("/campaigns", json={
        "assistant_id": "asst_l", "name": "l", "contacts": contacts(4),
        "max_concurrent_calls": 1})).json()["campaign"]["id"]
    await sim.advance(5)
    sim.faults.drift_status_literals = {"queued_for_calling": "waiting_in_line"}
    plain = (await client.get(f"/campaigns/{cid}/rows")).json()["rows"]
    queued = {r["id"] for r in plain if r["call"]["status"] == "queued_for_calling"}
    assert queued  # one line, four rows: some wait; without drift nothing is renamed
    assert (await client.get(f"/campaigns/{cid}/rows",
                             params={"statuses": "waiting_in_line"})).status_code == 400

    sim.faults.configure({"drift": True})
    rows = (await client.get(f"/campaigns/{cid}/rows")).json()["rows"]
    assert {r["id"] for r in rows if r["call"]["status"] == "waiting_in_line"} == queued
    assert "queued_for_calling" not in {r["call"]["status"] for r in rows}
    waiting = (await client.get(f"/campaigns/{cid}/rows",
                                params={"statuses": "waiting_in_line"})).json()["rows"]
    assert {r["id"] for r in waiting} == queued
    assert (await client.get(f"/campaigns/{cid}/rows",
                             params={"statuses": "queued_for_calling"})).json()["rows"] == []
    assert sim.faults.to_dict()["drift_status_literals"] == {
        "queued_for_calling": "waiting_in_line"}

    sim.faults.clear()
    assert sim.faults.drift_status_literals == {}
    assert "drift_status_literals" not in sim.faults.to_dict()
    with pytest.raises(ValueError):
        sim.faults.configure({"drift_status_literals": {"calling": 3}})
    sim.faults.configure({"drift": True, "drift_status_literals": {"calling": "dialing"}})
    assert sim.faults.drift_status_literals == {"calling": "dialing"}
