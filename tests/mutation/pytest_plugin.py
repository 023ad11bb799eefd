"""pytest plugin loaded by mutmut (``-p tests.mutation.pytest_plugin``, see pyproject.toml).

mutmut knows which tests call each mutated function; this plugin narrows that
to the tests mapped to the mutant's module in ``_targets.py`` (so a store
mutant is judged by tests/store, not by every watch test that happens to write
the log) and drops the excluded tests (subprocesses, timings). It orders a
mutant's tests so that a killed mutant costs little: first the tests that
already killed other mutants of the same function (then of the same module),
then the rest, fastest first. Outside a mutant run (mutmut's stats, clean and
forced-fail runs) it keeps the tests mapped to any module of this run. A mutant
left with no test ends with pytest's exit code 5, which mutmut records as
"no tests". Each mutant run appends one line to ``mutants/mutation-tests.jsonl``
(seconds, tests run, the killing test).

A mutant's tests can be capped (``MUTATION_TEST_CAP`` seconds, set by the
runner's ``--cap``): once that much time has gone by without a failure, the
rest of its tests are skipped and the mutant is recorded as survived, with
``capped`` in its line. A cap can only turn a kill into a survivor, never the
reverse, so a capped score is a lower bound of the uncapped one.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.mutation import _targets

TIMINGS = "mutation-tests.jsonl"  # the working directory of mutmut's runs is mutants/
CAP_ENV = "MUTATION_TEST_CAP"


def _mutant() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def _cap() -> float | None:
    try:
        cap = float(os.environ.get(CAP_ENV, "") or 0)
    except ValueError:
        return None
    return cap if cap > 0 else None


def _module_file(module: str) -> str:
    base = module.replace(".", "/")
    try:
        _targets.patterns_for(base + ".py")
        return base + ".py"
    except KeyError:
        return base + "/__init__.py"


def _allowed_patterns() -> list[str]:
    module = _targets.module_of_mutant(_mutant())
    if module is not None:
        try:
            return list(_targets.patterns_for(_module_file(module)))
        except KeyError:
            return ["*"]
    modules = _targets.selected_modules()
    if not modules:
        return ["*"]
    patterns: list[str] = []
    for path in modules:
        for p in _targets.patterns_for(path):
            if p not in patterns:
                patterns.append(p)
    return patterns


def _durations() -> dict[str, float]:
    try:
        data = json.loads(Path("mutmut-stats.json").read_text())
        return {k: float(v) for k, v in data.get("duration_by_test", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _killers(mutant: str) -> tuple[Counter[str], Counter[str]]:
    """Tests that killed other mutants of this mutant's function, and of its module."""
    function = mutant.partition("__mutmut_")[0]
    module = _targets.module_of_mutant(mutant)
    same_function: Counter[str] = Counter()
    same_module: Counter[str] = Counter()
    try:
        lines = Path(TIMINGS).read_text().splitlines()
    except OSError:
        return same_function, same_module
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        killer = rec.get("killer")
        if not killer:
            continue
        if rec["mutant"].partition("__mutmut_")[0] == function:
            same_function[killer] += 1
        elif _targets.module_of_mutant(rec["mutant"]) == module:
            same_module[killer] += 1
    return same_function, same_module


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    patterns = _allowed_patterns()
    keep = [item for item in items if _targets.allows_test(item.nodeid, patterns)]
    drop = [item for item in items if not _targets.allows_test(item.nodeid, patterns)]
    mutant = _mutant()
    if _targets.module_of_mutant(mutant) is not None:
        durations = _durations()
        same_function, same_module = _killers(mutant)
        keep.sort(key=lambda item: (
            -same_function[item.nodeid],
            -same_module[item.nodeid],
            durations.get(item.nodeid, 0.0),
        ))
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


class _Record:
    started = 0.0
    ran = 0
    capped = 0
    killer: str | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    _Record.started = time.monotonic()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Past the cap with no failure yet: skip before any fixture of the test is set up."""
    cap = _cap()
    if cap is None or _targets.module_of_mutant(_mutant()) is None or _Record.killer:
        return
    if time.monotonic() - _Record.started > cap:
        _Record.capped += 1
        pytest.skip(f"mutation test cap of {cap:g} s spent")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _Record.ran += 1
    if report.failed and _Record.killer is None:
        _Record.killer = report.nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    mutant = _mutant()
    if _targets.module_of_mutant(mutant) is None:
        return
    record = {
        "mutant": mutant,
        "seconds": round(time.monotonic() - _Record.started, 3),
        "tests": _Record.ran,
        "exit": int(exitstatus),
        "killer": _Record.killer,
    }
    if _Record.capped:
        record["capped"] = _Record.capped
    try:
        with open(TIMINGS, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError:
        pass
