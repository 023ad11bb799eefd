"""Shared bits of the benchmark suites: options, statistics, Markdown, verdicts."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

KEY = "sk_test_bench"
AUTH = (("authorization", f"Bearer {KEY}"),)


@dataclass(frozen=True)
class Options:
    quick: bool = False
    profile: bool = False  # also run a cProfile'd pass of the gateway and print its top functions
    profile_dir: Path = Path(".")


@dataclass
class SuiteResult:
    """What a suite hands back to ``__main__``: Markdown and PASS/MISS lines."""

    markdown: str
    verdicts: list[tuple[str, bool, str]] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    import grpc
    import httpx
    from google.protobuf import __version__ as protobuf_version

    try:
        import aiohttp

        aiohttp_version = aiohttp.__version__
    except Exception:  # noqa: BLE001
        aiohttp_version = "?"
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}; "
        f"{platform.system()} {platform.release()}; load average at start {load}\n"
        f"- python {sys.version.split()[0]}, grpcio {grpc.__version__}, protobuf {protobuf_version}, "
        f"httpx {httpx.__version__}, aiohttp {aiohttp_version}"
    )
