"""Markdown and verdicts of the replica benchmark (``replicas``): tables of what it measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import SuiteResult, median, percentile, table

if TYPE_CHECKING:
    from .replicas import Figures, Plan

__all__ = ["render"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


Verdicts = list[tuple[str, bool, str]]


def _stats(values: list[float]) -> list[str]:
    return [f"{median(values):.2f}", f"{min(values):.2f}", f"{max(values):.2f}"]


def _takeover(plan: Plan, f: Figures, poll: float, follow: float) -> tuple[str, Verdicts]:
    lease_bound, delivery_bound = plan.ttl + follow, plan.ttl + follow + poll
    rows, verdicts = [], []
    for size, t in f.takeovers.items():
        if not t.lease:
            continue
        rows += [
            [f"{size}", str(len(t.lease)), "kill → lease taken by another process",
             *_stats(t.lease), f"≤ {lease_bound:g}"],
            [f"{size}", str(len(t.lease)), "lease taken → the new poller's first commit "
             "starts (its first poll, a full sweep)", *_stats(t.first_commit), "one poll"],
            [f"{size}", str(len(t.lease)), "kill → every surviving subscriber got a "
             "revision of the new poller", *_stats(t.delivered), f"≤ {delivery_bound:g}"],
        ]
        verdicts += [
            (f"takeover after kill -9 within TTL + {follow:g} s ({lease_bound:g} s), "
             f"campaign of {size} rows", max(t.lease) <= lease_bound,
             f"max {max(t.lease):.2f} s, median {median(t.lease):.2f} s over "
             f"{len(t.lease)} kills"),
            (f"first revision of the new poller within TTL + {follow:g} s + poll interval "
             f"({delivery_bound:g} s), campaign of {size} rows",
             max(t.delivered) <= delivery_bound,
             f"max {max(t.delivered):.2f} s, median {median(t.delivered):.2f} s"),
        ]
    md = (
        "### Takeover after `kill -9` of the poller's process\n\n"
        f"Three `serve` replicas on one PostgreSQL database, `--lease-ttl {plan.ttl:g}` "
        f"(the default{'' if plan.ttl == 10 else ', shortened by --quick'}), "
        f"`--poll-interval {poll:g}`, "
        "a subscriber on each; the poller found by its `revox_gateway_watch_pollers` gauge, "
        "killed at a random phase of its renewal cycle (every TTL/3), restarted with a new "
        "subscriber before the next kill; a campaign of each size on a fresh set of three "
        "replicas. Seconds from the SIGKILL (the middle row: from the taking). Load "
        f"average at the start: {f.load.get('takeover', '?')}.\n\n"
        + table(["campaign rows", "kills", "interval", "median s", "min s", "max s",
                 "expected"], rows)
        + "\n\nExpected: the dead holder's lease expires between 2/3 TTL and one TTL after "
        f"the kill (it was renewed at most TTL/3 before), a follower notices within its "
        f"{follow:g} s timer and takes it: ≤ TTL + {follow:g} s. The new holder polls at "
        "once; that first poll is a full sweep (it does not know which rows its "
        "predecessor saw active), so the first new revision reaches every subscriber one "
        "full sweep, its commit and one follower read later; the bound used is TTL + "
        f"{follow:g} s + one poll interval ({poll:g} s)."
    )
    return md, verdicts


def _delivery(plan: Plan, f: Figures) -> tuple[str, Verdicts]:
    rows = []
    for label, values in f.delivery.items():
        if values:
            rows.append([label, str(len(values)), _ms(percentile(values, 50)),
                         _ms(percentile(values, 99)), _ms(max(values))])
    md = (
        f"### Commit → delivery, per live row change ({plan.window:g} s of a running campaign)\n\n"
        "`commit_time` in each message (the poller's wall clock when its commit starts, "
        "so the commit transaction itself is included) against its receipt by the "
        "benchmark on the same host. PostgreSQL: 3 replicas, the "
        "followers read on NOTIFY; SQLite: 2 `serve` processes on one file (as "
        "`--workers 2`), the follower reads every 0.2 s. Same process = the stream on the "
        "poller's own replica. Load average at the start: PostgreSQL "
        f"{f.load.get('PostgreSQL delivery', '?')}, SQLite {f.load.get('SQLite delivery', '?')}."
        "\n\n"
        + table(["backend, subscriber", "changes", "p50 ms", "p99 ms", "max ms"], rows)
    )
    verdicts = []
    extra = {backend: _follower_extra(f, backend) for backend in ("PostgreSQL", "SQLite")}
    pg, lite = extra["PostgreSQL"], extra["SQLite"]
    if pg is not None and lite is not None:
        verdicts.append(("a follower on PostgreSQL (NOTIFY) adds less to the p50 than one on "
                         "SQLite (0.2 s timer)", pg < lite,
                         f"cross-replica − same-process p50: PostgreSQL {_ms(pg)} ms, SQLite "
                         f"{_ms(lite)} ms"))
    return md, verdicts


def _follower_extra(f: Figures, backend: str) -> float | None:
    """What following adds to the median: cross-replica p50 − same-process p50."""
    cross = f.delivery.get(f"{backend} cross-replica")
    same = f.delivery.get(f"{backend} same process")
    if not cross or not same:
        return None
    return percentile(cross, 50) - percentile(same, 50)


def _unary(plan: Plan, f: Figures) -> str:
    rows = []
    for name, s in f.unary.items():
        rows.append([name, f"{median(s['rps']):,.0f}", _ms(median(s["p50"])),
                     _ms(median(s["p99"]))])
    pg, lite = f.unary.get("PostgreSQL"), f.unary.get("SQLite")
    ratios = ""
    if pg and lite:
        per_round = [a / b for a, b in zip(pg["rps"], lite["rps"], strict=True)]
        ratios = (f"\n\nPostgreSQL / SQLite calls/s: **{median(per_round):.2f}×** (median of "
                  f"per-round ratios; range {min(per_round):.2f}–{max(per_round):.2f}); "
                  f"p50 {median(pg['p50']) / median(lite['p50']):.2f}×, "
                  f"p99 {median(pg['p99']) / median(lite['p99']):.2f}× SQLite's.")
    return (
        f"### Cached GetCampaign, PostgreSQL against SQLite (concurrency {plan.concurrency})\n\n"
        f"One gateway process per backend, the same simulator and campaign, cache filled "
        f"first; {plan.rounds} interleaved rounds of {plan.calls} calls each; medians over "
        "rounds (latency per call at that concurrency, queueing included). Load average at "
        f"the start: {f.load.get('GetCampaign', '?')}.\n\n"
        + table(["backend", "calls/s", "p50 ms", "p99 ms"], rows) + ratios
    )


def render(plan: Plan, f: Figures, *, poll_interval: float, follow_interval: float,
           speedup: float) -> SuiteResult:
    takeover, v1 = _takeover(plan, f, poll_interval, follow_interval)
    delivery, v2 = _delivery(plan, f)
    md = (
        "## Issue 15: replicas on PostgreSQL\n\n"
        f"Real processes: `python -m gateway.simulator` (clock {speedup:g}× real time, "
        f"campaigns of {plan.contacts} (and {plan.small_contacts}) contacts at {plan.cap} "
        "concurrent calls, calling windows ignored) and "
        "`python -m gateway serve` replicas; a fresh PostgreSQL database, dropped at the "
        "end.\n\n" + takeover + "\n\n" + delivery + "\n\n" + _unary(plan, f)
    )
    return SuiteResult(md, v1 + v2)
