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
import ast
import difflib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.mutation import _targets

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
REPORT = Path(__file__).resolve().parent / "last-report.md"
LOG_NAME = "mutation-run.log"  # inside mutants/
RUN_NAME = "mutation-run.json"  # inside mutants/: what a resumed run must match
TIMINGS_NAME = "mutation-tests.jsonl"  # inside mutants/, written by pytest_plugin.py
CAP_ENV = "MUTATION_TEST_CAP"  # read by pytest_plugin.py
# what a run depends on: a resumed run needs these unchanged (their contents)
FINGERPRINTED = ("gateway", "generated", "tests", "pyproject.toml", "README.md")

DEFAULT_BUDGET = 22 * 60.0
REPORT_RESERVE = 45.0  # seconds kept for stopping mutmut and writing the report
STOP_GRACE = 40.0  # after SIGINT, before the process group is terminated

# mutmut's verdicts (mutmut.stats.status_by_exit_code) -> this report's columns
COLUMNS = ("killed", "survived", "timeout", "no tests", "not run", "other")
_COLUMN_OF_STATUS = {
    "killed": "killed",
    "survived": "survived",
    "timeout": "timeout",
    "no tests": "no tests",
    "not checked": "not run",
    "check was interrupted by user": "not run",
}


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


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"


# --- running mutmut -------------------------------------------------------------------

_SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
_PROGRESS = re.compile(r"(\d+)/(\d+)\s+🎉 (\d+) 🫥 (\d+)\s+⏰ (\d+)\s+🤔 (\d+)\s+🙁 (\d+)")
_NOISE = re.compile(
    r"^(also copying .*|[\w./-]+\.py|Running mutation testing|Mutant results|-+"
    r"|[🎉🙁🫥⏰🤔🔇🧙🛑?] \S+__mutmut_\d+)$"
)


@dataclass
class RunOutcome:
    returncode: int | None = None
    stopped_at_budget: bool = False
    interrupted: bool = False
    wall: float = 0.0
    phases: list[tuple[float, str]] = field(default_factory=list)


class _Output(threading.Thread):
    """Copies mutmut's output to the log; echoes phases, errors and progress now and then."""

    def __init__(self, stream: Any, log: Any, t0: float, modules: list[str]) -> None:
        super().__init__(daemon=True)
        self.stream, self.log, self.t0, self.modules = stream, log, t0, modules
        self.phase = ""
        self.outcome_phases: list[tuple[float, str]] = []
        self.progress: tuple[int, ...] | None = None
        self._last_progress_print = 0.0

    def say(self, text: str) -> None:
        print(f"[{fmt_duration(time.monotonic() - self.t0)}] {text}", flush=True)

    def run(self) -> None:
        buf = b""
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else b""
            if not chunk:
                break
            self.log.write(chunk)
            self.log.flush()
            buf += chunk
            *segments, buf = re.split(rb"[\r\n]", buf)
            for seg in segments:
                try:
                    self._segment(seg.decode("utf-8", "replace").strip())
                except Exception as exc:  # never stop copying the log
                    self.say(f"(progress unavailable: {exc!r})")
        if buf:
            self._segment(buf.decode("utf-8", "replace").strip())

    def _segment(self, line: str) -> None:
        if not line:
            return
        if line[0] in _SPINNER:
            body = line[1:].strip()
            m = _PROGRESS.search(body)
            if m:
                self.progress = tuple(int(g) for g in m.groups())
                now = time.monotonic()
                if now - self._last_progress_print >= 60:
                    self._last_progress_print = now
                    self.say(self.describe_progress())
                if self.phase != "mutants":
                    self.phase = "mutants"
                    self.outcome_phases.append((time.monotonic() - self.t0, "testing mutants"))
                return
            if body and body != self.phase:
                self.phase = body
                self.outcome_phases.append((time.monotonic() - self.t0, body))
                self.say(f"mutmut: {body}")
            return
        if _NOISE.match(line) or _PROGRESS.search(line):
            return
        self.say(f"mutmut: {line}")

    def describe_progress(self) -> str:
        """Counts over this run's modules (mutmut's own line counts every mutated file)."""
        counts = dict.fromkeys(COLUMNS, 0)
        for r in collect(self.modules):
            for m in r.mutants:
                counts[column_of(m.status)] += 1
        total = sum(counts.values())
        done = total - counts["not run"]
        return f"{done}/{total} mutants tested: " + ", ".join(
            f"{counts[c]} {c}" for c in COLUMNS if c != "not run"
        )


def fingerprint() -> str:
    """A digest of every file a mutant's verdict depends on."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(
            p for p in top.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
            and not (p.parent == Path(__file__).resolve().parent and p.suffix == ".md")
        )
        for path in files:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def resumable(modules: list[str], cap: float | None) -> str | None:
    """Why ``mutants/`` cannot be resumed for this run, or None when it can."""
    try:
        last = json.loads((MUTANTS / RUN_NAME).read_text())
    except (OSError, ValueError):
        return "no earlier run in mutants/"
    if last.get("fingerprint") != fingerprint():
        return "the sources or tests changed since the earlier run"
    if not set(modules) <= set(last.get("modules", [])):
        return "the earlier run's statistics do not cover these modules"
    if last.get("cap") != cap:
        return f"the earlier run had another --cap ({last.get('cap')})"
    return None


def _forget_unfinished() -> int:
    """Verdicts of mutants a stopped run left unfinished are cleared, to be tested again."""
    cleared = 0
    for meta in MUTANTS.rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        unfinished = [key for key, code in codes.items() if code == 2]  # "interrupted"
        for key in unfinished:
            codes[key] = None
        if unfinished:
            meta.write_text(json.dumps(data, indent=4))
            cleared += len(unfinished)
    return cleared


def run_mutmut(
    modules: list[str], budget: float | None, workers: int, *, cap: float | None = None,
    resume: bool = False,
) -> RunOutcome:
    if resume:
        print(f"resuming mutants/: {_forget_unfinished()} unfinished mutant(s) to test again")
    else:
        if MUTANTS.exists():
            shutil.rmtree(MUTANTS)
        MUTANTS.mkdir()
        (MUTANTS / RUN_NAME).write_text(json.dumps(
            {"fingerprint": fingerprint(), "modules": modules, "cap": cap}, indent=2
        ))
    globs = [_targets.module_of_path(m) + ".x*" for m in modules]
    cmd = [
        sys.executable, "-c", "from mutmut.__main__ import cli; cli()",
        "run", "--max-children", str(workers), *globs,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("MUTANT_UNDER_TEST", "PYTEST_ADDOPTS")}
    env[_targets.MODULES_ENV] = ",".join(modules)
    env[CAP_ENV] = str(cap or 0)
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.monotonic()
    outcome = RunOutcome()
    deadline = None if budget is None else t0 + max(budget - REPORT_RESERVE, 30.0)
    with open(MUTANTS / LOG_NAME, "ab" if resume else "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        reader = _Output(proc.stdout, log, t0, modules)
        reader.start()
        reader.say(f"mutmut started (pid {proc.pid}), log: mutants/{LOG_NAME}")
        try:
            while proc.poll() is None:
                if deadline is not None and time.monotonic() >= deadline:
                    outcome.stopped_at_budget = True
                    reader.say("time budget spent: stopping mutmut (untested mutants: not run)")
                    _stop(proc)
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            outcome.interrupted = True
            reader.say("interrupted: stopping mutmut")
            _stop(proc)
        proc.wait()
        _kill_group(proc.pid)  # workers orphaned by a hard stop
        reader.join(timeout=10)
        if reader.progress:
            reader.say(reader.describe_progress())
    outcome.returncode = proc.returncode
    outcome.wall = time.monotonic() - t0
    outcome.phases = reader.outcome_phases
    return outcome


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT lets mutmut stop its workers and keep every verdict so far; then harder."""
    for sig, wait in ((signal.SIGINT, STOP_GRACE), (signal.SIGTERM, 10.0)):
        try:
            if sig == signal.SIGINT:
                os.kill(proc.pid, sig)  # mutmut only; its workers finish or are stopped by it
            else:
                os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass
    _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- results --------------------------------------------------------------------------


@dataclass
class Mutant:
    name: str
    module_path: str
    status: str
    line: int | None = None
    function: str = ""
    capped: bool = False  # survived because its tests were cut off at --cap
    diff: list[str] = field(default_factory=list)


@dataclass
class ModuleResult:
    path: str
    generated: bool
    mutants: list[Mutant]

    def count(self, column: str) -> int:
        return sum(1 for m in self.mutants if column_of(m.status) == column)


def column_of(status: str) -> str:
    return _COLUMN_OF_STATUS.get(status, "other")


def collect(modules: list[str]) -> list[ModuleResult]:
    from mutmut.stats import status_by_exit_code

    results = []
    for path in modules:
        meta = MUTANTS / (path + ".meta")
        if not meta.exists():
            results.append(ModuleResult(path, False, []))
            continue
        try:
            codes = json.loads(meta.read_text())["exit_code_by_key"]
        except ValueError:  # being rewritten by mutmut: read again
            time.sleep(0.2)
            codes = json.loads(meta.read_text())["exit_code_by_key"]
        mutants = [
            Mutant(name, path, status_by_exit_code[code]) for name, code in sorted(codes.items())
        ]
        results.append(ModuleResult(path, True, mutants))
    capped = _capped()
    for r in results:
        for m in r.mutants:
            m.capped = m.status == "survived" and m.name in capped
    return results


def _capped() -> set[str]:
    """Mutants whose last test run was cut off by the cap (pytest_plugin.py's records)."""
    capped: set[str] = set()
    try:
        lines = (MUTANTS / TIMINGS_NAME).read_text().splitlines()
    except OSError:
        return capped
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("capped"):
            capped.add(rec["mutant"])
        else:
            capped.discard(rec.get("mutant"))
    return capped


def describe(mutant: Mutant) -> None:
    """Fill in the line, the function and the changed lines of a mutant."""
    import libcst as cst
    from mutmut.mutation.diff_apply import (
        read_functions_from_index,
        read_mutant_function,
        read_mutants_module,
        read_original_function,
    )
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    func, cls = orig_function_and_class_names_from_key(mutant.name)
    mutant.function = f"{cls}.{func}" if cls else func
    cwd = os.getcwd()
    os.chdir(ROOT)  # mutmut reads mutants/ relative to the working directory
    try:
        pair = read_functions_from_index(mutant.name, mutant.module_path)
        if pair is None:
            module = read_mutants_module(mutant.module_path)
            pair = (
                read_original_function(module, mutant.name),
                read_mutant_function(module, mutant.name),
            )
    finally:
        os.chdir(cwd)
    orig, mutated = (cst.Module([f]).code.strip().split("\n") for f in pair)
    changed: list[str] = []
    first: int | None = None  # index in orig of the first changed line
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=orig, b=mutated).get_opcodes():
        if tag == "equal":
            continue
        if first is None:
            first = i1
        changed += ["- " + line.strip() for line in orig[i1:i2]]
        changed += ["+ " + line.strip() for line in mutated[j1:j2]]
    mutant.diff = changed[:12] + (["  …"] if len(changed) > 12 else [])
    mutant.line = _source_line(mutant.module_path, cls, func, orig, first or 0)


def _source_line(path: str, cls: str | None, func: str, orig: list[str], index: int) -> int | None:
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    body: list[ast.stmt] = tree.body
    if cls:
        owner = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == cls), None)
        body = owner.body if owner else []
    node = next(
        (
            n for n in body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == func
        ),
        None,
    )
    if node is None:
        return None
    def_index = next(
        (i for i, line in enumerate(orig) if re.match(rf"\s*(async\s+)?def\s+{func}\b", line)), 0
    )
    guess = node.lineno + index - def_index
    lines = source.split("\n")
    want = orig[index].strip() if index < len(orig) else ""
    if 0 < guess <= len(lines) and lines[guess - 1].strip() == want:
        return guess
    end = node.end_lineno or node.lineno
    for n in range(node.lineno, end + 1):  # formatting differs: find the text in the function
        if lines[n - 1].strip() == want:
            return n
    return guess


# --- the report -----------------------------------------------------------------------


def pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}%" if den else "n/a"


def render(
    results: list[ModuleResult], outcome: RunOutcome, budget: float | None, started: datetime,
    workers: int, cap: float | None = None, resumed: bool = False,
) -> str:
    version = metadata.version("mutmut")
    out: list[str] = ["# Mutation testing report", ""]
    if outcome.stopped_at_budget:
        how = "stopped when the time budget was spent"
    elif outcome.interrupted:
        how = "interrupted"
    elif outcome.returncode == 0:
        how = "completed"
    else:
        how = f"mutmut failed (exit code {outcome.returncode}; see mutants/{LOG_NAME})"
    out.append(
        f"mutmut {version}, {started:%Y-%m-%d %H:%M}, {workers} worker(s), "
        f"budget {fmt_duration(budget) if budget else 'none'}, "
        f"mutmut wall time {fmt_duration(outcome.wall)}: **{how}**."
        + (f" Each mutant's tests capped at {cap:g} s." if cap else "")
        + (" Resumed from the earlier run's verdicts in mutants/." if resumed else "")
    )
    if outcome.phases:
        out.append("")
        out.append("Phases (start time): " + ", ".join(
            f"{name} {fmt_duration(t)}" for t, name in outcome.phases
        ) + ".")
    out += [
        "",
        "| module | mutants | killed | survived | timeout | no tests | not run | other | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = dict.fromkeys(COLUMNS, 0)
    total = 0
    for r in results:
        counts = {c: r.count(c) for c in COLUMNS}
        n = len(r.mutants)
        total += n
        for c in COLUMNS:
            totals[c] += counts[c]
        name = r.path if r.generated else f"{r.path} (not generated)"
        out.append(
            f"| {name} | {n} | " + " | ".join(str(counts[c]) for c in COLUMNS)
            + f" | {pct(counts['killed'], n)} |"
        )
    out.append(
        f"| **total** | **{total}** | " + " | ".join(f"**{totals[c]}**" for c in COLUMNS)
        + f" | **{pct(totals['killed'], total)}** |"
    )
    run = total - totals["not run"]
    out += [
        "",
        f"**Score: {totals['killed']} killed / {total} mutants = {pct(totals['killed'], total)}**"
        f" (of the {run} mutants tested: {pct(totals['killed'], run)} killed;"
        f" {totals['timeout']} timed out, {totals['not run']} not run"
        + (
            f"; {sum(m.capped for r in results for m in r.mutants)} of the survivors had their"
            f" tests cut off at the {cap:g} s cap"
            if cap else ""
        ) + ").",
        "",
        "killed: a mapped test failed. survived: all the mapped tests that call the function "
        "passed. timeout: the tests ran over (their usual duration + 10 s) x 3. no tests: no "
        "mapped test calls the function. not run: the budget ran out first (or the run was "
        "interrupted); not counted as killed. other: mutmut's suspicious/segfault/skipped. "
        "Score = killed / mutants.",
        "",
    ]
    listed = [m for r in results for m in r.mutants if m.status in ("survived", "no tests")]
    out.append(f"## Surviving mutants ({len(listed)})")
    out.append("")
    if listed:
        out += [
            "`file:line` (function) then the mutation (`-` original, `+` mutant). Show one with "
            "`.venv/bin/mutmut show <name>`; after adding a test, re-test it with "
            "`.venv/bin/mutmut run <name>` (both use `mutants/` from the last run).",
            "",
        ]
    for r in results:
        mine = [m for m in r.mutants if m.status in ("survived", "no tests")]
        if not mine:
            continue
        mine.sort(key=lambda m: (m.line or 0, m.name))
        out.append(f"### {r.path} ({len(mine)})")
        out.append("")
        for m in mine:
            tag = " — no mapped test calls it" if m.status == "no tests" else ""
            tag += f" — tests cut off at the {cap:g} s cap" if m.capped and cap else ""
            where = f"{m.module_path}:{m.line}" if m.line else m.module_path
            out.append(f"- `{where}` ({m.function}){tag} — `{m.name}`")
            if m.diff:
                out.append("  ```diff")
                out += [f"  {d}" for d in m.diff]
                out.append("  ```")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


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
    for sig in (signal.SIGTERM, signal.SIGHUP):  # stop mutmut (own session) with us
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
