"""Scale: a campaign of many contacts is created, initialised and paged whole (the
figures, 100,000 contacts timed, are ``make bench``'s: tests/simulator/bench_simulator.py)."""

from __future__ import annotations

import httpx

from ..support import simulator

N = 20_000


async def test_many_contacts_are_created_initialised_and_paged() -> None:
    people = [{"to_phone_number": f"+3361{i:07d}", "prompt_variables": {"first_name": f"N{i}"}}
              for i in range(N)]
    async with simulator(seed=5) as sim, \
            httpx.AsyncClient(base_url=sim.base_url, timeout=60,
                              headers={"Authorization": "Bearer sk_test_scale"}) as c:
        r = await c.post("/campaigns", json={"assistant_id": "a", "name": "big",
                                             "contacts": people})
        assert r.status_code == 200
        cid = r.json()["campaign"]["id"]
        assert r.json()["campaign"]["row_stats"]["total"] == N

        await sim.advance(10)  # initialisation of every row + first calls
        stats = (await c.get(f"/campaigns/{cid}")).json()["campaign"]["row_stats"]
        assert stats["total"] == N and stats["pending"] + stats["calling"] + \
            stats["completed"] + stats["failed"] + stats["retry"] == N

        first = (await c.get(f"/campaigns/{cid}/rows",
                             params={"page": 0, "page_size": 1000})).json()
        last = (await c.get(f"/campaigns/{cid}/rows",
                            params={"page": N // 1000 - 1, "page_size": 1000})).json()
        assert first["rows"][0]["row_index"] == 0
        assert last["rows"][-1]["row_index"] == N - 1 and last["total"] == N
        await sim.advance(600)  # the engine only touches due events, not idle rows
