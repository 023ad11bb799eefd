"""Which tests may kill the mutants of which module, and which tests never run.

Shared by the runner (``__main__.py``) and the pytest plugin that mutmut loads
(``pytest_plugin.py``); standard library only, because the plugin is imported
inside mutmut's pytest processes.

Test patterns are ``fnmatch`` patterns on the file part of a pytest node id
(``tests/rpc/test_watch.py``); ``*`` also crosses ``/``.
"""

from __future__ import annotations

import fnmatch
import os

__all__ = [
    "EXCLUDED_TESTS",
    "MODULES_ENV",
    "TEST_PATHS",
    "allows_test",
    "module_of_mutant",
    "module_of_path",
    "patterns_for",
    "selected_modules",
]

# module file pattern -> test file patterns (first match wins)
TEST_PATHS: list[tuple[str, tuple[str, ...]]] = [
    ("gateway/rpc/*.py", ("tests/rpc/*",)),
    ("gateway/service/*.py", ("tests/rpc/*",)),
    ("gateway/store/_idempotency.py", ("tests/store/*", "tests/rpc/*")),
    ("gateway/store/_campaigns.py", ("tests/store/*", "tests/rpc/*")),
    ("gateway/store/*.py", ("tests/store/*",)),
    ("gateway/upstream/*.py", ("tests/upstream/*",)),
    ("gateway/watch/*.py", ("tests/watch/*", "tests/rpc/test_watch*.py")),
]

# Tests that start subprocesses, or run long, or measure time: never run on a mutant.
EXCLUDED_TESTS: tuple[str, ...] = (
    "tests/reliability/*",
    "tests/bench/*",
    "tests/simulator/test_sim_scale.py",
    "tests/rpc/test_grpcurl.py",  # runs the grpcurl binary
    "tests/rpc/test_tls.py::test_cli_serves_tls_with_the_certificate_flags",  # a gateway process
    "tests/store/test_store_changelog.py::test_large_campaign_timing",  # 100k rows, timings
)

# The runner passes the modules of this run (repo-relative paths, comma separated).
MODULES_ENV = "MUTATION_RUN_MODULES"


def patterns_for(module_path: str) -> tuple[str, ...]:
    for pattern, tests in TEST_PATHS:
        if fnmatch.fnmatchcase(module_path, pattern):
            return tests
    raise KeyError(f"{module_path}: no test mapping in tests/mutation/_targets.py")


def module_of_path(module_path: str) -> str:
    """``gateway/service/__init__.py`` -> ``gateway.service`` (mutmut's module names)."""
    name = module_path[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def module_of_mutant(mutant: str) -> str | None:
    """``gateway.watch._token.xǁTokenCodecǁdecode__mutmut_3`` -> ``gateway.watch._token``."""
    if "__mutmut_" not in mutant:
        return None
    parts = mutant.split(".")
    for i, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:i])
    return None


def selected_modules() -> list[str]:
    raw = os.environ.get(MODULES_ENV, "")
    return [m for m in raw.split(",") if m]


def _matches(nodeid: str, pattern: str) -> bool:
    if "::" in pattern:
        return nodeid == pattern or nodeid.startswith(pattern + "[")
    return fnmatch.fnmatchcase(nodeid.split("::", 1)[0], pattern)


def allows_test(nodeid: str, patterns: tuple[str, ...] | list[str]) -> bool:
    if any(_matches(nodeid, p) for p in EXCLUDED_TESTS):
        return False
    return any(_matches(nodeid, p) for p in patterns)
