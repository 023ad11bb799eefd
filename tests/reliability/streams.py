"""``python -m tests.reliability.streams``: how WatchCampaignRows streams end under a crowd.

Issue 16 reported that of 2,000 streams opened by one key and held ~15 s, about 10 % ended
CANCELLED with no detail and no gateway log line. This re-runs that probe with the parts
in separate processes, as the original was: the simulator (``python -m gateway.simulator``),
the gateway (``python -m gateway serve``, per-key cap raised above ``--streams``, metrics on)
and this process as the client (grpc python, ``--channels`` channels). It opens
``--streams`` streams on one campaign at once, holds them ``--hold`` seconds, then hangs up
the ones still open and prints one table per client configuration: how each stream ended
(code and detail, as the client saw it, split into "ended by the server during the hold"
and "hung up by the client"), the gateway's access-log lines for WatchCampaignRows by
code, and its counters (streams open, rpcs started and handled).

``--targets`` also runs the same client against a bare ``grpc.aio`` server that answers one
message and parks every stream (this module, ``--serve-bare``): ``bare`` with grpc's
defaults, ``bare-limits`` with the gateway's backlog limits (``gateway.rpc._server``), to
tell grpc's behaviour from the gateway's. ``--gateway-root`` runs the gateway from another
checkout (``git archive <commit> | tar -x -C DIR``), to compare with an older version.

What it found (issue 16): grpc core keeps the calls the event loop has not yet accepted
(grpc.aio accepts one per loop turn) and, past ``grpc.server.max_pending_requests`` (1,000
by default), drops a random growing share of them (all past the hard limit, 3,000): those
end CANCELLED, detail "CANCELLED", before any application code runs. The bare server shows
it as the gateway did; the gateway now sets the limits (``_PENDING_CALLS``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request

__all__ = ["Outcome", "main", "run"]

ROOT = Path(__file__).resolve().parents[2]
Stub = campaign_service_pb2_grpc.CampaignServiceStub
_ACCESS = re.compile(r"rpc revox\.campaigns\.v1\.CampaignService/WatchCampaignRows (\w+)")


@dataclass
class Stream:
    started: float = 0.0  # when the client started the call
    opened: float | None = None  # when its first message came
    messages: int = 0
    ended: tuple[str, str] | None = None  # (code, details) if it ended before the hang-up
    ended_at: float | None = None


@dataclass
class Outcome:
    """What one run saw."""

    label: str
    streams: list[Stream]
    began: float
    hold_started: float
    hold_ended: float
    client_hung_up: Counter[str] = field(default_factory=Counter)
    log_during: Counter[str] = field(default_factory=Counter)
    log_after: Counter[str] = field(default_factory=Counter)
    counters_at_hold: dict[str, float] = field(default_factory=dict)
    counters_after: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        ended: dict[tuple[str, str], list[Stream]] = {}
        for s in self.streams:
            if s.ended is not None:
                ended.setdefault(s.ended, []).append(s)
        never = [s for s in self.streams if s.opened is None and s.ended is None]
        held = [s for s in self.streams if s.opened is not None and s.ended is None]
        lines = [f"### {self.label}", "", "| how the stream ended (client side) | streams "
                 "| first message, s after start (min/median/max) | ended, s after start |",
                 "|---|---|---|---|"]
        for (code, details), group in sorted(ended.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"| {code} `{details or '(no detail)'}` | {len(group)} | "
                         f"{_spread([s.opened for s in group], self.began)} | "
                         f"{_spread([s.ended_at for s in group], self.began)} |")
        lines.append(f"| held to the end, then hung up by the client | {len(held)} | "
                     f"{_spread([s.opened for s in held], self.began)} | - |")
        lines.append(f"| never got a first message (queued), hung up by the client | "
                     f"{len(never)} | - | - |")
        lines.append(f"\nhold: {self.hold_started - self.began:.1f}–"
                     f"{self.hold_ended - self.began:.1f} s after start")
        if self.log_during or self.log_after:
            lines += ["", "| gateway access-log lines (WatchCampaignRows) | during the hold "
                      "| after the hang-up |", "|---|---|---|"]
            for code in sorted(set(self.log_during) | set(self.log_after)):
                lines.append(f"| {code} | {self.log_during[code]} | {self.log_after[code]} |")
        if self.counters_at_hold:
            lines += ["", "| gateway counter | end of hold | after the hang-up |", "|---|---|---|"]
            for name in self.counters_at_hold:
                lines.append(f"| {name} | {self.counters_at_hold[name]:g} | "
                             f"{self.counters_after.get(name, 0.0):g} |")
        return "\n".join(lines)


def _spread(times: list[float | None], origin: float) -> str:
    got = sorted(t - origin for t in times if t is not None)
    if not got:
        return "-"
    return f"{got[0]:.1f} / {got[len(got) // 2]:.1f} / {got[-1]:.1f}"


# -- the server processes ---------------------------------------------------------------


@contextmanager
def _process(argv: list[str], out: Path, err: Path, ready: re.Pattern[str],
             timeout: float = 60.0, root: Path = ROOT,
             ) -> Iterator[tuple[subprocess.Popen[bytes], re.Match[str]]]:
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, cwd=root, stdout=o, stderr=e, stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = ready.search(out.read_text(errors="replace"))
            if found:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2]} did not start: {err.read_text()[-2000:]}")
            time.sleep(0.05)  # polling a child's output file with a deadline
        yield proc, found
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def gateway_processes(workdir: Path, streams: int, extra: list[str],
                      root: Path = ROOT) -> Iterator[dict[str, Any]]:
    """The simulator and the gateway, each its own process; yields their addresses.
    ``root``: the checkout the gateway runs from (an older one, to compare)."""
    py = sys.executable
    sim_argv = [py, "-m", "gateway.simulator", "--listen", "127.0.0.1:0", "--seed", "7"]
    with _process(sim_argv, workdir / "sim.out", workdir / "sim.err",
                  re.compile(r"listening on (http://[0-9.:]+)")) as (_, sim):
        gw_argv = [py, "-m", "gateway", "serve", "--listen", "127.0.0.1:0",
                   "--upstream-url", sim.group(1),
                   "--database", f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
                   "--metrics-listen", "127.0.0.1:0", *extra]
        if "max-watch-streams-per-key" in (root / "gateway" / "config.py").read_text():
            gw_argv += ["--max-watch-streams-per-key", str(max(1000, streams + 10)),
                        "--max-watch-streams", str(max(10000, streams + 10))]
        ready = re.compile(r"on (127\.0\.0\.1:\d+)\n(?s:.*)metrics: (http://[0-9.:]+)/metrics")
        with _process(gw_argv, workdir / "gw.out", workdir / "gw.err", ready,
                      root=root) as (proc, gw):
            yield {"grpc": gw.group(1), "metrics": gw.group(2), "log": workdir / "gw.err",
                   "pid": proc.pid}


@contextmanager
def bare_process(workdir: Path, limits: bool, options: str = "") -> Iterator[dict[str, Any]]:
    """A bare grpc.aio server (``--serve-bare``), with grpc's backlog limits or the
    gateway's, and ``options`` (name=value,...) on top."""
    argv = [sys.executable, "-m", "tests.reliability.streams", "--serve-bare",
            "--bare-options", options]
    if limits:
        argv.append("--bare-limits")
    with _process(argv, workdir / "bare.out", workdir / "bare.err",
                  re.compile(r"bare grpc on ([0-9.:]+)")) as (_, found):
        yield {"grpc": found.group(1), "metrics": None, "log": None}


async def serve_bare(limits: bool, options: list[tuple[str, Any]]) -> None:
    """WatchCampaignRows that answers one message and holds the stream until the client
    hangs up; nothing else (no interceptor, no admission), until SIGTERM."""
    from gateway.rpc._server import _PENDING_CALLS

    first = pb.WatchCampaignRowsResponse(
        resume_token="t", revision=1, snapshot_complete=pb.SnapshotComplete()
    ).SerializeToString()

    async def watch(request: Any, context: Any) -> Any:
        yield first
        await asyncio.Event().wait()

    handler = grpc.method_handlers_generic_handler(
        "revox.campaigns.v1.CampaignService",
        {"WatchCampaignRows": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=pb.WatchCampaignRowsRequest.FromString,
            response_serializer=None)},
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0),
                                      *(_PENDING_CALLS if limits else ()), *options])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"bare grpc on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


# -- reading the gateway ---------------------------------------------------------------


_COUNTERS = {
    "streams open (revox_gateway_watch_streams)": re.compile(
        r"^revox_gateway_watch_streams (\S+)", re.M),
    "WatchCampaignRows started": re.compile(
        r'^grpc_server_started_total\{[^}]*grpc_method="WatchCampaignRows"[^}]*\} (\S+)', re.M),
}
_HANDLED = re.compile(
    r'^grpc_server_handled_total\{(?=[^}]*grpc_method="WatchCampaignRows")[^}]*'
    r'grpc_code="(\w+)"[^}]*\} (\S+)', re.M)


async def _counters(metrics: str | None) -> dict[str, float]:
    if metrics is None:
        return {}
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{metrics}/metrics")).text
    out = {name: sum(float(m) for m in rx.findall(text)) for name, rx in _COUNTERS.items()}
    for code, value in _HANDLED.findall(text):
        out[f"WatchCampaignRows handled {code}"] = float(value)
    return out


def _access_lines(log: Path | None, skip: int = 0) -> tuple[Counter[str], int]:
    if log is None:
        return Counter(), 0
    text = log.read_text(errors="replace").splitlines()
    return Counter(m.group(1) for line in text[skip:] if (m := _ACCESS.search(line))), len(text)


# -- the client ------------------------------------------------------------------------


async def _follow(stub: Stub, request: pb.WatchCampaignRowsRequest, key: str, s: Stream,
                  timeout: float | None) -> None:
    s.started = time.monotonic()
    call = stub.WatchCampaignRows(request, metadata=auth(key), timeout=timeout)
    try:
        async for _ in call:
            if s.opened is None:
                s.opened = time.monotonic()
            s.messages += 1
        s.ended = ("OK", "")
    except grpc.aio.AioRpcError as exc:
        s.ended = (exc.code().name, exc.details() or "")
    except asyncio.CancelledError:
        call.cancel()
        raise
    s.ended_at = time.monotonic()


async def _campaign(target: str, bare: bool) -> str:
    if bare:
        return "cmp_bare"
    async with grpc.aio.insecure_channel(target) as ch:
        return str((await Stub(ch).CreateCampaign(create_request(2), metadata=auth())).id)


async def run(server: dict[str, Any], *, streams: int, channels: int, hold: float,
              keys: int, open_timeout: float, options: list[tuple[str, Any]], label: str,
              deadline: float | None, shared: bool = False) -> Outcome:
    """Open ``streams`` streams over ``channels`` channels, hold them, hang up, tally."""
    target, bare = server["grpc"], server["metrics"] is None
    cid = await _campaign(target, bare)
    _, log_mark = _access_lines(server["log"])
    # grpc shares one connection among channels of equal target and options (its global
    # subchannel pool): a local pool per channel makes N channels N connections.
    own = [("grpc.use_local_subchannel_pool", 1)] if channels > 1 and not shared else []
    chans = [grpc.aio.insecure_channel(target, options=options + own)
             for _ in range(channels)]
    stubs = [Stub(ch) for ch in chans]
    request = pb.WatchCampaignRowsRequest(campaign_id=cid)
    states = [Stream() for _ in range(streams)]
    key_names = [ALICE if k == 0 else f"{ALICE}_{k}" for k in range(keys)]
    began = time.monotonic()
    tasks = [asyncio.ensure_future(_follow(stubs[i % channels], request,
                                           key_names[i % keys], s, deadline))
             for i, s in enumerate(states)]
    # The hold starts once every stream has its first message or has ended (or the
    # opening phase times out: streams queued behind a per-connection limit stay queued).
    # A stream queued on the client (past the server's max_concurrent_streams on its
    # connection) gets no first message until another one ends: the opening phase ends
    # when nothing has opened or ended for 5 s.
    until, progress, last = time.monotonic() + open_timeout, -1, time.monotonic()
    while time.monotonic() < until:
        done = sum(1 for s in states if s.opened is not None or s.ended is not None)
        if done == len(states) or time.monotonic() - last > 5.0:
            break
        if done != progress:
            progress, last = done, time.monotonic()
        await asyncio.sleep(0.1)
    hold_started = time.monotonic()
    await asyncio.sleep(hold)
    hold_ended = time.monotonic()
    at_hold = await _counters(server["metrics"])
    during, log_mark2 = _access_lines(server["log"], log_mark)
    hung_up = Counter("queued" if s.opened is None else "held" for s in states if s.ended is None)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in chans:
        await ch.close()
    # The gateway logs the hung-up streams as their handlers end; wait for it (bounded).
    after: Counter[str] = Counter()
    counters_after: dict[str, float] = {}
    settle = time.monotonic() + 20
    while time.monotonic() < settle:
        counters_after = await _counters(server["metrics"])
        after, _ = _access_lines(server["log"], log_mark2)
        if not counters_after or counters_after[next(iter(_COUNTERS))] == 0:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5 if server["log"] else 0)  # the last lines reach the file
    after, _ = _access_lines(server["log"], log_mark2)
    return Outcome(label, states, began, hold_started, hold_ended, hung_up, during, after,
                   at_hold, counters_after)


def _options(spec: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        out.append((name, int(value) if value.lstrip("-").isdigit() else value))
    return out


SUMMARY = ("| server | connections | streams | held to the end | queued on the client | "
           "ended during the hold | of them without a detail | gateway log lines for them |"
           "\n|---|---|---|---|---|---|---|---|")


def _bare_detail(code: str, details: str) -> bool:
    return not details or details == code


def summary_line(target: str, channels: int, outcome: Outcome) -> str:
    ended = [s for s in outcome.streams if s.ended is not None]
    blank = sum(1 for s in ended if s.ended is not None and _bare_detail(*s.ended))
    lines = "-" if outcome.counters_at_hold == {} else str(sum(outcome.log_during.values()))
    return (f"| {target} | {channels} | {len(outcome.streams)} | {outcome.client_hung_up['held']} "
            f"| {outcome.client_hung_up['queued']} | {len(ended)} | {blank} | {lines} |")


def _servers(target: str, workdir: Path, args: argparse.Namespace) -> Any:
    if target == "gateway":
        return gateway_processes(workdir, args.streams, args.gateway_args.split(),
                                 args.gateway_root)
    return bare_process(workdir, limits=target == "bare-limits", options=args.bare_options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.streams",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 20],
                        help="one run per value; each channel its own connection "
                             "(default: 1 then 20)")
    parser.add_argument("--hold", type=float, default=15.0, help="seconds (default 15)")
    parser.add_argument("--keys", type=int, default=1, help="API keys the streams use")
    parser.add_argument("--open-timeout", type=float, default=60.0,
                        help="seconds the opening phase may last at most")
    parser.add_argument("--deadline", type=float, default=None,
                        help="client deadline per stream, seconds (default: none)")
    parser.add_argument("--client-options", default="",
                        help="grpc channel options, name=value,...")
    parser.add_argument("--targets", nargs="+", default=["gateway", "bare", "bare-limits"],
                        choices=("gateway", "bare", "bare-limits"),
                        help="servers to run the client against (bare ones: the last "
                             "--channels value only, held 5 s)")
    parser.add_argument("--gateway-args", default="", help="extra `serve` flags, one string")
    parser.add_argument("--gateway-root", type=Path, default=ROOT,
                        help="checkout to run the gateway from, to compare")
    parser.add_argument("--shared-connection", action="store_true",
                        help="let the channels share one connection (grpc's default for "
                             "channels of equal target and options)")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    parser.add_argument("--bare-options", default="",
                        help="grpc server options of the bare servers, name=value,... (e.g. "
                             "grpc.server.max_pending_requests=100)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-limits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        asyncio.run(serve_bare(args.bare_limits, _options(args.bare_options)))
        return 0
    options = _options(args.client_options)
    rows: list[str] = []
    for target in args.targets:
        bare = target != "gateway"
        runs = args.channels[-1:] if bare else args.channels
        hold = min(args.hold, 5.0) if bare else args.hold
        with tempfile.TemporaryDirectory(prefix="streams-") as tmp, \
                _servers(target, Path(tmp), args) as server:
            for channels in runs:
                label = (f"{target}: {args.streams} streams over {channels} connection(s), "
                         f"{args.keys} key(s), held {hold:g} s")
                started = time.monotonic()
                outcome = asyncio.run(run(
                    server, streams=args.streams, channels=channels, hold=hold,
                    keys=args.keys, open_timeout=args.open_timeout, options=options,
                    label=label, deadline=args.deadline, shared=args.shared_connection))
                rows.append(summary_line(target, 1 if args.shared_connection else channels,
                                         outcome))
                if not args.quiet:
                    print(outcome.table())
                    print(f"\n({time.monotonic() - started:.1f} s)\n", flush=True)
    print(f"## {args.streams} WatchCampaignRows streams opened at once\n")
    print(SUMMARY)
    print("\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
