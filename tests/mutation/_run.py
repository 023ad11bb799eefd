"""Running mutmut within a time budget, echoing its progress; resuming a stopped run."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.mutation import _targets
from tests.mutation._layout import CAP_ENV, LOG_NAME, MUTANTS, ROOT, RUN_NAME
from tests.mutation._report import COLUMNS, collect, column_of, fmt_duration

__all__ = ["RunOutcome", "fingerprint", "resumable", "run_mutmut"]

# what a run depends on: a resumed run needs these unchanged (their contents), except this
# package (its reports, and a runner that changes no verdict)
FINGERPRINTED = ("gateway", "generated", "tests", "pyproject.toml", "README.md")
HERE = Path(__file__).resolve().parent
REPORT_RESERVE = 45.0  # seconds kept for stopping mutmut and writing the report
STOP_GRACE = 40.0  # after SIGINT, before the process group is terminated


_SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
_PROGRESS = re.compile(r"(\d+)/(\d+)\s+🎉 (\d+) 🫥 (\d+)\s+⏰ (\d+)\s+🤔 (\d+)\s+🙁 (\d+)")
_NOISE = re.compile(
    r"^(also copying .*|[\w./-]+\.py|Running mutation testing|Mutant results|-+"
    r"|[🎉🙁🫥⏰🤔🔇🧙🛑?] \S+__mutmut_\d+)$"
)


@dataclass
class RunOutcome:
    returncode: int | None = None
    stopped_at_budget: bool = False
    interrupted: bool = False
    wall: float = 0.0
    phases: list[tuple[float, str]] = field(default_factory=list)


class _Output(threading.Thread):
    """Copies mutmut's output to the log; echoes phases, errors and progress now and then."""

    def __init__(self, stream: Any, log: Any, t0: float, modules: list[str]) -> None:
        super().__init__(daemon=True)
        self.stream, self.log, self.t0, self.modules = stream, log, t0, modules
        self.phase = ""
        self.outcome_phases: list[tuple[float, str]] = []
        self.progress: tuple[int, ...] | None = None
        self._last_progress_print = 0.0

    def say(self, text: str) -> None:
        print(f"[{fmt_duration(time.monotonic() - self.t0)}] {text}", flush=True)

    def run(self) -> None:
        buf = b""
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else b""
            if not chunk:
                break
            self.log.write(chunk)
            self.log.flush()
            buf += chunk
            *segments, buf = re.split(rb"[\r\n]", buf)
            for seg in segments:
                try:
                    self._segment(seg.decode("utf-8", "replace").strip())
                except Exception as exc:  # never stop copying the log
                    self.say(f"(progress unavailable: {exc!r})")
        if buf:
            self._segment(buf.decode("utf-8", "replace").strip())

    def _segment(self, line: str) -> None:
        if not line:
            return
        if line[0] in _SPINNER:
            body = line[1:].strip()
            m = _PROGRESS.search(body)
            if m:
                self.progress = tuple(int(g) for g in m.groups())
                now = time.monotonic()
                if now - self._last_progress_print >= 60:
                    self._last_progress_print = now
                    self.say(self.describe_progress())
                if self.phase != "mutants":
                    self.phase = "mutants"
                    self.outcome_phases.append((time.monotonic() - self.t0, "testing mutants"))
                return
            if body and body != self.phase:
                self.phase = body
                self.outcome_phases.append((time.monotonic() - self.t0, body))
                self.say(f"mutmut: {body}")
            return
        if _NOISE.match(line) or _PROGRESS.search(line):
            return
        self.say(f"mutmut: {line}")

    def describe_progress(self) -> str:
        """Counts over this run's modules (mutmut's own line counts every mutated file)."""
        counts = dict.fromkeys(COLUMNS, 0)
        for r in collect(self.modules):
            for m in r.mutants:
                counts[column_of(m.status)] += 1
        total = sum(counts.values())
        done = total - counts["not run"]
        return f"{done}/{total} mutants tested: " + ", ".join(
            f"{counts[c]} {c}" for c in COLUMNS if c != "not run"
        )


def fingerprint() -> str:
    """A digest of every file a mutant's verdict depends on."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(
            p for p in top.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.is_relative_to(HERE)
        )
        for path in files:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def resumable(modules: list[str], cap: float | None) -> str | None:
    """Why ``mutants/`` cannot be resumed for this run, or None when it can."""
    try:
        last = json.loads((MUTANTS / RUN_NAME).read_text())
    except (OSError, ValueError):
        return "no earlier run in mutants/"
    if last.get("fingerprint") != fingerprint():
        return "the sources or tests changed since the earlier run"
    if not set(modules) <= set(last.get("modules", [])):
        return "the earlier run's statistics do not cover these modules"
    if last.get("cap") != cap:
        return f"the earlier run had another --cap ({last.get('cap')})"
    return None


def _forget_unfinished() -> int:
    """Verdicts of mutants a stopped run left unfinished are cleared, to be tested again."""
    cleared = 0
    for meta in MUTANTS.rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        unfinished = [key for key, code in codes.items() if code == 2]  # "interrupted"
        for key in unfinished:
            codes[key] = None
        if unfinished:
            meta.write_text(json.dumps(data, indent=4))
            cleared += len(unfinished)
    return cleared


def run_mutmut(
    modules: list[str], budget: float | None, workers: int, *, cap: float | None = None,
    resume: bool = False,
) -> RunOutcome:
    if resume:
        print(f"resuming mutants/: {_forget_unfinished()} unfinished mutant(s) to test again")
    else:
        if MUTANTS.exists():
            shutil.rmtree(MUTANTS)
        MUTANTS.mkdir()
        (MUTANTS / RUN_NAME).write_text(json.dumps(
            {"fingerprint": fingerprint(), "modules": modules, "cap": cap}, indent=2
        ))
    globs = [_targets.module_of_path(m) + ".x*" for m in modules]
    cmd = [
        sys.executable, "-c", "from mutmut.__main__ import cli; cli()",
        "run", "--max-children", str(workers), *globs,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("MUTANT_UNDER_TEST", "PYTEST_ADDOPTS")}
    env[_targets.MODULES_ENV] = ",".join(modules)
    env[CAP_ENV] = str(cap or 0)
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.monotonic()
    outcome = RunOutcome()
    deadline = None if budget is None else t0 + max(budget - REPORT_RESERVE, 30.0)
    with open(MUTANTS / LOG_NAME, "ab" if resume else "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            # mutmut keeps its verdicts on SIGINT: it must not inherit an ignored one
            preexec_fn=_default_sigint,
        )
        reader = _Output(proc.stdout, log, t0, modules)
        reader.start()
        reader.say(f"mutmut started (pid {proc.pid}), log: mutants/{LOG_NAME}")
        try:
            while proc.poll() is None:
                if deadline is not None and time.monotonic() >= deadline:
                    outcome.stopped_at_budget = True
                    reader.say("time budget spent: stopping mutmut (untested mutants: not run)")
                    _stop(proc)
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            outcome.interrupted = True
            reader.say("interrupted: stopping mutmut")
            _stop(proc)
        proc.wait()
        _kill_group(proc.pid)  # workers orphaned by a hard stop
        reader.join(timeout=10)
        if reader.progress:
            reader.say(reader.describe_progress())
    outcome.returncode = proc.returncode
    outcome.wall = time.monotonic() - t0
    outcome.phases = reader.outcome_phases
    return outcome


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT lets mutmut stop its workers and keep every verdict so far; then harder."""
    for sig, wait in ((signal.SIGINT, STOP_GRACE), (signal.SIGTERM, 10.0)):
        try:
            if sig == signal.SIGINT:
                os.kill(proc.pid, sig)  # mutmut only; its workers finish or are stopped by it
            else:
                os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass
    _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
