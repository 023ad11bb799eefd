"""The contract: lint-clean, documented, and generated/ is what protos/ compiles to."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_buf_lint_standard_and_comments_is_clean() -> None:
    result = subprocess.run(
        [str(BIN / "buf"), "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_equals_a_fresh_regeneration(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), str(tmp_path)],
        check=True, env=env, capture_output=True, timeout=120,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(ROOT / "generated")
        for p in (ROOT / "generated").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, ROOT / "generated", [str(p) for p in fresh], shallow=False)
    assert mismatch == [] and errors == [], f"run `make generate`: {mismatch or errors}"


def test_generated_code_imports_beside_the_official_sdk() -> None:
    # The SDK owns the top-level name `revox`; the stubs live under `generated`.
    code = (
        "import revox, revox.types;"
        "from generated.revox.campaigns.v1 import campaign_service_pb2 as s, campaign_service_pb2_grpc as g;"
        "assert revox.__version__ == '0.1.1';"
        "assert s.DESCRIPTOR.package == 'revox.campaigns.v1';"
        "assert g.CampaignServiceStub"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def _copy_of_protos(tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", copy)
    return copy


def _edit(copy: Path, old: str, new: str) -> None:
    proto = copy / "revox" / "campaigns" / "v1" / "campaign_service.proto"
    text = proto.read_text()
    assert old in text
    proto.write_text(text.replace(old, new))


def test_buf_breaking_refuses_a_change_that_breaks_generated_clients(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "protos"))
    from breaking import breaking

    copy = _copy_of_protos(tmp_path)
    _edit(copy, "string page_token = 7 [", "string page_token = 9 [")  # renumbered
    result = breaking(ROOT / "protos", protos=copy)
    assert result.returncode != 0 and "page_token" in result.stdout + result.stderr


def test_buf_breaking_lets_an_additive_change_through(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "protos"))
    from breaking import breaking

    copy = _copy_of_protos(tmp_path)
    _edit(copy, "  bool skip_cache = 2 [(google.api.field_behavior) = OPTIONAL];\n",
          "  bool skip_cache = 2 [(google.api.field_behavior) = OPTIONAL];\n"
          "  // Optional. A new field.\n  string brand_new = 99 [(google.api.field_behavior) = OPTIONAL];\n")
    result = breaking(ROOT / "protos", protos=copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contract_is_compatible_with_its_recorded_baseline() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "breaking.py")], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
