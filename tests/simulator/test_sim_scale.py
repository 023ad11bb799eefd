"""Scale: 100,000 contacts are created and paged without the simulator being the bottleneck."""

from __future__ import annotations

import time

import httpx

from gateway.simulator import Simulator, SimulatorConfig

N = 100_000


async def test_hundred_thousand_contacts() -> None:
    people = [{"to_phone_number": f"+3361{i:07d}", "prompt_variables": {"first_name": f"N{i}"}}
              for i in range(N)]
    async with Simulator(SimulatorConfig(seed=5, clock="manual")) as sim, \
            httpx.AsyncClient(base_url=sim.base_url, timeout=60,
                              headers={"Authorization": "Bearer sk_test_scale"}) as c:
        t = time.perf_counter()
        r = await c.post("/campaigns", json={"assistant_id": "a", "name": "big",
                                             "contacts": people})
        create_s = time.perf_counter() - t
        assert r.status_code == 200
        cid = r.json()["campaign"]["id"]
        assert r.json()["campaign"]["row_stats"]["total"] == N
        assert create_s < 10, create_s

        t = time.perf_counter()
        await sim.advance(10)  # initialisation of 100k rows + first calls
        assert time.perf_counter() - t < 5
        stats = (await c.get(f"/campaigns/{cid}")).json()["campaign"]["row_stats"]
        assert stats["total"] == N and stats["pending"] + stats["calling"] + \
            stats["completed"] + stats["failed"] + stats["retry"] == N

        t = time.perf_counter()
        first = (await c.get(f"/campaigns/{cid}/rows",
                             params={"page": 0, "page_size": 1000})).json()
        last = (await c.get(f"/campaigns/{cid}/rows",
                            params={"page": N // 1000 - 1, "page_size": 1000})).json()
        assert time.perf_counter() - t < 5
        assert first["rows"][0]["row_index"] == 0
        assert last["rows"][-1]["row_index"] == N - 1 and last["total"] == N
        await sim.advance(600)  # the engine only touches due events, not idle rows
