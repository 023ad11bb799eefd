"""Simulator identities across restarts: random seeds by default, and the state file.

Why: the gateway's database outlives the simulator. A simulator that forgot its campaigns
on restart, or handed a new campaign the id of an old (even deleted) one, would make the
gateway mix two campaigns up; a real upstream never recycles ids.
"""

from __future__ import annotations

import asyncio
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.simulator import Simulator, SimulatorConfig, StateFileError
from gateway.simulator._cli import build_parser, config_from_args

from ..support import contacts
from .conftest import KEY, OTHER_KEY

TEAMMATE = "sk_test_teammate"
BODY = {"assistant_id": "asst_state", "name": "persisted"}


def _sim(path: Path | None = None, seed: int | None = None, **config: Any) -> Simulator:
    return Simulator(SimulatorConfig(seed=seed, clock="manual",
                                     state_path=None if path is None else str(path), **config))


def _client(sim: Simulator, key: str = KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {key}"})


async def _create(client: httpx.AsyncClient, n: int = 3, **extra: Any) -> str:
    r = await client.post("/campaigns", json={**BODY, "contacts": contacts(n), **extra})
    assert r.status_code == 200, r.text
    return str(r.json()["campaign"]["id"])


async def _view(client: httpx.AsyncClient, cid: str) -> tuple[Any, Any]:
    campaign = (await client.get(f"/campaigns/{cid}")).json()
    rows = (await client.get(f"/campaigns/{cid}/rows", params={"page_size": 1000})).json()
    return campaign, rows


async def test_unseeded_simulators_never_reuse_ids() -> None:
    ids = []
    for _ in range(2):
        async with _sim() as sim, _client(sim) as client:
            ids.append(await _create(client))
            assert sim.state()["seed"] is None and sim.state()["state_path"] is None
    assert ids[0] != ids[1]


@pytest.mark.parametrize("seed", [None, 7])
async def test_a_restart_keeps_campaigns_rows_keys_and_never_reuses_an_id(
        tmp_path: Path, seed: int | None) -> None:
    path = tmp_path / "sim.db"
    async with _sim(path, seed) as sim, _client(sim) as client:
        assert sim.state()["state_path"] == str(path) and sim.state()["seed"] == seed
        kept = await _create(client, 20)
        deleted = await _create(client, 2)
        cancelled = await _create(client, 4, scheduled_at="2026-03-03T09:00:00Z")
        assert (await client.post(f"/campaigns/{cancelled}/cancel")).status_code == 200
        await sim.advance(3600)
        assert (await client.delete(f"/campaigns/{deleted}")).status_code == 200
        sim.add_key(TEAMMATE, organization_of=KEY)
        sim.revoke_key(OTHER_KEY)
        before = {cid: await _view(client, cid) for cid in (kept, cancelled)}
        listed = (await client.get("/campaigns")).json()
        now, pending = sim.state()["now_epoch"], sim.state()["pending_events"]
    statuses = {row["call"]["status"] for row in before[kept][1]["rows"]}
    assert len(statuses) > 1, statuses  # calls in several states are restored, not just one
    assert pending > 0  # and calls still to come

    async with _sim(path, seed) as sim, _client(sim) as client:
        assert sim.state()["now_epoch"] == now
        # The engine's events are back (less those of the deleted campaign, never kept).
        assert 0 < sim.state()["pending_events"] <= pending
        assert {cid: await _view(client, cid) for cid in (kept, cancelled)} == before
        assert (await client.get("/campaigns")).json() == listed
        assert (await client.get(f"/campaigns/{deleted}")).status_code == 404
        async with _client(sim, TEAMMATE) as mate, _client(sim, OTHER_KEY) as revoked:
            assert (await mate.get(f"/campaigns/{kept}")).status_code == 200
            assert (await revoked.get("/campaigns")).status_code == 401
        new = await _create(client)
        processed = sim.state()["events_processed"]
        await sim.advance(3600)  # the restored engine goes on with the calls
        assert (await client.get(f"/campaigns/{kept}")).json() != before[kept][0]
        assert sim.state()["events_processed"] > processed
    assert new not in (kept, deleted, cancelled)
    if seed is not None:
        # A fresh simulator with the same seed hands out the first ids again; the file does not.
        async with _sim(None, seed) as fresh, _client(fresh) as client:
            assert await _create(client) == kept


async def test_a_restart_mid_run_changes_no_outcome(tmp_path: Path) -> None:
    async def run(path: Path, restart_at: set[int]) -> list[Any]:
        sim = await _sim(path, 7).start()
        client = _client(sim)
        try:
            ids = [await _create(client, 40, assistant_id=f"asst_{k}") for k in range(3)]
            await client.post(f"/campaigns/{ids[2]}/cancel")
            views = []
            # Short steps first, so restarts catch calls between ringing, talking and ending.
            for step, seconds in enumerate([7] * 30 + [600] * 8):
                await sim.advance(seconds)
                if step in restart_at:
                    await client.aclose()
                    await sim.stop()
                    sim = await _sim(path, 7).start()
                    client = _client(sim)
                # Every step, so calls caught ringing or talking by a restart are compared.
                views.append([await _view(client, cid) for cid in ids])
            return views
        finally:
            await client.aclose()
            await sim.stop()

    straight = await run(tmp_path / "straight.db", set())
    assert await run(tmp_path / "restarted.db", {1, 2, 3, 5, 8, 13, 21, 32}) == straight


async def test_the_clock_resumes_and_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    async with _sim(path) as sim:
        saved = await sim.advance(7200)
    async with _sim(path, start_time=saved - 86400) as sim:  # earlier: ignored
        assert sim.now() == saved
    async with _sim(path, start_time=saved + 86400) as sim:  # later: jumps forward
        assert sim.now() == saved + 86400


async def test_the_real_clock_saves_progress_about_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    config = SimulatorConfig(clock="real", speedup=600, tick_seconds=0.01, state_path=str(path))
    async with Simulator(config) as sim:
        first = sim.state()["state_saves"]
        deadline = time.monotonic() + 10
        while sim.state()["state_saves"] < first + 2:  # no request: the ticker saves
            assert time.monotonic() < deadline, sim.state()
            await asyncio.sleep(0.02)
        seen = sim.now()
    async with _sim(path) as sim:
        assert sim.now() >= seen


def _write_garbage(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(b"not a database, just bytes\n" * 100)


def _write_one_byte(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(b"x")  # SQLite alone would take it for an empty database


def _write_foreign_db(path: Path) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")


def _tamper(sql: str, *args: Any) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(sql, args)
    return apply


@pytest.mark.parametrize("damage, message", [
    (_write_garbage, "is not a simulator state file"),
    (_write_one_byte, "is not a simulator state file"),
    (_write_foreign_db, "is not a simulator state file"),
    (_tamper("PRAGMA user_version = 99"), "has format version 99, this simulator reads version 1"),
    (_tamper("UPDATE campaign_rows SET data = x'80'"), "is corrupt"),
    # A class or function reference in a value would let the file run code: refused.
    (_tamper("UPDATE campaigns SET data = ?", pickle.dumps(print)), "is corrupt"),
    (_tamper("DELETE FROM organizations"), "is corrupt"),
])
async def test_an_unusable_state_file_is_refused_in_one_line(
        tmp_path: Path, damage: Callable[[Path], None], message: str) -> None:
    path = tmp_path / "sim.db"
    async with _sim(path) as sim, _client(sim) as client:
        await _create(client)
    damage(path)
    content = path.read_bytes()
    with pytest.raises(StateFileError) as err:
        await _sim(path).start()
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text, text
    if not content.startswith(b"SQLite format 3"):
        assert path.read_bytes() == content  # refused, not taken for an empty database


async def test_a_state_file_in_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    async with _sim(path) as sim, _client(sim) as client:
        with pytest.raises(StateFileError, match="is in use by another simulator"):
            await _sim(path).start()
        await _create(client)  # the first one is unaffected
    async with _sim(path) as sim:  # released on stop
        assert sim.state()["campaigns"] == 1


def test_cli_flags() -> None:
    assert config_from_args(build_parser().parse_args([])).seed is None
    args = build_parser().parse_args(["--seed", "4", "--state", "/tmp/x.db"])
    config = config_from_args(args)
    assert (config.seed, config.state_path) == (4, "/tmp/x.db")


def _launch(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway.simulator",
                             "--listen", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if found is None:
        proc.kill()
        raise AssertionError(f"no startup line: {line!r} {proc.communicate()[1]!r}")
    return proc, found.group(0)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def test_cli_killed_after_a_create_still_has_the_campaign(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    auth = {"Authorization": f"Bearer {KEY}"}
    # Manual clock: nothing saves in the background, only the save before the answer.
    proc, url = _launch("--state", path, "--clock", "manual")
    try:
        r = httpx.post(f"{url}/campaigns", headers=auth, json={**BODY, "contacts": contacts(5)})
        cid = r.json()["campaign"]["id"]
    finally:
        _kill(proc)
    proc, url = _launch("--state", path, "--clock", "manual")
    try:
        assert httpx.get(f"{url}/campaigns/{cid}", headers=auth).status_code == 200
        assert httpx.get(f"{url}/campaigns/{cid}/rows", headers=auth).json()["total"] == 5
        r = httpx.post(f"{url}/campaigns", headers=auth, json={**BODY, "contacts": contacts(1)})
        assert r.json()["campaign"]["id"] != cid
    finally:
        _kill(proc)


def test_cli_killed_mid_run_loses_at_most_about_a_second(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    auth = {"Authorization": f"Bearer {KEY}"}
    proc, url = _launch("--state", path, "--speedup", "600", "--ignore-windows")
    try:
        r = httpx.post(f"{url}/campaigns", headers=auth, json={**BODY, "contacts": contacts(6)})
        cid = r.json()["campaign"]["id"]
        deadline = time.monotonic() + 30
        while True:  # until some calls have ended
            rows = httpx.get(f"{url}/campaigns/{cid}/rows", headers=auth).json()["rows"]
            ended = {row["id"]: row["call"]["status"] for row in rows
                     if row["call"]["status"] in ("completed", "errored")}
            if ended:
                break
            assert time.monotonic() < deadline, rows
        state = httpx.get(f"{url}/_simulator/state").json()
        while httpx.get(f"{url}/_simulator/state").json()["state_saves"] < \
                state["state_saves"] + 2:  # the second save began after what we saw
            assert time.monotonic() < deadline
    finally:
        _kill(proc)
    proc, url = _launch("--state", path, "--clock", "manual")
    try:
        restored = httpx.get(f"{url}/_simulator/state").json()
        assert restored["now_epoch"] >= state["now_epoch"]
        rows = httpx.get(f"{url}/campaigns/{cid}/rows", headers=auth).json()["rows"]
        assert {r["id"]: r["call"]["status"] for r in rows if r["id"] in ended} == ended
    finally:
        _kill(proc)


def test_cli_refuses_an_unusable_state_file_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    _write_garbage(path)
    done = subprocess.run([sys.executable, "-m", "gateway.simulator", "--listen",
                           "127.0.0.1:0", "--state", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"simulator: state file {path} is not a simulator state file "
        "(not an SQLite database)"], done.stderr
    assert done.stdout == ""
