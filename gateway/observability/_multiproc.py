"""One ``/metrics`` for ``serve --workers N``: prometheus-client's multiprocess mode.

Why: the kernel hands each connection to one of N worker processes; a scraper must see
the set as one gateway, its counters the sum over the workers. In multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR`` in a process's environment when prometheus-client is
imported) every family of the process writes its values to mmap files in that
directory, one set per pid; ``MultiProcessCollector`` merges them at scrape time:
counters and histograms summed, each gauge as its ``multiprocess_mode`` says (``livesum``
for what the workers hold, ``livemax`` for a count every worker reads from the shared
database, ``max`` for a timestamp). The supervisor (``gateway.workers``) owns the
directory: made fresh (empty) before the workers start, the live gauges of a worker that
ended dropped (``mark_process_dead``), removed when the set stops. It serves ``/metrics``
(:class:`WorkersMetricsServer`, plain threads: the supervisor runs no event loop).

What a single process computes at scrape time (the watch hub's gauges, the database
counts, the event-loop task count) is not in the files: each worker publishes it every
:data:`PUBLISH_EVERY` seconds instead (``OpsServer`` in a worker), so a scrape sees it at
most that old (database counts: at most ``Metrics.refresh``'s few seconds).

A single process (no ``--workers``) never sets the variable: its families count in
memory and its scrape-time gauges are computed on scrape, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from prometheus_client import CollectorRegistry, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..config import StartupError, split_host_port

__all__ = ["MULTIPROC_ENV", "PUBLISH_EVERY", "WorkersMetricsServer", "multiprocess"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's name, read at its import
PUBLISH_EVERY = 1.0  # seconds between a worker's publications of its scrape-time gauges

_log = logging.getLogger("gateway.observability")

Workers = Callable[[], dict[int, bool]]  # pid -> alive


def multiprocess() -> bool:
    """Whether this process's families write to multiprocess files: prometheus-client
    chose its value class once, at import, from :data:`MULTIPROC_ENV` (a process-wide
    choice of the library, so it is read from the library, not decided here)."""
    return values.ValueClass is not values.MutexValue


class WorkersMetricsServer:
    """The supervisor's HTTP port (``--metrics-listen``): ``GET /metrics``, the workers'
    files merged; ``GET /healthz``, the workers it runs and whether each is alive (200
    when all are; each worker's per-dependency health is the gRPC health service on the
    shared port). Use as ``with``; a busy port is a :class:`StartupError`."""

    def __init__(self, listen: str, directory: Path, *, workers: Workers) -> None:
        self._host, self._port = split_host_port(listen)
        self.directory = directory
        self._workers = workers
        self.registry = CollectorRegistry()
        MultiProcessCollector(self.registry, path=str(directory))  # type: ignore[no-untyped-call]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    def __enter__(self) -> WorkersMetricsServer:
        try:
            self._server = ThreadingHTTPServer((self._host, self._port), self._handler())
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {self._host}:{self._port} ({exc.strerror or exc}); "
                "choose another with --metrics-listen HOST:PORT, or --metrics-listen off"
            ) from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="metrics-http", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def worker_exited(self, pid: int) -> None:
        """Drop the live gauges of a worker that ended (its counters stay: they were
        counted)."""
        with contextlib.suppress(FileNotFoundError):  # the set ended: directory removed
            mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def health(self) -> tuple[int, dict[str, object]]:
        workers = self._workers()
        report = {"ok": bool(workers) and all(workers.values()),
                  "workers": [{"pid": pid, "alive": alive} for pid, alive in workers.items()]}
        return (200 if report["ok"] else 503), report

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        body, content_type = owner.exposition(self.headers.get("Accept"))
                        status = 200
                    elif path == "/healthz":
                        status, report = owner.health()
                        body = (json.dumps(report, indent=1) + "\n").encode()
                        content_type = "application/json"
                    else:
                        status, body, content_type = 404, b"not found\n", "text/plain"
                except Exception as exc:  # noqa: BLE001 - a scrape error is an answer, not a crash
                    _log.warning("metrics scrape failed: %s", type(exc).__name__)
                    status, body, content_type = 500, b"scrape failed\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return  # no access log for scrapes (the gRPC rpcs have theirs)

        return Handler
