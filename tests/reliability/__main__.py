"""``python -m tests.reliability``: run the watch consistency model over many seeds.

``make reliability`` runs 20 seeds; ``--seed N`` replays one (as a failure prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from .watch_model import ConsistencyError, Scale, run_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--seed", type=int, help="run only this seed")
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default %(default)s)")
    parser.add_argument("--first", type=int, default=1, help="first seed (default %(default)s)")
    parser.add_argument("--rows", type=int, default=Scale.rows)
    parser.add_argument("--subscribers", type=int, default=Scale.subscribers)
    args = parser.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    scale = Scale(rows=args.rows, subscribers=args.subscribers, deadline=max(90.0, args.rows * 3.0))
    failed = 0
    for seed in seeds:
        started = time.monotonic()
        try:
            stats = asyncio.run(run_seed(seed, scale))
        except ConsistencyError as exc:
            failed += 1
            print(f"seed {seed}: FAILED\n{exc}\n", flush=True)
            continue
        took = time.monotonic() - started
        print(f"seed {seed}: ok in {took:.1f} s ({stats['messages']} messages, "
              f"{stats['resumes']} resumes, {stats['snapshots']} snapshots, "
              f"{stats['restarts']} restarts)", flush=True)
    print(f"{len(seeds) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
