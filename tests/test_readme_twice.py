"""The README's grpcurl walkthrough and watch section, run twice on one `make run` gateway
and again after it restarted (issue 14): every command succeeds and no run touches another
run's campaign (ids never recycled, request_ids fresh per run, the watch on a live campaign).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .rpc.test_grpcurl import walkthrough
from .test_cli import BANNER_END, _address, _env, _serve

ROOT = Path(__file__).resolve().parents[1]


def watch_section() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"Watching row status changes.*?```sh\n(.*?)```", readme, re.S)
    assert block, "README has no watch section"
    lines = [line for line in block.group(1).splitlines() if "<last resume_token>" not in line
             and not line.lstrip().startswith("localhost:50051 revox.campaigns.v1.CampaignService/"
                                              "WatchCampaignRows") or "WATCHED" in line]
    return "\n".join(lines)


def _run(address: str, script: str) -> str:
    # A watch runs until interrupted; grpcurl's -max-time stands for the reader's Ctrl-C.
    script = script.replace("grpcurl -plaintext", "grpcurl -plaintext -max-time 2")
    body = "set -uo pipefail\n" + script.replace("localhost:50051", address)
    done = subprocess.run(["bash", "-c", body], env=_env(), capture_output=True, text=True,
                          timeout=180)
    return done.stdout + done.stderr


def _created_ids(output: str) -> list[str]:
    return re.findall(r'^\s*"id": "(cmp_[0-9a-f]+)"', output, re.M)


def test_the_walkthrough_runs_twice_and_across_a_restart(tmp_path: Path) -> None:
    script = walkthrough()
    outputs: list[str] = []
    with _serve(tmp_path, "--simulator") as gateway:
        address = _address(gateway.read_until(BANNER_END))
        for _ in range(2):
            full = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + script.replace("localhost:50051", address)],
                env=_env(), capture_output=True, text=True, timeout=180,
            )
            assert full.returncode == 0, full.stdout + full.stderr
            outputs.append(full.stdout)
        assert gateway.stop() == 0
    with _serve(tmp_path, "--simulator") as again:
        address = _address(again.read_until(BANNER_END))
        full = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script.replace("localhost:50051", address)],
            env=_env(), capture_output=True, text=True, timeout=180,
        )
        assert full.returncode == 0, full.stdout + full.stderr
        outputs.append(full.stdout)
        watched = _run(address, watch_section())
        assert again.stop() == 0
    runs = [set(_created_ids(out)) for out in outputs]
    assert all(len(ids) == 1 for ids in runs), runs  # one campaign per run, replayed once
    assert len(set.union(*runs)) == 3  # never another run's campaign
    for out in outputs:
        assert '"is_cancelled": true' in out and out.count('"name": "Demo"') >= 2
    # The watch section watches a campaign of its own, alive: a snapshot, not NotFound.
    assert "NotFound" not in watched and "ROW_CHANGE_TYPE_ROW_ADDED" in watched, watched
    assert '"snapshot_complete"' in watched
