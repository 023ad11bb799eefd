"""Several API keys of one organization, and revoked keys.

Why: a real Revox organization has several API keys, and a key can be revoked while its
teammates' keys keep working. The gateway's watch poller fails over between subscribers'
keys, so the simulator must model both, or that failover cannot be tested.
"""

from __future__ import annotations

import httpx
import pytest

from gateway.simulator import Simulator

from ..support import contacts
from .conftest import KEY, OTHER_KEY

TEAMMATE = "sk_test_teammate"


def _as(sim: Simulator, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {key}"})


async def test_added_key_shares_the_organization(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.add_key(TEAMMATE, organization_of=KEY)
    body = {"assistant_id": "asst_k", "name": "shared", "contacts": contacts(2)}
    mine = (await client.post("/campaigns", json=body)).json()["campaign"]
    async with _as(sim, TEAMMATE) as mate, _as(sim, OTHER_KEY) as stranger:
        got = await mate.get(f"/campaigns/{mine['id']}")
        assert got.status_code == 200
        assert got.json()["campaign"]["organization_id"] == mine["organization_id"]
        assert (await mate.get(f"/campaigns/{mine['id']}/rows")).json()["total"] == 2
        theirs = (await mate.post("/campaigns", json=body)).json()["campaign"]
        assert {c["id"] for c in (await client.get("/campaigns")).json()["campaigns"]} == {
            mine["id"], theirs["id"]}
        assert (await stranger.get(f"/campaigns/{mine['id']}")).status_code == 404
    assert sim.state()["organizations"] == 2  # KEY's (shared) and OTHER_KEY's


async def test_add_key_refuses_a_key_in_use_or_not_a_test_key(sim: Simulator,
                                                              client: httpx.AsyncClient) -> None:
    async with _as(sim, OTHER_KEY) as other:
        assert (await other.get("/campaigns")).status_code == 200  # OTHER_KEY has its own org
    with pytest.raises(ValueError):
        sim.add_key(OTHER_KEY, organization_of=KEY)
    with pytest.raises(ValueError):
        sim.add_key("sk_live_nope", organization_of=KEY)
    sim.add_key(TEAMMATE, organization_of=KEY)
    with pytest.raises(ValueError):
        sim.add_key(TEAMMATE, organization_of=OTHER_KEY)


async def test_revoked_key_gets_401_and_teammates_keep_working(sim: Simulator,
                                                                client: httpx.AsyncClient) -> None:
    sim.add_key(TEAMMATE, organization_of=KEY)
    body = {"assistant_id": "asst_k", "name": "shared", "contacts": contacts(1)}
    cid = (await client.post("/campaigns", json=body)).json()["campaign"]["id"]
    sim.revoke_key(KEY)
    for method, path in [("GET", "/campaigns"), ("GET", f"/campaigns/{cid}"),
                         ("GET", f"/campaigns/{cid}/rows"), ("POST", f"/campaigns/{cid}/cancel")]:
        r = await client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.json()["error"]["code"] == "unauthenticated"
        assert KEY not in r.text
    async with _as(sim, TEAMMATE) as mate:
        assert (await mate.get(f"/campaigns/{cid}/rows")).status_code == 200
        sim.revoke_key(TEAMMATE)
        assert (await mate.get(f"/campaigns/{cid}")).status_code == 401
    r = await client.get("/_simulator/state")  # the control API needs no key
    assert r.status_code == 200 and r.json()["campaigns"] == 1
