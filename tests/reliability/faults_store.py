"""``python -m tests.reliability.faults_store``: the rows of the fault matrix that are not
the upstream's: the gateway killed with SIGKILL 20 times under a create and watch load
(``_fault_kills``), its SQLite database unable to grow (full disk) and locked by another
process (``_fault_database``), and its wall clock stepped by hours (``_fault_clock``).

Each row says what the issue asks of a fault: creates attempted / duplicated /
reconciled / left unknown, watch events lost / duplicated (each subscriber's final view
compared with the upstream's rows), and the recovery time. ``--only kills,disk,locked,
clock`` picks rows; ``--kills N`` (20) and ``--seed``. Exit 1 on any duplicated create,
lost or duplicated watch event, or expectation of a row not met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._fault_clock import ClockRow, run_clock
from ._fault_database import DatabaseRow, run_database_fault
from ._fault_kills import KillRun, run_kills

__all__ = ["main"]

ROWS = ("kills", "disk", "locked", "clock")
HEADER = ("| fault | creates attempted | POSTs | duplicated | reconciled | left unknown | "
          "watch events lost | watch events duplicated | recovery |\n"
          "|---|---|---|---|---|---|---|---|---|")


def _kill_line(r: KillRun) -> str:
    return (f"| gateway kill -9 x{r.kills} under load | {r.attempted} | {r.posts} | "
            f"{r.duplicated} | {r.reconciled} | {r.left_unknown} | {r.events_lost} | "
            f"{r.events_duplicated} | {r.recovery_text()} |")


def _kill_notes(r: KillRun) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in r.client_errors.most_common()) or "-"
    other = ", ".join(f"{k} {v}" for k, v in r.violations.items()) or "none"
    return (f"kill -9 x{r.kills}: {r.messages} watch messages, {r.resumes} resumes, other "
            f"watch-model violations: {other}; create errors the clients retried: {errors}; "
            f"failed otherwise: {r.failed} {dict(r.final_errors)}; metric scrapes failed: "
            f"{r.scrape_failures}; recovery per kill (s): "
            + " ".join(f"{x:.2f}" for x in r.recovery))


def _bad_kills(r: KillRun) -> bool:
    return bool(r.duplicated or r.events_lost or r.events_duplicated or r.violations
                or r.left_unknown or r.failed)


def _database_line(r: DatabaseRow) -> str:
    recovery = "-" if r.recovery is None else f"{r.recovery:.2f} s to the first create"
    return (f"| {r.fault} | {r.attempted} | {r.posts} | {r.duplicated} | {r.reconciled} | "
            f"{r.left_unknown} | {r.events_lost} | {r.events_duplicated} | {recovery} |")


def _database_notes(r: DatabaseRow) -> str:
    def fmt(c: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"
    return (f"{r.fault}: creates during the fault: {fmt(r.during)}; POSTs for those that "
            f"failed: {r.posts_for_failed}; reads during the fault: {fmt(r.reads)}; /healthz "
            f"during the fault: {r.health}; watch: {fmt(r.violations)}"
            + "".join(f"; {n}" for n in r.notes))


def _bad_database(r: DatabaseRow) -> bool:
    return bool(r.duplicated or r.posts_for_failed or r.left_unknown or r.events_lost
                or r.events_duplicated or r.recovery is None)


def _clock_line(r: ClockRow) -> str:
    took = (f"answered {min(r.settled_in):.1f}–{max(r.settled_in):.1f} s after the step"
            if r.settled_in else "-")
    return (f"| {r.fault} | {r.attempted} | {r.posts} | {r.duplicated} | {r.reconciled} | "
            f"{r.left_unknown} | - | - | {took} |")


def _clock_notes(r: ClockRow) -> str:
    retry = (f"RetryInfo seen {min(r.retry_after):.1f}–{max(r.retry_after):.0f} s"
             if r.retry_after else "no RetryInfo")
    return f"{r.fault}: {retry}" + "".join(f"; {n}" for n in r.notes)


def _bad_clock(r: ClockRow) -> bool:
    if r.fault.endswith("(before)"):
        return False  # shows the failure the fix removes
    return bool(r.duplicated or r.left_unknown or any("another" in n for n in r.notes))


async def _run(only: set[str], kills: int, seed: int, workdir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "kills" in only:
        r = await run_kills(kills, seed, workdir)
        out.append({"row": "kills", "line": _kill_line(r), "notes": _kill_notes(r),
                    "bad": _bad_kills(r), "data": asdict(r)})
    for kind in ("disk", "locked"):
        if kind in only:
            d = await run_database_fault(kind, seed, workdir)
            out.append({"row": kind, "line": _database_line(d), "notes": _database_notes(d),
                        "bad": _bad_database(d), "data": asdict(d)})
    if "clock" in only:
        for c in await run_clock(seed, workdir):
            out.append({"row": "clock", "line": _clock_line(c), "notes": _clock_notes(c),
                        "bad": _bad_clock(c), "data": asdict(c)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.faults_store",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ROWS), help="rows to run (%(default)s)")
    parser.add_argument("--kills", type=int, default=20, help="gateway kills (%(default)s)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    only = {r.strip() for r in args.only.split(",") if r.strip()}
    unknown = only - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="faults-store-") as tmp:
        rows = asyncio.run(_run(only, args.kills, args.seed, Path(tmp)))
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(HEADER)
        for row in rows:
            print(row["line"])
        print()
        for row in rows:
            print(f"- {row['notes']}")
    return 1 if any(row["bad"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
