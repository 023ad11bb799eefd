"""Simulator scale figures (not a test): ``.venv/bin/python -m tests.simulator.bench_simulator``
or ``.venv/bin/python tests/simulator/bench_simulator.py``.

Starts the simulator as a separate process through its CLI (manual clock, so nothing moves
while measuring) and measures, from this process with aiohttp as the client:
100k-contact create, row page latency (unfiltered and filtered) and GET /campaigns/{id}
throughput at a fixed concurrency.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time

import aiohttp

N = 100_000
HEADERS = {"Authorization": "Bearer sk_test_bench", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with session.get(base + "/_simulator/state") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


async def _timed(session: aiohttp.ClientSession, method: str, url: str,
                 **kw: object) -> tuple[float, bytes]:
    t = time.perf_counter()
    async with session.request(method, url, headers=HEADERS, **kw) as r:  # type: ignore[arg-type]
        body = await r.read()
        assert r.status == 200, (r.status, body[:200])
    return time.perf_counter() - t, body


async def bench(base: str, seconds: float, concurrency: int) -> dict[str, object]:
    out: dict[str, object] = {}
    async with aiohttp.ClientSession() as session:
        await _wait_ready(session, base)
        people = [{"to_phone_number": f"+3361{i:07d}",
                   "prompt_variables": {"first_name": f"N{i}", "company": f"Co {i % 97}"}}
                  for i in range(N)]
        payload = json.dumps({"assistant_id": "asst_bench", "name": "bench", "contacts": people})
        out["create_body_mb"] = round(len(payload) / 1e6, 1)
        dt, body = await _timed(session, "POST", base + "/campaigns", data=payload)
        out["create_100k_s"] = round(dt, 3)
        cid = json.loads(body)["campaign"]["id"]
        await session.post(base + "/_simulator/advance", json={"seconds": 10})

        for size in (50, 1000):
            lat = []
            for page in (0, N // size // 2, N // size - 1) * 5:
                dt, _ = await _timed(session, "GET", f"{base}/campaigns/{cid}/rows",
                                     params={"page": page, "page_size": size})
                lat.append(dt)
            out[f"rows_page_size_{size}_median_ms"] = round(statistics.median(lat) * 1000, 2)
        lat = []
        for _ in range(5):
            dt, _ = await _timed(session, "GET", f"{base}/campaigns/{cid}/rows",
                                 params={"page": 0, "page_size": 50, "query": "co 42"})
            lat.append(dt)
        out["rows_filtered_query_scan_100k_median_ms"] = round(statistics.median(lat) * 1000, 1)

        count = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                async with session.get(f"{base}/campaigns/{cid}", headers=HEADERS) as r:
                    await r.read()
                    assert r.status == 200
                count += 1

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        out["get_campaign_rps"] = round(count / (time.perf_counter() - t))
        out["get_campaign_concurrency"] = concurrency
    return out


def main() -> int:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from gateway.simulator import main; "
         "sys.exit(main(sys.argv[1:]))"), "--listen", f"127.0.0.1:{port}", "--clock", "manual"],
        stdout=subprocess.DEVNULL,
    )
    try:
        results = asyncio.run(bench(f"http://127.0.0.1:{port}", seconds=5, concurrency=32))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
