"""A few seeds of the watch consistency model in every ``make test`` (~10 s each).

More seeds, larger campaigns: ``make reliability`` or ``python -m tests.reliability``.
"""

from __future__ import annotations

import pytest

from .watch_model import run_seed


@pytest.mark.timeout(150)
@pytest.mark.parametrize("seed", [101, 102, 103, 104])
async def test_every_subscriber_rebuilds_the_upstream_rows(seed: int) -> None:
    stats = await run_seed(seed)
    # The schedule really exercised what it claims (resumes, snapshots, restarts survived).
    assert stats["restarts"] == 2 and stats["resumes"] > 20 and stats["snapshots"] > 6
