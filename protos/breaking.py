"""``make lint``'s compatibility check: the contract against its recorded baseline.

Usage: python protos/breaking.py   (from the repository root; ``make lint`` runs it)

``protos/BASELINE`` names a git ref (a commit of the last contract release). Its
``protos/`` is taken with ``git archive`` into a temporary directory, given today's
googleapis imports (``protos/third_party``, not in git), and ``buf breaking`` compares
the working tree against it with the FILE rules of ``protos/buf.yaml``: a change that
would break code generated from the baseline (a field renumbered, removed or retyped, an
rpc renamed, ...) fails; additive changes pass. Move the baseline only when a release is
cut (``git rev-parse HEAD > protos/BASELINE``).

A clone without the baseline commit (a shallow clone) cannot run the check: it says so
and exits 0 rather than pretend; a full clone always runs it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["against_baseline", "breaking"]

PROTOS = Path(__file__).resolve().parent
ROOT = PROTOS.parent
BUF = Path(sys.executable).parent / "buf"


def breaking(against: Path, *, protos: Path = PROTOS) -> subprocess.CompletedProcess[str]:
    """``buf breaking`` of ``protos`` against the buf workspace at ``against``."""
    return subprocess.run(
        [str(BUF), "breaking", "--against", str(against)],
        cwd=protos, capture_output=True, text=True, timeout=300,
    )


def against_baseline(ref: str, into: Path) -> Path | None:
    """The baseline's protos/ written under ``into`` (None: the ref is not in this clone)."""
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True
    )
    if known.returncode != 0:
        return None
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "protos"], cwd=ROOT, capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    baseline = into / "protos"
    shutil.copytree(PROTOS / "third_party", baseline / "third_party", dirs_exist_ok=True)
    shutil.copyfile(PROTOS / "buf.yaml", baseline / "buf.yaml")  # today's module layout
    return baseline


def main() -> int:
    ref = (PROTOS / "BASELINE").read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = against_baseline(ref, Path(tmp))
        if baseline is None:
            print(f"buf breaking: baseline {ref[:12]} is not in this clone (shallow?); skipped")
            return 0
        result = breaking(baseline)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        print(f"buf breaking: the contract is compatible with baseline {ref[:12]}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
