"""Where a mutation run keeps its files: ``mutants/`` (mutmut's, git-ignored) and the report."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CAP_ENV", "LOG_NAME", "MUTANTS", "REPORT", "ROOT", "RUN_NAME", "TIMINGS_NAME"]

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
REPORT = Path(__file__).resolve().parent / "last-report.md"
LOG_NAME = "mutation-run.log"  # inside mutants/
RUN_NAME = "mutation-run.json"  # inside mutants/: what a resumed run must match
TIMINGS_NAME = "mutation-tests.jsonl"  # inside mutants/, written by pytest_plugin.py
CAP_ENV = "MUTATION_TEST_CAP"  # read by pytest_plugin.py
