"""``serve --workers N``: N gateway processes sharing one listening port and one database.

Why processes: one Python process serves gRPC on one core (the GIL); N workers bound to
the same port with SO_REUSEPORT let the kernel spread connections over N cores (the
pattern of grpc's ``examples/python/multiprocessing``). Each worker is a whole gateway
(``serve`` with ``reuse_port``): the database is what they share, as replicas on several
hosts do (docs/replicas.md); so the database must be one every worker can open
(PostgreSQL, or a SQLite file in WAL mode on a local disk).

The parent checks the settings once (the busy-port probe among them: a worker cannot
probe a port its siblings already hold), then starts the workers and waits. SIGTERM or
SIGINT to the parent is passed to every worker, each of which drains as a single gateway
does (``--shutdown-grace``); the parent exits when all have, with the worst status. A
worker that ends by itself (a crash, a start-up failure) takes the others down with it:
the parent is not a supervisor, whatever runs it (systemd, Kubernetes) restarts the set.

Metrics (``--metrics-listen``): the workers count into prometheus-client's multiprocess
files in a directory the parent makes fresh for the set and removes when it ends; the
parent serves ``/metrics`` (the files merged) and ``/healthz`` (its workers) on that one
port (``gateway.observability._multiproc``). Without ``--metrics-listen`` nothing of it
exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from . import preflight
from .config import Settings
from .observability._multiproc import MULTIPROC_ENV, WorkersMetricsServer

__all__ = ["WORKER_ENV", "serve_workers"]

# Set in a worker's environment (its index): it serves with SO_REUSEPORT, skips the probe.
WORKER_ENV = "GATEWAY_WORKER_INDEX"


def serve_workers(settings: Settings, argv: list[str]) -> int:
    """Run ``settings.workers`` copies of ``revox-gateway <argv>`` until SIGTERM/SIGINT,
    or until one of them ends by itself (then the others are stopped too, so that a
    supervisor sees the exit status and restarts the whole set)."""
    preflight.check(settings)
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        metrics: WorkersMetricsServer | None = None
        env = dict(os.environ)
        env.pop(MULTIPROC_ENV, None)
        if settings.metrics_listen is not None:
            directory = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="revox-gateway-metrics-")))
            metrics = stack.enter_context(WorkersMetricsServer(
                settings.metrics_listen, directory,
                workers=lambda: {p.pid: p.poll() is None for p in procs}))
            env[MULTIPROC_ENV] = str(directory)
            # The workers' banners name the port the parent serves (the one bound, for
            # port 0); a repeated flag's last value wins.
            argv = [*argv, "--metrics-listen", metrics.address]
        return _run(settings, argv, env, procs, metrics)


def _run(settings: Settings, argv: list[str], env: dict[str, str],
         procs: list[subprocess.Popen[bytes]], metrics: WorkersMetricsServer | None) -> int:
    stopping = threading.Event()
    ended = threading.Event()

    def stop_all() -> None:
        stopping.set()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def forward(signum: int, frame: FrameType | None) -> None:
        stop_all()

    def reap(proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        if metrics is not None:
            metrics.worker_exited(proc.pid)
        ended.set()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(settings.workers):
            if stopping.is_set():
                break
            proc = subprocess.Popen([sys.executable, "-m", "gateway", *argv],
                                    env={**env, WORKER_ENV: str(index)})
            procs.append(proc)
            threading.Thread(target=reap, args=(proc,), daemon=True).start()
        shared = "" if metrics is None else (
            f"; metrics of all workers: http://{metrics.address}/metrics (multiprocess "
            f"files in {metrics.directory})")
        print(f"revox-gateway: {len(procs)} workers (pids "
              f"{', '.join(str(p.pid) for p in procs)}) share {settings.listen}{shared}",
              file=sys.stderr, flush=True)
        while any(proc.poll() is None for proc in procs):
            ended.wait()  # a signal interrupts it (the handler runs), then it waits on
            ended.clear()
            if not stopping.is_set():
                stop_all()  # a worker ended by itself: take the others down with it
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [proc.returncode or 0 for proc in procs]
    # A worker ended by the SIGTERM the parent passed on drained normally.
    return max((0 if code == -signal.SIGTERM else abs(code) for code in codes), default=0)
