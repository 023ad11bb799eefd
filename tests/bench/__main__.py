"""``python -m tests.bench``: run the benchmark suites, print Markdown, write results-latest.md.

Always exits 0 once the suites ran (a missed target is reported as MISS, not as a failure);
a crash of the harness itself still exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from pathlib import Path

from ._common import Options, SuiteResult, machine

HERE = Path(__file__).resolve().parent
SUITES = ("unary", "watch", "masks", "fanout", "replicas", "observability")  # in order; a suite whose module does not exist yet is skipped


def _available() -> list[str]:
    return [
        name for name in SUITES if importlib.util.find_spec(f"{__package__}.{name}") is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (smoke run)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile the gateway process under load and print its top functions",
    )
    parser.add_argument(
        "--only", action="append", choices=SUITES, help="run only this suite (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=HERE / "results-latest.md")
    suites = _available()
    modules = {name: importlib.import_module(f"{__package__}.{name}") for name in suites}
    for module in modules.values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args(argv)
    opts = Options(quick=args.quick, profile=args.profile, profile_dir=args.output.parent)
    selected = [name for name in suites if not args.only or name in args.only]

    started = time.perf_counter()
    header = "# Benchmark results" + (" (--quick)" if args.quick else "") + "\n\n" + machine()
    print(header + "\n", flush=True)
    sections, verdicts = [header], []
    for name in selected:
        module = modules[name]
        t0 = time.perf_counter()
        print(f"[bench] running suite {name} ...", file=sys.stderr, flush=True)
        result: SuiteResult = (
            module.run(opts) if not hasattr(module, "add_arguments") else module.run(opts, args)
        )
        print(
            f"[bench] suite {name} took {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        print(result.markdown + "\n", flush=True)
        sections.append(result.markdown)
        verdicts += result.verdicts
    summary = (
        "## Targets\n\n"
        + "\n".join(
            f"- **{'PASS' if ok else 'MISS'}** {what}: {detail}" for what, ok, detail in verdicts
        )
        + f"\n\nTotal benchmark time {time.perf_counter() - started:.0f} s."
    )
    print(summary, flush=True)
    sections.append(summary)
    args.output.write_text("\n\n".join(sections) + "\n")
    print(f"\n(written to {args.output})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
