"""``python -m tests.reliability.soak``: a mixed load with upstream faults on, for
``--minutes`` (default 5), and whether the gateway's RSS, open files and event-loop tasks
grew.

Two child processes: the simulator (``python -m gateway.simulator``, its clock at 60x,
faults on every API request: 5xx, 429 with Retry-After, dropped connections, truncated
bodies) and the gateway (``python -m gateway serve --metrics-listen``, on a SQLite file).
This process drives the load over one channel: creates (a new request_id each, retried as
the README asks; one in five repeats an earlier request_id, so replays too), deletes that
keep the upstream at ``--campaigns`` campaigns (the cache and the upstream must not grow
with time, or growth would be data, not a leak), gets (cached and ``skip_cache``), lists,
rows, and watches that read a few messages, hang up, and half the time resume with their
last token.

Measured from ``/proc/<gateway pid>`` (VmRSS, entries of ``fd/``) and the gauge
``revox_gateway_event_loop_tasks``, each time in the same quiet state: the load pauses,
every stream is closed, and the task count and open files are read until they hold still
for 10 s (90 s at most; the pollers of watched campaigns linger a few seconds after their
last subscriber, idle upstream connections close after 5 s).
*start* is taken after ``--warmup`` seconds of load and a burst of concurrent reads
(caches, the bounded database and upstream pools and the allocator at their working
size), *end* after the last minute. Exit 1 when any of the three grew by
10 % or more, or when a create was duplicated (a replay answered another campaign).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import httpx

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request
from ._procs import (
    Child,
    Stub,
    fd_kinds,
    free_port,
    gateway_args,
    reason_of,
    retrying_create,
    scrape,
    simulator_args,
    usage,
)
from ._soak_report import Report, Sample, Tally, markdown

__all__ = ["main", "run_soak"]

TASKS = "revox_gateway_event_loop_tasks"
FAULT_FLAGS = ("--error-rate", "0.02", "--rate-limit-rate", "0.02", "--retry-after", "0.05",
               "--drop-rate", "0.01", "--malformed-rate", "0.01")


@dataclass
class _Load:
    stub: Stub
    rng: random.Random
    tally: Tally
    pool_size: int
    running: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: pause
    stopping: bool = False
    campaigns: list[str] = field(default_factory=list)
    answered: dict[str, tuple[pb.CreateCampaignRequest, str]] = field(default_factory=dict)
    serial: int = 0
    in_flight: int = 0  # steps running now

    def pick(self) -> str | None:
        return self.rng.choice(self.campaigns) if self.campaigns else None


async def _call(load: _Load, method: str, call: Awaitable[object]) -> object | None:
    try:
        result = await call
    except grpc.aio.AioRpcError as exc:
        load.tally.count(method, reason_of(exc))
        return None
    load.tally.count(method, "OK")
    return result


async def _create(load: _Load) -> None:
    if load.answered and load.rng.random() < 0.2:  # a late retry of a finished create
        request_id = load.rng.choice(list(load.answered))
        request, first = load.answered[request_id]
        result = await retrying_create(load.stub, request, attempts=6, deadline=10)
        load.tally.replays += 1
        load.tally.replay_mismatches += result.campaign_id not in (None, first)
        return
    load.serial += 1
    request_id = f"soak-{load.serial}"
    request = create_request(load.rng.randint(1, 5), name=f"soak {load.serial}",
                             request_id=request_id)
    result = await retrying_create(load.stub, request, attempts=8, deadline=10)
    load.tally.creates += 1
    load.tally.count("CreateCampaign", "OK" if result.campaign_id else result.errors[-1])
    if result.campaign_id is None:
        load.tally.left_unknown += result.unknown
        return
    load.campaigns.append(result.campaign_id)
    load.answered[request_id] = (request, result.campaign_id)
    if len(load.answered) > 4 * load.pool_size:
        load.answered.pop(next(iter(load.answered)))
    while len(load.campaigns) > load.pool_size:  # the oldest goes: the data stays bounded
        old = load.campaigns.pop(0)
        await _call(load, "DeleteCampaign",
                    load.stub.DeleteCampaign(pb.DeleteCampaignRequest(id=old), metadata=auth()))


async def _get(load: _Load) -> None:
    cid = load.pick()
    if cid is not None:
        request = pb.GetCampaignRequest(id=cid, skip_cache=load.rng.random() < 0.3)
        await _call(load, "GetCampaign", load.stub.GetCampaign(request, metadata=auth(), timeout=10))


async def _list(load: _Load) -> None:
    request = pb.ListCampaignsRequest(page_size=20, skip_cache=load.rng.random() < 0.2)
    await _call(load, "ListCampaigns", load.stub.ListCampaigns(request, metadata=auth(), timeout=10))


async def _rows(load: _Load) -> None:
    cid = load.pick()
    if cid is not None:
        request = pb.ListCampaignRowsRequest(campaign_id=cid, page_size=10)
        await _call(load, "ListCampaignRows",
                    load.stub.ListCampaignRows(request, metadata=auth(), timeout=10))


async def _watch(load: _Load, resume: dict[str, str]) -> None:
    """Read a few messages of one campaign's watch and hang up; half the time the next
    watch resumes this one with its last token."""
    cid = next(iter(resume), None) or load.pick()
    if cid is None:
        return
    token = resume.pop(cid, "")
    load.tally.resumes += bool(token)
    call = load.stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token), metadata=auth())
    budget, code = load.rng.randint(1, 12), "OK"
    try:
        async with asyncio.timeout(load.rng.uniform(0.5, 5.0)):
            async for message in call:
                load.tally.messages += 1
                token = message.resume_token
                budget -= 1
                if budget <= 0 or not load.running.is_set():
                    break
    except TimeoutError:
        pass
    except grpc.aio.AioRpcError as exc:
        code = reason_of(exc)
    finally:
        call.cancel()
    load.tally.count("WatchCampaignRows", code)
    if token and code == "OK" and load.rng.random() < 0.5:
        resume[cid] = token


async def _saturate(load: _Load) -> None:
    """A burst of concurrent reads, so that the gateway's bounded pools (database
    connections, upstream connections) are at their largest before *start* is sampled:
    a pool still filling up later is not a leak."""
    ids = load.campaigns[-8:] or [""]
    calls = [load.stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=skip),
                                   metadata=auth(), timeout=10)
             for cid in ids for skip in (False, True) for _ in range(4)]
    calls += [load.stub.ListCampaigns(pb.ListCampaignsRequest(page_size=20), metadata=auth(),
                                      timeout=10) for _ in range(8)]
    await asyncio.gather(*calls, return_exceptions=True)


async def _worker(load: _Load, step: Callable[[], Awaitable[None]], pause: float) -> None:
    while not load.stopping:
        await load.running.wait()
        if load.stopping:
            return
        load.in_flight += 1
        try:
            await step()
        finally:
            load.in_flight -= 1
        await asyncio.sleep(load.rng.uniform(0.5, 1.5) * pause)


def _workers(load: _Load) -> list[asyncio.Task[None]]:
    resumes: list[dict[str, str]] = [{} for _ in range(3)]
    plan: list[tuple[Callable[[], Awaitable[None]], float]] = [
        (lambda: _create(load), 0.15), (lambda: _create(load), 0.15),
        (lambda: _get(load), 0.03), (lambda: _get(load), 0.03),
        (lambda: _list(load), 0.2), (lambda: _rows(load), 0.05),
        *((lambda r=r: _watch(load, r), 0.1) for r in resumes),  # type: ignore[misc]
    ]
    return [asyncio.create_task(_worker(load, step, pause)) for step, pause in plan]


async def _quiet_sample(gateway: Child, metrics: str, started: float,
                        settle: float = 10.0, deadline: float = 90.0) -> tuple[Sample, bool]:
    """A sample once the task count and the open files have held still for ``settle`` s
    (twice the 5 s keep-alive of the gateway's upstream pool, so idle pooled connections
    have closed); False when they did not within ``deadline`` s (the last reading)."""
    def reading(tasks: float) -> tuple[float, int]:
        return tasks, usage(gateway.pid).open_files

    last = reading(await scrape(metrics, TASKS))
    stable_since, give_up = time.monotonic(), time.monotonic() + deadline
    while time.monotonic() < give_up:
        await asyncio.sleep(0.25)
        now = reading(await scrape(metrics, TASKS))
        if now != last:
            stable_since, last = time.monotonic(), now
        elif time.monotonic() - stable_since >= settle:
            break
    settled = time.monotonic() - stable_since >= settle
    use = usage(gateway.pid)
    return Sample(round(time.monotonic() - started, 1), use.rss_kib, use.open_files, last[0],
                  use.sockets, fd_kinds(gateway.pid)), settled


async def _sampler(gateway: Child, metrics: str, started: float, into: list[Sample],
                   every: float) -> None:
    while True:
        await asyncio.sleep(every)
        use = usage(gateway.pid)
        into.append(Sample(round(time.monotonic() - started, 1), use.rss_kib, use.open_files,
                           await scrape(metrics, TASKS), use.sockets))


async def _pause(load: _Load, tasks: list[asyncio.Task[None]], stop: bool) -> None:
    """Pause (or stop) the load and wait until no call of it is in flight."""
    load.running.clear()
    load.stopping = stop
    if stop:
        load.running.set()  # wake the workers so they return
        await asyncio.gather(*tasks)
        return
    # Paused workers wait on ``running``; a call in flight finishes first (10 s deadline).
    async with asyncio.timeout(60):
        while load.in_flight:
            await asyncio.sleep(0.1)


async def run_soak(minutes: float, warmup: float, seed: int, pool: int,
                   workdir: Path) -> Report:
    sim_port, gw_port, metrics_port = free_port(), free_port(), free_port()
    simulator = Child(simulator_args(sim_port, "--seed", str(seed), "--ignore-windows",
                                     *FAULT_FLAGS), workdir / "simulator.log", b"listening on")
    metrics = f"127.0.0.1:{metrics_port}"
    gateway = Child(gateway_args(gw_port, f"http://127.0.0.1:{sim_port}", workdir / "gateway.db",
                                 "--metrics-listen", metrics, "--reconcile-grace", "2",
                                 "--log-level", "ERROR"),
                    workdir / "gateway.log", b"serving")
    await simulator.start()
    try:
        await gateway.start()
        try:
            report = await _drive(gateway, metrics, f"127.0.0.1:{gw_port}", minutes, warmup,
                                  seed, pool)
            report.injected = await _injected(f"http://127.0.0.1:{sim_port}")
            return report
        finally:
            await gateway.stop()
    finally:
        await simulator.stop()


async def _drive(gateway: Child, metrics: str, address: str, minutes: float, warmup: float,
                 seed: int, pool: int) -> Report:
    async with grpc.aio.insecure_channel(address) as channel:
        load = _Load(Stub(channel), random.Random(seed), Tally(), pool)
        started = time.monotonic()
        samples: list[Sample] = []
        sampler = asyncio.create_task(_sampler(gateway, metrics, started, samples, 5.0))
        load.running.set()
        tasks = _workers(load)
        try:
            await asyncio.sleep(warmup)
            await _saturate(load)
            paused = time.monotonic()
            await _pause(load, tasks, stop=False)
            start, settled_start = await _quiet_sample(gateway, metrics, started)
            quiet = [time.monotonic() - paused]
            load.running.set()
            loaded = time.monotonic()
            await asyncio.sleep(minutes * 60)
            paused = time.monotonic()
            await _pause(load, tasks, stop=True)
            end, settled_end = await _quiet_sample(gateway, metrics, started)
            quiet.append(time.monotonic() - paused)
        finally:
            sampler.cancel()
            load.stopping = True
            load.running.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(sampler, *tasks, return_exceptions=True)
    under_load = [s for s in samples if start.at < s.at < end.at]
    peak = max(under_load, key=lambda s: s.rss_kib, default=None)
    report = Report(minutes, warmup, start, end, (settled_start, settled_end), peak,
                    load.tally, samples)
    report.quiet_seconds = (round(quiet[0], 1), round(quiet[1], 1))
    report.loaded_seconds = round(paused - loaded, 1)
    return report


async def _injected(simulator_url: str) -> dict[str, int]:
    """How many times each fault fired, from the simulator's control API."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        rules = (await http.get(f"{simulator_url}/_simulator/faults")).json()["faults"]
    fired: Counter[str] = Counter()
    for rule in rules:
        fired[rule["kind"] if rule["kind"] != "error" else f"error {rule.get('status')}"] += \
            rule.get("fired", 0)
    return dict(fired)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="load after the warm-up "
                        "(%(default)s)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds (%(default)s)")
    parser.add_argument("--campaigns", type=int, default=40,
                        help="campaigns kept upstream; older ones are deleted (%(default)s)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        report = asyncio.run(run_soak(args.minutes, args.warmup, args.seed, args.campaigns,
                                      Path(tmp)))
    if args.json:
        print(json.dumps({**asdict(report), "growth": report.growth(), "ok": report.ok()},
                         indent=1, default=str))
    else:
        print(markdown(report))
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
