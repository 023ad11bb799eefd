"""``python -m tests.mutation``: mutation testing of the critical modules, bounded in time.

Runs mutmut (pinned in pyproject.toml, configured in its ``[tool.mutmut]``) over
the modules of ``only_mutate`` or a subset of them, stops it when the time
budget runs out, then prints the score per module and every surviving mutant
(file:line and the mutation) and writes the same report to
``tests/mutation/last-report.md``.

    python -m tests.mutation                                  # all modules, 22 min budget
    python -m tests.mutation --modules gateway/watch/_token.py,gateway/rpc/_status.py
    python -m tests.mutation --modules gateway/service/ --budget 10m
    MUTATION_MODULES=gateway/upstream MUTATION_BUDGET=0 python -m tests.mutation  # no limit
    python -m tests.mutation --cap 45 --budget 1h    # at most 45 s of tests a mutant
    python -m tests.mutation --resume --budget 1h    # go on where the last run stopped

How it stays within the budget: one worker (``--max-children 1``); each mutant
runs only the tests that call the mutated function AND are mapped to its module
(``_targets.py``), fastest first, stopping at the first failure (``-x``); a test
that hangs fails after 30 s (pytest-timeout) and a mutant whose tests run
longer than ``(their usual duration + 10 s) * 3`` is recorded as a timeout. When
the budget is spent mutmut is interrupted: mutants it did not get to are
reported as "not run" (never as killed). ``--cap`` bounds each mutant's tests
(see ``pytest_plugin.py``): a capped mutant counts as survived, so the score
can only be lower than without the cap.

mutmut works in ``mutants/`` at the repository root (git-ignored), wiped at the
start of every run, so every run tests the current sources and tests; it is
left in place afterwards for ``mutmut show <mutant>`` and ``mutmut run
<mutant>`` (re-test one mutant). ``--resume`` keeps it instead, when it was
made from exactly the sources and tests of now (a fingerprint of their
contents, kept in ``mutants/mutation-run.json``) for the same modules or more:
mutmut then skips every mutant that already has a verdict, so a complete run
can be done in several sittings. Mutants a stopped run left unfinished are
tested again.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import signal
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.mutation import _targets
from tests.mutation._layout import LOG_NAME, MUTANTS, REPORT, ROOT
from tests.mutation._report import collect, describe, fmt_duration, render
from tests.mutation._run import resumable, run_mutmut

DEFAULT_BUDGET = 22 * 60.0


# --- what to mutate -------------------------------------------------------------------


def _mutmut_config() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return dict(tomllib.load(f)["tool"]["mutmut"])


def all_targets() -> list[str]:
    """The files mutmut mutates, as it decides (source_paths x only_mutate - do_not_mutate)."""
    cfg = _mutmut_config()
    only = cfg.get("only_mutate", [])
    never = cfg.get("do_not_mutate", [])
    found: list[str] = []
    for src in cfg.get("source_paths", []):
        for path in sorted((ROOT / src).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if only and not any(fnmatch.fnmatch(rel, p) for p in only):
                continue
            if any(fnmatch.fnmatch(rel, p) for p in never):
                continue
            found.append(rel)
    for rel in found:
        _targets.patterns_for(rel)  # every target must have tests mapped to it
    return found


def select(targets: list[str], spec: str) -> list[str]:
    """``spec``: comma/space separated files, directories, dotted modules or globs."""
    chosen: list[str] = []
    for raw in re.split(r"[,\s]+", spec.strip()):
        if not raw:
            continue
        token = raw.removeprefix("./")
        if "/" not in token and not token.endswith(".py") and "." in token:
            token = token.replace(".", "/")  # gateway.watch._token
        hits = [
            t for t in targets
            if t == token
            or t == token + ".py"
            or t == token.rstrip("/") + "/__init__.py"
            or t.startswith(token.rstrip("/") + "/")
            or t.endswith("/" + token)
            or fnmatch.fnmatch(t, token)
        ]
        if not hits:
            raise SystemExit(
                f"--modules: {raw!r} is none of the mutated modules:\n  " + "\n  ".join(targets)
            )
        chosen += [h for h in hits if h not in chosen]
    return [t for t in targets if t in chosen]


def parse_duration(text: str) -> float | None:
    """``1500``, ``1500s``, ``25m``, ``1h30m``; ``0`` or ``none`` means no limit."""
    text = text.strip().lower()
    if text in ("0", "none", "inf", "unlimited", ""):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not parts or not any(parts.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 1500, 25m, 1h30m, 0)")
    h, m, s = (int(g or 0) for g in parts.groups())
    return float(h * 3600 + m * 60 + s) or None



# --- main -----------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutation",
        description="Mutation testing (mutmut) of the critical modules, within a time budget.",
    )
    parser.add_argument(
        "--modules", default=os.environ.get("MUTATION_MODULES", ""),
        help="files, directories, dotted modules or globs, comma separated "
        "(default: $MUTATION_MODULES, else every module of [tool.mutmut] only_mutate)",
    )
    env_budget = os.environ.get("MUTATION_BUDGET", "").strip()
    parser.add_argument(
        "--budget", type=parse_duration,
        default=parse_duration(env_budget) if env_budget else DEFAULT_BUDGET,
        help="wall-clock budget of the whole run: 1500, 25m, 1h30m; 0 = none "
        "(default: $MUTATION_BUDGET, else 22m)",
    )
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("MUTATION_WORKERS", "1")),
        help="mutants tested in parallel (default 1; the machine is shared)",
    )
    env_cap = os.environ.get("MUTATION_CAP", "").strip()
    parser.add_argument(
        "--cap", type=parse_duration, default=parse_duration(env_cap) if env_cap else None,
        help="at most this much of one mutant's tests (then it counts as survived); "
        "default: $MUTATION_CAP, else none",
    )
    parser.add_argument(
        "--resume", action="store_true", default=os.environ.get("MUTATION_RESUME") == "1",
        help="keep the verdicts in mutants/ if it was made from these very sources and tests",
    )
    parser.add_argument("--report", type=Path, default=REPORT, help="markdown report path")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    # Stop mutmut (own session) with us. SIGINT too: a shell starts a background job with
    # SIGINT ignored, and then Ctrl-C's signal (or ``kill -INT``) would do nothing.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    targets = all_targets()
    if args.list:
        for t in targets:
            print(f"{t}: {', '.join(_targets.patterns_for(t))}")
        return 0
    modules = select(targets, args.modules) if args.modules.strip() else targets
    if args.resume:
        why_not = resumable(modules, args.cap)
        if why_not:
            print(f"--resume: cannot resume mutants/: {why_not}; run without --resume",
                  file=sys.stderr)
            return 2
    started = datetime.now()
    t0 = time.monotonic()
    print(
        f"mutation testing {len(modules)} module(s), budget "
        f"{fmt_duration(args.budget) if args.budget else 'none'}:\n  " + "\n  ".join(
            f"{m}  <- {', '.join(_targets.patterns_for(m))}" for m in modules
        ),
        flush=True,
    )
    outcome = run_mutmut(
        modules, args.budget, max(1, args.workers), cap=args.cap, resume=args.resume
    )
    results = collect(modules)
    for r in results:
        for m in r.mutants:
            if m.status in ("survived", "no tests"):
                try:
                    describe(m)
                except Exception as exc:  # a report without a diff beats no report
                    m.diff = [f"(no diff: {type(exc).__name__}: {exc})"]
    report = render(
        results, outcome, args.budget, started, max(1, args.workers), args.cap, args.resume
    )
    args.report.write_text(report)
    print()
    print(report)
    shown = args.report.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    print(f"report written to {shown}; total wall time {fmt_duration(time.monotonic() - t0)}")
    stopped = outcome.stopped_at_budget or outcome.interrupted
    if outcome.returncode not in (0, None) and not stopped:
        tail = (MUTANTS / LOG_NAME).read_text(errors="replace").replace("\r", "\n").splitlines()
        print("\nlast lines of the mutmut log:\n" + "\n".join(tail[-40:]), file=sys.stderr)
        return 1
    return 130 if outcome.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
