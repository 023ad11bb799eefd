"""A stand-in gateway process for the store's multi-process tests.

    python tests/store/_proc.py open URL START_AT       open the database (migrating)
    python tests/store/_proc.py create URL START_AT     an idempotent create of "req"
    python tests/store/_proc.py hang URL START_AT       begin "req", then hang (to be killed)

START_AT (epoch seconds) is when to act, so processes that took different times to
import still race. Each prints one line with its outcome; "open" also prints the
store's log line when it migrated.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from gateway.store import Database, Started

TENANT, REQUEST, HASH = "tenant-a", "req", "h1"
LEASE = 1.0


async def _at(start_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))


async def main(mode: str, url: str, start_at: float) -> None:
    if mode == "open":
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="log: %(message)s")
        await _at(start_at)
        async with Database(url) as db:
            print("open", await db.schema_version(), flush=True)
        return
    async with Database(url, idempotency_lease=LEASE) as db:
        store = db.idempotency
        await _at(start_at)
        if mode == "create":
            outcome = await store.wait_or_begin(TENANT, REQUEST, HASH, timeout=30)
            print(type(outcome).__name__, flush=True)
            if isinstance(outcome, Started):
                await asyncio.sleep(0.5)  # the POST; the others wait meanwhile
                await store.complete(TENANT, REQUEST, {"id": "camp_1"})
        elif mode == "hang":
            print(type(await store.begin(TENANT, REQUEST, HASH)).__name__, flush=True)
            await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
