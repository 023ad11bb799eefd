"""What ``serve`` checks before it starts anything, and what it asks the upstream once.

Why checks: left to themselves, a busy port, a database in a missing directory or an
unreadable certificate surface as a traceback from grpc's C core, SQLite or OpenSSL, far
from the flag at fault (a busy port used to end in "Failed to bind to address ...; set
GRPC_VERBOSITY=debug"). Each check here raises ``StartupError`` with one line naming the
cause and the flag that fixes it. They run on the settings alone, before any port is bound
or file created.

Why a probe: whether real phones ring depends on what ``--upstream-url`` points at, not on
who started the simulator. The simulator marks every response with ``x-revox-simulator``;
one unauthenticated GET at start-up reads it (no key is ever sent), so the banner says
"no real calls" for a separately started simulator too. An upstream that does not answer
is reported, never fatal: it may come up after the gateway.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from .config import Settings, StartupError, split_host_port

__all__ = ["SIMULATOR_HEADER", "SimulatorClock", "UpstreamProbe", "check", "probe_upstream"]

# gateway.simulator._app.SIMULATOR_HEADER; the probe must not import the simulator
# (production never loads it), so tests/test_cli_errors.py checks that the two agree.
SIMULATOR_HEADER = "x-revox-simulator"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check(settings: Settings) -> None:
    """Every start-up check; raises ``StartupError`` for the first that fails."""
    if not settings.reuse_port:  # a --workers process: the parent probed, siblings hold it
        check_listen(settings.listen, "--listen")
    if settings.webhook_listen:
        check_listen(settings.webhook_listen, "--webhook-listen")
    check_database(settings.database_url)
    if settings.simulator and settings.simulator_state:
        check_sqlite_file(Path(settings.simulator_state), "--simulator-state")
    check_tls(settings)


# -- ports ------------------------------------------------------------------------------

def check_listen(listen: str, flag: str) -> None:
    """Bind a plain socket where the server will listen, and let it go.

    grpc would share a port a second gateway already listens on (SO_REUSEPORT, turned off
    in gateway.rpc as well), or fail with its own message; a plain bind tells "in use"
    from "not an address of this machine" while nothing is started yet."""
    fix = f"choose another with {flag} HOST:PORT"
    try:
        host, port = split_host_port(listen)
    except ValueError as exc:
        raise StartupError(f"{flag}: {exc}") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve host {host!r} of {flag} {listen} "
                           f"({exc.strerror}); {fix}") from None
    failures: list[OSError] = []
    addresses = {(family, sockaddr) for family, _, _, _, sockaddr in infos}
    for family, sockaddr in sorted(addresses, key=str):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As grpc does: a port left in TIME_WAIT by a stopped gateway is not "in use".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(f"port {port} on {host} is in use (another gateway?); "
                                       f"{fix}") from None
                failures.append(exc)
    if failures and len(failures) == len(addresses):  # grpc needs one address it can bind
        first = failures[0]
        if first.errno in (errno.EACCES, errno.EPERM):
            cause = f"port {port} on {host} needs privileges (ports below 1024 do)"
        elif first.errno == errno.EADDRNOTAVAIL:
            cause = f"{host} is not an address of this machine"
        else:
            cause = f"cannot listen on {listen} ({first.strerror})"
        raise StartupError(f"{cause}; {fix}")


# -- files ------------------------------------------------------------------------------

def check_database(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. --database sqlite+aiosqlite:///revox-gateway.db"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StartupError(f"--database {url!r} is not a database URL; {example}") from None
    shown = parsed.render_as_string(hide_password=True) if parsed.password else url
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise StartupError(f"--database {shown}: no database driver {parsed.drivername!r} "
                           f"is installed; {example}") from None
    if not getattr(dialect, "is_async", False):
        raise StartupError(f"--database {shown} names a synchronous driver "
                           f"({parsed.drivername}); use an async one, {example}")
    if parsed.get_backend_name() != "sqlite":
        return
    name = parsed.database
    if not name or name == ":memory:" or "mode=memory" in url:
        raise StartupError(f"--database {shown} is an in-memory SQLite database, which "
                           f"the gateway does not support; give a file, {example}")
    if not name.startswith("file:"):  # a URI filename: SQLite resolves it
        check_sqlite_file(Path(name).expanduser(), "--database")


def check_sqlite_file(path: Path, flag: str) -> None:
    """``path`` is, or can be created as, a SQLite database file."""
    fix = f"choose another {flag}"
    if path.is_dir():
        raise StartupError(f"{flag} {path} is a directory, not a database file; {fix}")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StartupError(f"{ancestor} is a file, not a directory (in {flag} {path}); {fix}")
    if ancestor != path.parent:
        raise StartupError(f"directory {path.parent} of {flag} {path} does not exist; "
                           f"create it or {fix}")
    if path.exists():
        try:
            with path.open("rb") as file:
                head = file.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StartupError(f"cannot read {flag} {path} ({exc.strerror}); {fix}") from None
        if head and head != _SQLITE_MAGIC:
            raise StartupError(f"{flag} {path} is not a SQLite database; {fix}")
        if not os.access(path, os.W_OK):
            raise StartupError(f"{flag} {path} is not writable; {fix}")
    elif not os.access(path.parent, os.W_OK | os.X_OK):
        raise StartupError(f"cannot create {flag} {path}: directory {path.parent} is not "
                           f"writable; {fix}")


def _readable(path: Path, flag: str) -> None:
    try:
        with path.open("rb") as file:
            empty = not file.read(1)
    except OSError as exc:
        raise StartupError(f"cannot read {flag} {path} ({exc.strerror}); give {flag} a "
                           "readable PEM file") from None
    if empty:
        raise StartupError(f"{flag} {path} is empty; give {flag} a PEM file")


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Parse, do not judge: grpc (BoringSSL) decides what key sizes it accepts, so the
    # local OpenSSL policy must not refuse a file grpc would serve.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def check_tls(settings: Settings) -> None:
    """The TLS files are readable PEM and the key is the certificate's: grpc would
    only say "Failed to bind" (or serve nothing at the first handshake)."""
    cert, key, ca = settings.tls_cert, settings.tls_key, settings.tls_client_ca
    if cert is None:
        return
    for path, flag in ((cert, "--tls-cert"), (key, "--tls-key"), (ca, "--tls-client-ca")):
        if path is not None:
            _readable(path, flag)
    try:
        _context().load_verify_locations(cafile=str(cert))
    except ssl.SSLError:
        raise StartupError(f"--tls-cert {cert} holds no PEM certificate; give --tls-cert "
                           "the server's certificate chain (PEM)") from None
    encrypted: list[bool] = []

    def password() -> bytes:  # only asked for an encrypted key, which grpc cannot use
        encrypted.append(True)
        return b""

    try:
        _context().load_cert_chain(str(cert), str(key) if key else None, password=password)
    except ssl.SSLError as exc:
        if key is None:
            raise StartupError(f"--tls-cert {cert} holds no private key of its certificate; "
                               "give the key with --tls-key FILE") from None
        if encrypted:
            cause = "is encrypted (grpc needs an unencrypted PEM key)"
        elif exc.reason == "KEY_VALUES_MISMATCH":
            cause = "is not the key of the certificate in --tls-cert"
        else:
            cause = "holds no PEM private key"
        raise StartupError(f"--tls-key {key} {cause}; give --tls-key the key of "
                           "--tls-cert") from None
    if ca is not None:
        try:
            _context().load_verify_locations(cafile=str(ca))
        except ssl.SSLError:
            raise StartupError(f"--tls-client-ca {ca} holds no PEM certificate; give "
                               "--tls-client-ca the CA bundle (PEM) that signs client "
                               "certificates") from None


# -- the upstream probe -----------------------------------------------------------------

@dataclass(frozen=True)
class SimulatorClock:
    """A simulator's clock as ``GET /_simulator/state`` reports it."""

    now: str
    speedup: float
    mode: str  # "real" (runs at speedup) or "manual" (moves on POST /_simulator/advance)


@dataclass(frozen=True)
class UpstreamProbe:
    """What one unauthenticated GET learnt about the upstream."""

    reachable: bool
    simulator: bool
    detail: str = ""  # why it is unreachable
    clock: SimulatorClock | None = None


async def probe_upstream(url: str, *, timeout: float = 3.0,
                         transport: httpx.AsyncBaseTransport | None = None) -> UpstreamProbe:
    """GET ``{url}/campaigns`` without any key (a real API answers 401) and read the
    simulator's header; for a simulator, also its clock."""
    base = url.rstrip("/")
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        try:
            answer = await client.get(f"{base}/campaigns")
        except httpx.HTTPError as exc:
            detail = str(exc) or type(exc).__name__
            return UpstreamProbe(reachable=False, simulator=False, detail=detail)
        if SIMULATOR_HEADER not in answer.headers:
            return UpstreamProbe(reachable=True, simulator=False)
        clock: SimulatorClock | None = None
        try:
            state = (await client.get(f"{base}/_simulator/state")).json()
            clock = SimulatorClock(now=str(state["now"]), speedup=float(state["speedup"]),
                                   mode=str(state["clock"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass  # an older simulator: the banner omits its clock
        return UpstreamProbe(reachable=True, simulator=True, clock=clock)
