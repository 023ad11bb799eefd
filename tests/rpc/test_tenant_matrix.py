"""Tenant isolation across every rpc (``python -m tests.reliability.isolation``, with the
upstream up and then stopped): Bob, calling every method of the service against
Alice's campaigns, request_ids, page tokens and resume token (and against his own), on
a gateway that holds Alice's data in its cache, watch log and idempotency table, with
her watch open, receives not one byte of her ids, names, numbers or variables."""

from __future__ import annotations

from pathlib import Path

from ..reliability.isolation import matrix
from ..reliability.stand import SERVICE


async def test_no_byte_of_one_tenant_reaches_another_on_any_rpc(tmp_path: Path) -> None:
    cells = await matrix(tmp_path, states=("up", "stopped"))
    assert {(c.rpc, c.state) for c in cells} == {
        (m.name, s) for m in SERVICE.methods for s in ("up", "stopped")}
    leaks = [leak for c in cells for leak in c.leaks]
    assert sum(c.leaked for c in cells) == 0, "\n".join(leaks)
    # Bob was answered, not just refused: his own campaign and list came back, and
    # Alice's campaigns were NOT_FOUND for him while the upstream was up.
    up = {c.rpc: c for c in cells if c.state == "up"}
    assert up["GetCampaign"].codes["OK"] >= 1 and up["GetCampaign"].codes["NOT_FOUND"] >= 2
    assert up["ListCampaigns"].codes["OK"] >= 1
    assert all(c.received > 0 for c in cells)
