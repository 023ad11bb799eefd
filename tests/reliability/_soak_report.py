"""What the soak (``tests.reliability.soak``) measured and how it is printed: samples of
the gateway process, the tally of the load's calls, the report and its verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["LIMIT", "Report", "Sample", "Tally", "markdown"]

LIMIT = 0.10  # growth that fails the soak


@dataclass
class Sample:
    at: float  # seconds since the load started
    rss_kib: int
    open_files: int
    tasks: float
    sockets: int = 0  # of the open files
    kinds: dict[str, int] = field(default_factory=dict)  # open files by kind (quiet samples)


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)  # "Method code" -> n
    creates: int = 0
    replays: int = 0
    replay_mismatches: int = 0  # a replayed request_id answered another campaign
    left_unknown: int = 0
    resumes: int = 0
    messages: int = 0

    def count(self, method: str, code: str) -> None:
        self.calls[f"{method} {code}"] += 1


@dataclass
class Report:
    minutes: float
    warmup: float
    start: Sample
    end: Sample
    settled: tuple[bool, bool]
    peak: Sample | None
    tally: Tally
    samples: list[Sample]
    injected: dict[str, int] = field(default_factory=dict)  # fault kind -> times fired
    quiet_seconds: tuple[float, float] = (0.0, 0.0)  # pause until the quiet sample
    loaded_seconds: float = 0.0

    def growth(self) -> dict[str, float]:
        def g(a: float, b: float) -> float:
            return (b - a) / a if a else 0.0
        return {"rss": g(self.start.rss_kib, self.end.rss_kib),
                "open_files": g(self.start.open_files, self.end.open_files),
                "tasks": g(self.start.tasks, self.end.tasks)}

    def ok(self) -> bool:
        return all(v < LIMIT for v in self.growth().values()) and not self.tally.replay_mismatches


def markdown(r: Report) -> str:
    """The report as RELIABILITY.md shows it."""
    g = r.growth()
    lines = [
        "| | start (after warm-up, quiet) | end (quiet) | growth |",
        "|---|---|---|---|",
        f"| RSS | {r.start.rss_kib / 1024:.1f} MiB | {r.end.rss_kib / 1024:.1f} MiB | "
        f"{g['rss']:+.1%} |",
        f"| open files (sockets) | {r.start.open_files} ({r.start.sockets}) | "
        f"{r.end.open_files} ({r.end.sockets}) | {g['open_files']:+.1%} |",
        f"| event-loop tasks | {r.start.tasks:.0f} | {r.end.tasks:.0f} | {g['tasks']:+.1%} |",
    ]
    if r.peak is not None:
        lines.append(f"\nUnder load (samples every 5 s): RSS at most {r.peak.rss_kib / 1024:.1f} "
                     f"MiB; open files {min(s.open_files for s in r.samples)}–"
                     f"{max(s.open_files for s in r.samples)}; tasks "
                     f"{min(s.tasks for s in r.samples):.0f}–{max(s.tasks for s in r.samples):.0f}.")
    lines.append(f"Open files by kind, start: {r.start.kinds}; end: {r.end.kinds}.")
    minutes = [s for i, s in enumerate(r.samples) if i % 12 == 11]  # one a minute
    if minutes:
        lines.append("RSS / open files / tasks each minute under load: " + "; ".join(
            f"{s.at / 60:.0f} min {s.rss_kib / 1024:.1f} MiB / {s.open_files} / {s.tasks:.0f}"
            for s in minutes))
    t = r.tally
    ok = sum(v for k, v in t.calls.items() if k.endswith(" OK"))
    lines.append(f"\nCalls: {sum(t.calls.values())} ({ok} OK); creates {t.creates}, replays "
                 f"{t.replays} ({t.replay_mismatches} answered another campaign), left unknown "
                 f"{t.left_unknown}; watch messages {t.messages}, resumes {t.resumes}.")
    lines.append("Faults the simulator injected: " + ", ".join(
        f"{k} {v}" for k, v in sorted(r.injected.items())))
    lines.append("Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(t.calls.items())))
    lines.append(f"Load {r.loaded_seconds:.0f} s after a {r.warmup:.0f} s warm-up; pausing "
                 f"until quiet took {r.quiet_seconds[0]:.0f} s (start) and "
                 f"{r.quiet_seconds[1]:.0f} s (end).")
    if not all(r.settled):
        lines.append(f"\nNot still within 90 s (start, end): {r.settled}.")
    lines.append(f"\nResult: {'PASS' if r.ok() else 'FAIL'} (growth limit {LIMIT:.0%}).")
    return "\n".join(lines)
