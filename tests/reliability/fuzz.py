"""``python -m tests.reliability.fuzz``: property-based fuzzing of every rpc, from a real run.

For every method of CampaignService (taken from the service descriptor, so a new rpc is
fuzzed without a change here), Hypothesis draws requests from the request message's
descriptor (``descriptors.message_of``: every field absent or hostile, plausible values
mixed in so that the paths behind validation run too) and, as a second row, corrupt
wire bytes (``descriptors.corrupt_bytes``). Each is sent, one at a time, to a real
gateway on a real port in front of the simulator, with a valid key. The property, per
request:

- the status is never UNKNOWN and never INTERNAL;
- an INVALID_ARGUMENT reached no upstream: the simulator received no request during
  the call (calls run one at a time, and each waits until no watch poller runs);
- the gateway logged no traceback and no ERROR line, and still answers a health check
  (after every request) and a GetCampaign of a campaign that exists (after every row).

Streams are read for their first message or status within ``--stream-timeout``
(0.5 s), then cancelled. ``--examples N`` per row (default 200: about 3 minutes on two
busy cores), ``--seed S`` replays a run. Exit 1 on any violation, listed after the table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2, status_pb2
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

from generated.revox.campaigns.v1 import campaign_pb2, row_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import create_request
from .descriptors import Hints, corrupt_bytes, mutants, request_bytes
from .stand import SERVICE, Answer, LoopThread, Stand

__all__ = ["Tally", "fuzz", "main"]

EXAMPLES = 200
FORBIDDEN = ("UNKNOWN", "INTERNAL")


@dataclass
class Tally:
    """One row of the table: one rpc, fed messages or corrupt bytes."""

    rpc: str
    tried: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    internal: int = 0
    leaked: int = 0  # INVALID_ARGUMENT answers during which the upstream got a request
    crashes: int = 0  # the gateway stopped answering, or logged a traceback / an ERROR
    newer: int = 0  # the upstream refused a status filter of a newer API version (allowed)
    violations: list[str] = field(default_factory=list)

    def record(self, method: MethodDescriptor, data: bytes, answer: Answer, alive: bool,
               tracebacks: list[str]) -> None:
        self.tried += 1
        self.codes[answer.code] += 1
        why = []
        if answer.code in FORBIDDEN:
            self.unknown += answer.code == "UNKNOWN"
            self.internal += answer.code == "INTERNAL"
            why.append(f"{answer.code} ({answer.details[:160]})")
        if answer.code == "INVALID_ARGUMENT" and answer.upstream and _newer_status_refused(method, data, answer):
            self.newer += 1
        elif answer.code == "INVALID_ARGUMENT" and answer.upstream:
            self.leaked += 1
            why.append(f"INVALID_ARGUMENT ({answer.details[:160]}) after upstream {answer.upstream}")
        if not alive or tracebacks:
            self.crashes += 1
            why.append("gateway stopped answering" if not alive else f"logged: {tracebacks[:2]}")
        if why and len(self.violations) < 5:
            self.violations.append(f"{self.rpc}: {'; '.join(why)}; request {data[:120]!r}"
                                   f"{'...' if len(data) > 120 else ''} ({len(data)} bytes)")

    @property
    def failed(self) -> bool:
        return bool(self.unknown or self.internal or self.leaked or self.crashes)

    def line(self) -> str:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items(), key=lambda kv: -kv[1]))
        return (f"| {self.rpc} | {self.tried} | {codes} | {self.unknown} | {self.internal} | "
                f"{self.leaked} | {self.crashes} | {self.newer} |")


HEADER = ("| rpc | requests tried | codes seen | UNKNOWN | INTERNAL "
          "| upstream calls on INVALID_ARGUMENT | crashes | newer-API statuses refused upstream |"
          "\n|---|---|---|---|---|---|---|---|")
# CallStatus values of newer API versions (row.proto): valid in the contract, so the
# gateway forwards a filter on them, and an upstream of the documented version refuses it.
NEWER_STATUSES = frozenset({row_pb2.CALL_STATUS_POST_PROCESSING, row_pb2.CALL_STATUS_NOT_LAUNCHED,
                            row_pb2.CALL_STATUS_PAUSED})


def _newer_status_refused(method: MethodDescriptor, data: bytes, answer: Answer) -> bool:
    """The one INVALID_ARGUMENT after an upstream call that is not the gateway's to
    catch: the upstream's 400 on ``statuses`` holding a newer API version's status."""
    raw = dict(answer.trailers).get("grpc-status-details-bin")
    if not isinstance(raw, bytes):
        return False
    fields = []
    for any_ in status_pb2.Status.FromString(raw).details:
        if any_.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    if fields != ["statuses"]:
        return False
    try:
        statuses = set(GetMessageClass(method.input_type).FromString(data).statuses)
    except Exception:  # noqa: BLE001 - not such a request: not this case
        return False
    return bool(statuses & NEWER_STATUSES)


# ------------------------------------------------------------------ plausible values


def _paths(desc: Descriptor, prefix: str = "", depth: int = 0) -> list[str]:
    out = []
    for f in desc.fields:
        out.append(prefix + f.name)
        if f.message_type is not None and depth < 2 and not f.message_type.full_name.startswith("google."):
            out += _paths(f.message_type, f"{prefix}{f.name}.", depth + 1)
    return out


_PHONES = ("+33612340001", "+14155550100", "+330612340001", "+447700900123", "+1415555010",
           "+999123456789", "+8869123456789", "+33612340001 ")
_TIMES = ("9am", "18:00", "00:00", "23:59", "24:00", "12:60", "12pm", "0am", "13pm", "9:30am")
_ZONES = ("Europe/Paris", "UTC", "America/New_York", "Etc/GMT+12", "../etc", "Europe/Nowhere",
          "posixrules", "Factory", "localtime", "/etc/passwd", "Europe/../UTC")


async def _hints(stand: FuzzStand, ids: list[str]) -> Hints:
    """Ids of campaigns that exist, tokens the gateway issued (and broken copies), paths
    that name fields: drawn half the time in place of arbitrary values."""
    tokens = await stand.tokens(ids)
    broken = [t[:-1] for t in tokens.values() if t] + [t[::-1] for t in tokens.values() if t]
    paths = ["*", *_paths(campaign_pb2.Campaign.DESCRIPTOR), *_paths(row_pb2.Row.DESCRIPTOR)]
    return {
        "id": st.sampled_from([*ids, "cmp_missing"]),
        "campaign_id": st.sampled_from([*ids, "cmp_missing"]),
        "assistant_id": st.just("asst_demo"),
        "name": st.sampled_from(("Spring outreach", "Ünïcødé 名前", "x")),
        "to_phone_number": st.one_of(st.sampled_from(_PHONES),
                                     st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)),
        "from_phone_number": st.sampled_from(_PHONES),
        "calling_window_start_time": st.sampled_from(_TIMES),
        "calling_window_end_time": st.sampled_from(_TIMES),
        "retry_delay_seconds": st.integers(0, 86_400),
        "max_retry_attempts": st.integers(0, 100),
        "max_concurrent_calls": st.integers(1, 10_000),
        "timezone": st.sampled_from(_ZONES),
        "request_id": st.uuids().map(str),
        "page_token": st.sampled_from([*tokens.values(), *broken]),
        "resume_token": st.sampled_from([tokens["watch"], *broken]),
        "paths": st.sampled_from(paths),
        "query": st.sampled_from(("+3361234", "Ada", "ada 1", "%", "_")),
        "page": st.integers(0, 3),
        "page_size": st.integers(0, 3),
        "max_chunk_bytes": st.sampled_from((0, 1024, 4 * 1024 * 1024)),
        "heartbeat_interval": st.integers(1, 300).map(lambda s: duration_pb2.Duration(seconds=s)),
        "scheduled_at": st.integers(0, 2_000_000_000).map(lambda s: timestamp_pb2.Timestamp(seconds=s)),
    }


def _valid(ids: list[str]) -> dict[str, Message]:
    """A valid request of each rpc, which ``mutants`` spoils one to three fields at a
    time; an rpc missing here is fuzzed from its descriptor alone."""
    mask = field_mask_pb2.FieldMask(paths=["id", "name"])
    row_mask = field_mask_pb2.FieldMask(paths=["id", "call.status"])
    create = create_request(2, name="fuzz base", from_phone_number="+14155550100")
    create.scheduled_at.seconds = 1_900_000_000
    create.extra_fields.update({"note": "x", "tags": ["a", 1]})
    create.call_retry_config.extra_fields.update({"n": 1})
    return {
        "CreateCampaign": create,
        "ListCampaigns": pb.ListCampaignsRequest(page_size=2, read_mask=mask),
        "GetCampaign": pb.GetCampaignRequest(id=ids[0], read_mask=mask),
        "DeleteCampaign": pb.DeleteCampaignRequest(id=ids[-1]),
        "CancelCampaign": pb.CancelCampaignRequest(id=ids[-1]),
        "ListCampaignRows": pb.ListCampaignRowsRequest(
            campaign_id=ids[0], page_size=2, query="+33", statuses=[row_pb2.CALL_STATUS_QUEUED_FOR_CALLING],
            result=pb.ROW_RESULT_FILTER_ALL, read_mask=row_mask),
        "ExportCampaignRows": pb.ExportCampaignRowsRequest(campaign_id=ids[0], max_chunk_bytes=1024),
        "WatchCampaignRows": pb.WatchCampaignRowsRequest(
            campaign_id=ids[0], query="+33", heartbeat_interval=duration_pb2.Duration(seconds=1),
            result=pb.ROW_RESULT_FILTER_ALL, read_mask=row_mask),
    }


# ------------------------------------------------------------------ the run


def _messages(method: MethodDescriptor, hints: Hints, ids: list[str]) -> st.SearchStrategy[bytes]:
    drawn = request_bytes(method.input_type, hints)
    base = _valid(ids).get(method.name)
    return drawn if base is None else st.one_of(drawn, mutants(base, hints))


def _corrupt(method: MethodDescriptor, hints: Hints, ids: list[str]) -> st.SearchStrategy[bytes]:
    return corrupt_bytes(method.input_type, hints)


Strategy = Callable[[MethodDescriptor, Hints, list[str]], st.SearchStrategy[bytes]]
KINDS: tuple[tuple[str, Strategy], ...] = (("", _messages), (" · corrupt bytes", _corrupt))


def _explore(loop: LoopThread, stand: FuzzStand, method: MethodDescriptor,
             strategy: st.SearchStrategy[bytes], tally: Tally, examples: int, seed: int,
             stream_timeout: float) -> None:
    @seeded(seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(data: bytes) -> None:
        answer, alive, tracebacks = loop.run(stand.probe(method, data, stream_timeout))
        tally.record(method, data, answer, alive, tracebacks)

    prop()


def fuzz(examples: int = EXAMPLES, seed: int = 0, *, workdir: Path, stream_timeout: float = 0.5,
         only: str | None = None, drift: bool = False, page_base: int = 0) -> list[Tally]:
    """Fuzz every rpc (or ``only`` the named one) with ``examples`` requests per row;
    ``drift``: against an upstream answering in drifted shapes; ``page_base``: the
    upstream's first page."""
    stand = FuzzStand(workdir, drift=drift, page_base=page_base)
    tallies: list[Tally] = []
    with LoopThread() as loop:
        loop.run(stand.__aenter__())
        try:
            for method in SERVICE.methods:
                if only is not None and method.name != only:
                    continue
                for suffix, strategy in KINDS:
                    tally = Tally(method.name + suffix)
                    ids = loop.run(stand.campaigns())
                    hints = loop.run(_hints(stand, ids))
                    _explore(loop, stand, method, strategy(method, hints, ids), tally,
                             examples, seed, stream_timeout)
                    if not loop.run(stand.serves()):
                        tally.crashes += 1
                        tally.violations.append(f"{tally.rpc}: GetCampaign failed after the row")
                    tallies.append(tally)
        finally:
            loop.run(stand.__aexit__(None, None, None))
    return tallies


class FuzzStand(Stand):
    """The stand plus what the fuzz needs: campaigns that exist, issued tokens, a probe.

    Nothing is cached (``cache_ttl`` 0, ``admission_ttl`` 0): every call that passes
    validation reaches the upstream, so an INVALID_ARGUMENT decided after a read, which
    a cache hit would hide from the count, shows."""

    def __init__(self, workdir: Path, *, drift: bool = False, **overrides: Any) -> None:
        super().__init__(workdir, **{"cache_ttl": 0.0, "admission_ttl": 0.0, **overrides})
        self.drift = drift

    async def __aenter__(self) -> FuzzStand:
        await super().__aenter__()
        assert self.sim is not None
        self.sim.faults.drift = self.drift  # the upstream answers in SDK 0.5.0 shapes
        return self

    async def campaigns(self, want: int = 3) -> list[str]:
        """Ids of campaigns of the fuzzing tenant that exist (created when fewer than
        ``want``: the fuzz deletes and cancels some)."""
        ids = await self._listed()
        while len(ids) < want:
            request = create_request(3, name=f"fuzz {uuid.uuid4()}")
            answer = await self.call(_method("CreateCampaign"), request.SerializeToString())
            assert answer.code == "OK", answer
            ids = await self._listed()
        return ids[:want]

    async def _listed(self) -> list[str]:
        request = pb.ListCampaignsRequest(skip_cache=True, page_size=1000)
        answer = await self.call(_method("ListCampaigns"), request.SerializeToString())
        assert answer.code == "OK", answer
        listed = pb.ListCampaignsResponse.FromString(answer.messages[0]).campaigns
        return [c.id for c in listed]

    async def tokens(self, ids: list[str]) -> dict[str, str]:
        """A page token of each list rpc and a resume token of a watch ("" where the
        call gave none: a campaign the fuzz cancelled or deleted a moment ago)."""
        calls = {
            "campaigns": ("ListCampaigns", pb.ListCampaignsRequest(page_size=1), pb.ListCampaignsResponse),
            "rows": ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=ids[0], page_size=1),
                     pb.ListCampaignRowsResponse),
            "watch": ("WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id=ids[0]),
                      pb.WatchCampaignRowsResponse),
        }
        tokens = {}
        for what, (name, request, reply) in calls.items():
            answer = await self.call(_method(name), request.SerializeToString(), stream_timeout=5)
            message = reply.FromString(answer.messages[0]) if answer.messages else reply()
            tokens[what] = getattr(message, "resume_token" if what == "watch" else "next_page_token")
        return tokens

    async def probe(self, method: MethodDescriptor, data: bytes,
                    stream_timeout: float) -> tuple[Answer, bool, list[str]]:
        """One call, alone: the answer, whether the gateway still answers, what it logged."""
        await self.quiet()
        del self.tracebacks.records[:]
        answer = await self.call(method, data, stream_timeout=stream_timeout)
        logged = [f"{r.name}: {r.getMessage()[:120]}" for r in self.tracebacks.records]
        return answer, await self.alive(), logged

    async def serves(self) -> bool:
        """A GetCampaign of a campaign that exists still answers OK, from the upstream."""
        (campaign_id,) = await self.campaigns(want=1)
        get = pb.GetCampaignRequest(id=campaign_id, skip_cache=True)
        return (await self.call(_method("GetCampaign"), get.SerializeToString())).code == "OK"


def _method(name: str) -> MethodDescriptor:
    return SERVICE.methods_by_name[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="requests per row (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default %(default)s)")
    parser.add_argument("--stream-timeout", type=float, default=0.5)
    parser.add_argument("--rpc", help="fuzz only this method")
    parser.add_argument("--drift", action="store_true", help="the simulator answers in SDK 0.5.0 shapes")
    parser.add_argument("--page-base", type=int, choices=(0, 1), default=0, help="the simulator's first page")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        tallies = fuzz(args.examples, args.seed, workdir=Path(tmp),
                       stream_timeout=args.stream_timeout, only=args.rpc, drift=args.drift,
                       page_base=args.page_base)
    print(HEADER)
    for tally in tallies:
        print(tally.line())
    total = sum(t.tried for t in tallies)
    print(f"\n{total} requests, seed {args.seed}{', drift' if args.drift else ''}"
          f"{', page base 1' if args.page_base else ''}, "
          f"{time.monotonic() - started:.0f} s")
    failed = [v for t in tallies for v in t.violations]
    for violation in failed:
        print(f"- {violation}")
    return 1 if any(t.failed for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
