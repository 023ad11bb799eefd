"""The verdicts of a mutation run, read from ``mutants/``, and the markdown report of them."""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import TYPE_CHECKING

from tests.mutation._layout import LOG_NAME, MUTANTS, ROOT, TIMINGS_NAME

if TYPE_CHECKING:
    from tests.mutation._run import RunOutcome

__all__ = ["COLUMNS", "ModuleResult", "Mutant", "collect", "column_of", "describe",
           "fmt_duration", "render"]

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


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"



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
