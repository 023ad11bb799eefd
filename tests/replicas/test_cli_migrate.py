"""``revox-gateway migrate`` and ``serve --no-migrate``, through the CLI process.

Why: replicas are upgraded by one ``migrate`` run ahead of them, then started with
``--no-migrate`` so that none of them changes the schema under the others. Both must
speak in one line with exit status 2 when the database is not what they need, on SQLite
and on PostgreSQL alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.store import head_revision
from tests.store._pg import fresh_postgres_url

ROOT = Path(__file__).resolve().parent.parent.parent
HEAD = head_revision()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "REVOX_"))}


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=_env())


def _one_line_refusal(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("revox-gateway: "), lines[0]
    return lines[0]


def _serve_no_migrate(url: str) -> subprocess.CompletedProcess[str]:
    # An upstream nobody answers on: the refusal comes before the upstream is asked.
    return _run("serve", "--no-migrate", "--listen", "127.0.0.1:0", "--database", url,
                "--upstream-url", "http://127.0.0.1:9", "--log-level", "WARNING")


def _check_round_trip(url: str) -> None:
    line = _one_line_refusal(_serve_no_migrate(url))
    assert "run `revox-gateway migrate` first" in line, line
    first = _run("migrate", "--database", url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"revox-gateway: database schema at revision {HEAD}"
    again = _run("migrate", "--database", url)  # nothing to do: same answer
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_migrate_then_no_migrate_on_sqlite(tmp_path: Path) -> None:
    _check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")


async def test_migrate_then_no_migrate_on_postgresql() -> None:
    async with fresh_postgres_url() as url:
        _check_round_trip(url)


def test_migrate_an_unreachable_database_is_one_line() -> None:
    url = "postgresql+asyncpg://gw:secret@127.0.0.1:9/gw"
    line = _one_line_refusal(_run("migrate", "--database", url))
    assert "cannot reach the database" in line and "secret" not in line, line


def test_migrate_refuses_a_schema_from_a_newer_gateway(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "gw.db"
    url = f"sqlite+aiosqlite:///{path}"
    assert _run("migrate", "--database", url).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    line = _one_line_refusal(_run("migrate", "--database", url))
    assert "newer than this gateway" in line, line
    assert "newer than this gateway" in _one_line_refusal(_serve_no_migrate(url))


def test_workers_refuse_the_embedded_simulator(tmp_path: Path) -> None:
    line = _one_line_refusal(_run("serve", "--workers", "2", "--simulator", "--listen",
                                  "127.0.0.1:50999", "--database",
                                  f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"))
    assert "--workers 2 cannot share --simulator" in line, line


def test_migrate_a_malformed_url_is_one_line() -> None:
    line = _one_line_refusal(_run("migrate", "--database", "nonsense"))
    assert "is not a database URL" in line, line
