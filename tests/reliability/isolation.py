"""``python -m tests.reliability.isolation``: tenant isolation across every rpc, from a real run.

Two tenants of one gateway (two API keys, which the simulator makes two organizations).
Alice creates campaigns whose every name, phone number, prompt variable value,
assistant id and ``request_id`` is a distinctive string, reads them (so that the cache,
the watch log and the idempotency table hold them) and keeps a watch of one open
throughout. Then, for EVERY method of CampaignService (taken from the service
descriptor), Bob calls it against Alice's resources (her campaign ids, her
``request_id`` with her very body, her page tokens, her resume token, on her campaign
and on his) and against his own, with the upstream

- **up**;
- **503**: the simulator answers every API request 503 (a gateway serves what it cached);
- **stopped**: the simulator is gone (connections refused).

Every byte Bob receives is kept: the messages, the status message, the trailing
metadata (with ``grpc-status-details-bin``, the error details). The figure per rpc and
upstream state is how many bytes of Alice's distinctive strings occur in them, leaving
out those Bob sent himself in that request (an id he asked about may be echoed back).
Besides the explicit calls, every string field of every request message is set, one
at a time, to each of Alice's ids and tokens, so a new rpc or field is covered without
a change here. Exit 1 on any cross-tenant byte.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from generated.revox.campaigns.v1 import campaign_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import ALICE, BOB
from .stand import SERVICE, Answer, Stand

__all__ = ["STATES", "Cell", "Tenant", "main", "matrix"]

STATES = ("up", "503", "stopped")


@dataclass
class Tenant:
    """What one tenant created and was handed: ids, tokens, and the strings that are
    his alone (``secrets``)."""

    key: str
    tag: str
    campaigns: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    bodies: list[pb.CreateCampaignRequest] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    def create_request(self, i: int) -> pb.CreateCampaignRequest:
        mark = uuid.uuid4().hex[:10]
        digits = f"{abs(hash((self.tag, mark))) % 10**6:06d}"
        phones = [f"+336{digits}{n:02d}" for n in range(3)]
        request = pb.CreateCampaignRequest(
            assistant_id=f"asst_{self.tag}_{mark}", name=f"{self.tag.upper()}-NAME-{mark}",
            request_id=f"{self.tag}-req-{mark}",
            contacts=[pb.Contact(to_phone_number=p, prompt_variables={"secret": f"{self.tag}-VAR-{mark}-{n}"})
                      for n, p in enumerate(phones)])
        self.secrets |= {request.assistant_id, request.name, request.request_id, *phones,
                         *(p[1:] for p in phones), *(c.prompt_variables["secret"] for c in request.contacts)}
        return request


@dataclass
class Cell:
    """One rpc under one upstream state: Bob's calls, and what of Alice's he received."""

    rpc: str
    state: str
    calls: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    received: int = 0  # bytes Bob received
    leaked: int = 0  # bytes of Alice's strings among them
    leaks: list[str] = field(default_factory=list)

    def line(self) -> str:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items(), key=lambda kv: -kv[1]))
        return f"| {self.rpc} | {self.state} | {self.calls} | {codes} | {self.received} | {self.leaked} |"


HEADER = ("| rpc | upstream | Bob's calls | codes Bob got | bytes Bob received | cross-tenant bytes |"
          "\n|---|---|---|---|---|---|")


def _m(name: str) -> MethodDescriptor:
    return SERVICE.methods_by_name[name]


async def _ok(stand: Stand, name: str, request: Message, key: str, **kw: float) -> Answer:
    answer = await stand.call(_m(name), request.SerializeToString(), key=key, **kw)
    assert answer.code == "OK", (name, answer.code, answer.details)
    return answer


async def populate(stand: Stand, tenant: Tenant, n: int = 2) -> None:
    """Creates ``n`` campaigns and reads them through every cached path (her list, each
    campaign, its rows, a watch) so the gateway holds them; keeps the tokens handed out."""
    for i in range(n):
        body = tenant.create_request(i)
        reply = await _ok(stand, "CreateCampaign", body, tenant.key)
        created = campaign_pb2.Campaign.FromString(reply.messages[0])
        tenant.campaigns.append(created.id)
        tenant.request_ids.append(body.request_id)
        tenant.bodies.append(body)
        tenant.secrets.add(created.id)
    first = tenant.campaigns[0]
    listed = await _ok(stand, "ListCampaigns", pb.ListCampaignsRequest(page_size=1), tenant.key)
    rows = await _ok(stand, "ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=first, page_size=1),
                     tenant.key)
    for row in pb.ListCampaignRowsResponse.FromString(rows.messages[0]).rows:
        tenant.secrets.add(row.id)
    watch = await _ok(stand, "WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id=first),
                      tenant.key, stream_timeout=5)
    for cid in tenant.campaigns:
        await _ok(stand, "GetCampaign", pb.GetCampaignRequest(id=cid), tenant.key)
    tenant.tokens = {
        "campaigns": pb.ListCampaignsResponse.FromString(listed.messages[0]).next_page_token,
        "rows": pb.ListCampaignRowsResponse.FromString(rows.messages[0]).next_page_token,
        "watch": pb.WatchCampaignRowsResponse.FromString(watch.messages[0]).resume_token,
    }


def explicit(alice: Tenant, bob: Tenant) -> Iterator[tuple[str, Message]]:
    """Bob's calls on Alice's resources and on his own, per rpc (by name)."""
    a, b = alice.campaigns, bob.campaigns
    t = alice.tokens
    # Reads first: a create or delete of his drops his cached list, which a down
    # upstream would otherwise serve stale.
    for page_token in ("", t["campaigns"]):
        for skip in (False, True):
            yield "ListCampaigns", pb.ListCampaignsRequest(page_token=page_token, skip_cache=skip)
    for cid in (*a, b[0]):
        yield "GetCampaign", pb.GetCampaignRequest(id=cid)
        yield "GetCampaign", pb.GetCampaignRequest(id=cid, skip_cache=True)
        yield "ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=cid)
        yield "ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=cid, page_token=t["rows"])
        yield "ExportCampaignRows", pb.ExportCampaignRowsRequest(campaign_id=cid)
        yield "WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id=cid)
        yield "WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=t["watch"])
    for cid in (*a, b[-1]):  # his last campaign is the one he may cancel and delete
        yield "CancelCampaign", pb.CancelCampaignRequest(id=cid)
        yield "DeleteCampaign", pb.DeleteCampaignRequest(id=cid)
    # Her first request as it was, request_id and all (a replay across tenants would
    # answer her campaign); her second request_id on a body of his.
    yield "CreateCampaign", alice.bodies[0]
    mine = pb.CreateCampaignRequest()
    mine.CopyFrom(bob.bodies[0])
    mine.request_id = alice.request_ids[-1]
    yield "CreateCampaign", mine


def generic(alice: Tenant) -> Iterator[tuple[str, Message]]:
    """Every method, every string field of its request, set to each of Alice's ids and
    tokens in turn: the matrix for an rpc or a field this file does not know yet."""
    values = [*alice.campaigns, *alice.request_ids, *alice.tokens.values()]
    for method in SERVICE.methods:
        cls = GetMessageClass(method.input_type)
        for f in method.input_type.fields:
            if f.type != FieldDescriptor.TYPE_STRING or f.is_repeated:
                continue
            for value in values:
                yield method.name, cls(**{f.name: value})


async def _bob_calls(stand: Stand, alice: Tenant, bob: Tenant, state: str,
                     cells: dict[tuple[str, str], Cell]) -> None:
    for name, request in (*explicit(alice, bob), *generic(alice)):
        cell = cells.setdefault((name, state), Cell(name, state))
        data = request.SerializeToString()
        answer = await stand.call(_m(name), data, key=bob.key, stream_timeout=1.0, stream_messages=5)
        if name == "CreateCampaign" and answer.code == "OK":
            # Bob created a campaign out of Alice's body: its names and numbers are his
            # now too (her campaign ids, row ids and tokens never are).
            bob.secrets |= {x for x in alice.secrets if x.encode() in data}
        cell.calls += 1
        cell.codes[answer.code] += 1
        payload = answer.payload()
        cell.received += len(payload)
        for secret in alice.secrets - bob.secrets:
            raw = secret.encode()
            found = payload.count(raw)
            if found and raw not in data:
                cell.leaked += found * len(raw)
                if len(cell.leaks) < 5:
                    cell.leaks.append(f"{name} ({state}) {request}: {secret!r} in {answer.code} answer")


async def _warm(stand: Stand, *tenants: Tenant) -> None:
    """Each tenant reads his list and campaigns from the upstream while it answers, so
    that the next state, with the upstream down, has fresh copies to serve stale."""
    for tenant in tenants:
        reads: list[tuple[str, Message]] = [("ListCampaigns", pb.ListCampaignsRequest(skip_cache=True))]
        reads += [("GetCampaign", pb.GetCampaignRequest(id=cid, skip_cache=True)) for cid in tenant.campaigns]
        for name, request in reads:
            await stand.call(_m(name), request.SerializeToString(), key=tenant.key)


async def _alice_watches(stand: Stand, alice: Tenant) -> None:
    """Alice's open watch of her first campaign, read while Bob calls (until cancelled):
    a poller and a change log of hers are live the whole time."""
    assert stand.channel is not None
    path = f"/{SERVICE.full_name}/WatchCampaignRows"
    call = stand.channel.unary_stream(path)(
        pb.WatchCampaignRowsRequest(campaign_id=alice.campaigns[0]).SerializeToString(),
        metadata=(("authorization", f"Bearer {alice.key}"),))
    try:
        while await call.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError:
        pass  # the upstream went away under it: Bob's calls go on all the same
    finally:
        call.cancel()


async def matrix(workdir: Path, states: tuple[str, ...] = STATES) -> list[Cell]:
    """Bob's calls under each upstream state, in the order given (``stopped`` last)."""
    cells: dict[tuple[str, str], Cell] = {}
    async with Stand(workdir) as stand:
        assert stand.sim is not None
        alice, bob = Tenant(ALICE, "alice"), Tenant(BOB, "bob")
        await populate(stand, alice)
        await populate(stand, bob)
        watching = asyncio.create_task(_alice_watches(stand, alice))
        try:
            for state in states:
                await _warm(stand, alice, bob)
                if state == "503":
                    stand.sim.faults.fail_ratio(1.0, status=503)
                elif state == "stopped":
                    await stand.sim.stop()
                await _bob_calls(stand, alice, bob, state, cells)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
    return list(cells.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.isolation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--states", default=",".join(STATES), help="upstream states, in order")
    args = parser.parse_args(argv)
    states = tuple(s for s in args.states.split(",") if s)
    with tempfile.TemporaryDirectory(prefix="isolation-") as tmp:
        cells = asyncio.run(matrix(Path(tmp), states))
    print(HEADER)
    for cell in cells:
        print(cell.line())
    calls, leaked = sum(c.calls for c in cells), sum(c.leaked for c in cells)
    print(f"\n{calls} calls by Bob, {sum(c.received for c in cells)} bytes received, "
          f"{leaked} cross-tenant bytes")
    for cell in cells:
        for leak in cell.leaks:
            print(f"- {leak}")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
