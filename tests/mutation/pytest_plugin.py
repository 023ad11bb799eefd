"""pytest plugin loaded by mutmut (``-p tests.mutation.pytest_plugin``, see pyproject.toml).

mutmut knows which tests call each mutated function; this plugin narrows that
to the tests mapped to the mutant's module in ``_targets.py`` (so a store
mutant is judged by tests/store, not by every watch test that happens to write
the log), drops the excluded tests (subprocesses, timings), and runs the
fastest tests first so that a killed mutant costs little. Outside a mutant run
(mutmut's stats, clean and forced-fail runs) it keeps the tests mapped to any
module of this run. A mutant left with no test ends with pytest's exit code 5,
which mutmut records as "no tests".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.mutation import _targets


def _module_file(module: str) -> str:
    base = module.replace(".", "/")
    try:
        _targets.patterns_for(base + ".py")
        return base + ".py"
    except KeyError:
        return base + "/__init__.py"


def _allowed_patterns() -> list[str] | None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    module = _targets.module_of_mutant(mutant)
    if module is not None:
        try:
            return list(_targets.patterns_for(_module_file(module)))
        except KeyError:
            return None
    modules = _targets.selected_modules()
    if not modules:
        return None
    patterns: list[str] = []
    for path in modules:
        for p in _targets.patterns_for(path):
            if p not in patterns:
                patterns.append(p)
    return patterns


def _durations() -> dict[str, float]:
    try:
        data = json.loads(Path("mutmut-stats.json").read_text())  # cwd is mutants/
        return {k: float(v) for k, v in data.get("duration_by_test", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    patterns = _allowed_patterns()
    keep: list[Any] = []
    drop: list[Any] = []
    for item in items:
        nodeid = item.nodeid
        ok = (
            _targets.allows_test(nodeid, patterns)
            if patterns is not None
            else _targets.allows_test(nodeid, ["*"])
        )
        (keep if ok else drop).append(item)
    if _targets.module_of_mutant(os.environ.get("MUTANT_UNDER_TEST", "")) is not None:
        durations = _durations()
        keep.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
