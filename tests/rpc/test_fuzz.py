"""The fuzz property of ``python -m tests.reliability.fuzz`` with a few examples per rpc,
so that ``make test`` keeps it honest: every rpc of the service (from its descriptor),
fed requests drawn from the descriptors and corrupt bytes, over a real port in front of
the simulator, never answers UNKNOWN or INTERNAL, never reaches the upstream for an
INVALID_ARGUMENT, never logs a traceback and keeps serving."""

from __future__ import annotations

from pathlib import Path

from ..reliability.fuzz import fuzz
from ..reliability.stand import SERVICE

EXAMPLES = 10  # per rpc and kind: about 15 s in all


def test_every_rpc_holds_its_property_under_fuzzing(tmp_path: Path) -> None:
    tallies = fuzz(EXAMPLES, seed=16, workdir=tmp_path)
    assert {t.rpc.split(" ")[0] for t in tallies} == {m.name for m in SERVICE.methods}
    assert all(t.tried == EXAMPLES for t in tallies), [(t.rpc, t.tried) for t in tallies]
    violations = [v for t in tallies for v in t.violations]
    assert not violations, "\n".join(violations)
    assert not any(t.failed for t in tallies), [t.line() for t in tallies]
