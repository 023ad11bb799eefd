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
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from types import FrameType

from . import preflight
from .config import Settings

__all__ = ["WORKER_ENV", "serve_workers"]

# Set in a worker's environment (its index): it serves with SO_REUSEPORT, skips the probe.
WORKER_ENV = "GATEWAY_WORKER_INDEX"


def serve_workers(settings: Settings, argv: list[str]) -> int:
    """Run ``settings.workers`` copies of ``revox-gateway <argv>`` until SIGTERM/SIGINT,
    or until one of them ends by itself (then the others are stopped too, so that a
    supervisor sees the exit status and restarts the whole set)."""
    preflight.check(settings)
    stopping = threading.Event()
    ended = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def stop_all() -> None:
        stopping.set()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def forward(signum: int, frame: FrameType | None) -> None:
        stop_all()

    def reap(proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        ended.set()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(settings.workers):
            if stopping.is_set():
                break
            env = {**os.environ, WORKER_ENV: str(index)}
            proc = subprocess.Popen([sys.executable, "-m", "gateway", *argv], env=env)
            procs.append(proc)
            threading.Thread(target=reap, args=(proc,), daemon=True).start()
        print(f"revox-gateway: {len(procs)} workers (pids "
              f"{', '.join(str(p.pid) for p in procs)}) share {settings.listen}",
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
