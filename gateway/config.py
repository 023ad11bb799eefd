"""Settings of a gateway process: flags first, then environment, then defaults.

Why one table (``FLAGS``): ``serve --help``, the README's flag table and the values a
process actually runs with used to drift apart (a flag without its default in the help,
an env variable only the README knew). Every flag is declared once here, with its
``Settings`` field, env variable and converter; its help line is generated from that, and
``tests/test_cli_docs.py`` checks the README table against ``serve --help``.

A bad value fails before anything starts, as one line naming the flag (or env variable)
that fixes it: argparse reports a flag's value, ``StartupError`` an env variable's or a
combination of flags.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_UPSTREAM",
    "ENV_ONLY",
    "FLAGS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SIMULATOR_KEY",
    "SIMULATOR_METRICS_LISTEN",
    "Flag",
    "ObservabilitySettings",
    "ServerSettings",
    "Settings",
    "StartupError",
    "WatchSettings",
    "add_serve_arguments",
    "settings_from_args",
    "simulator_state_beside",
    "split_host_port",
]

DEFAULT_UPSTREAM = "https://www.getrevox.com/api"
SIMULATOR_KEY = "sk_test_local_sandbox"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
# Where `--simulator` (`make run`) serves /metrics and /healthz unless told otherwise.
SIMULATOR_METRICS_LISTEN = "127.0.0.1:9464"
# ``--simulator-state :memory:`` keeps the simulator's campaigns in memory only.
_IN_MEMORY = ":memory:"


class StartupError(Exception):
    """A configuration the process cannot start with; the message is one line that names
    the cause and the flag that fixes it (printed without a traceback, exit status 2)."""


@dataclass(frozen=True)
class WatchSettings:
    """What ``gateway.watch`` reads: the pollers' pace and the subscribers' limits."""

    poll_interval: float = 2.0
    max_poll_interval: float = 15.0
    full_sweep_every: int = 10
    retention_seconds: float = 24 * 3600.0
    linger_seconds: float = 5.0
    subscriber_queue: int = 1024
    webhook_listen: str | None = None
    upstream_timeout: float = 30.0
    lease_ttl: float = 10.0


@dataclass(frozen=True)
class ServerSettings:
    """What ``gateway.rpc`` reads to listen: the address, TLS files and drain time."""

    listen: str = "127.0.0.1:50051"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    shutdown_grace: float = 10.0
    reuse_port: bool = False  # a --workers process: share the port (SO_REUSEPORT)


@dataclass(frozen=True)
class ObservabilitySettings:
    """What ``gateway.observability`` reads: the metrics port and the log lines."""

    metrics_listen: str | None = None  # None: no /metrics, /healthz port
    metrics_port_fallback: bool = False  # a busy metrics port: use a free one (the default's)
    log_level: str = "INFO"
    log_format: str = "text"


_Part = TypeVar("_Part", "WatchSettings", "ServerSettings", "ObservabilitySettings")


@dataclass(frozen=True)
class Settings:
    """Every setting of a gateway process, flat as the CLI and env give them; each
    component receives only its own typed part (``watch``, ``server``)."""

    listen: str = "127.0.0.1:50051"
    upstream_url: str = DEFAULT_UPSTREAM
    api_key: str | None = None
    database_url: str = "sqlite+aiosqlite:///revox-gateway.db"
    no_migrate: bool = False  # only check the schema (``revox-gateway migrate`` upgrades it)
    simulator: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    cache_ttl: float = 5.0
    reconcile_grace: float = 120.0  # CreateCampaign: see gateway.service._create
    # Load caps of this process (gateway.limits.LimitSettings, same names and defaults)
    max_watch_streams_per_key: int = 1000
    max_watch_streams: int = 10000
    admission_ttl: float = 5.0
    max_create_contacts: int = 500_000
    rate_per_second: float = 2000.0
    rate_burst: int = 4000
    shutdown_grace: float = 10.0
    tenant_secret: str | None = None
    upstream_timeout: float = 30.0
    upstream_page_base: int | None = None  # None: learnt from the upstream's answers
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_listen: str | None = None  # None: off
    metrics_port_fallback: bool = False  # set for the --simulator default only
    # WatchCampaignRows
    poll_interval: float = 2.0
    max_poll_interval: float = 15.0
    full_sweep_every: int = 10
    retention_seconds: float = 24 * 3600.0
    linger_seconds: float = 5.0
    subscriber_queue: int = 1024
    webhook_listen: str | None = None
    lease_ttl: float = 10.0  # seconds a campaign's poller lease lasts without renewal
    # Several processes on one port (SO_REUSEPORT), one database
    workers: int = 1
    reuse_port: bool = False  # set in each --workers process, not a flag
    # The embedded simulator (with --simulator)
    simulator_speedup: float = 60.0
    simulator_seed: int | None = None  # None: fresh randomness on every start
    simulator_state: str | None = None  # a SQLite file keeping its campaigns; None: memory

    @property
    def watch(self) -> WatchSettings:
        return self._part(WatchSettings)

    @property
    def server(self) -> ServerSettings:
        return self._part(ServerSettings)

    @property
    def observability(self) -> ObservabilitySettings:
        return self._part(ObservabilitySettings)

    def _part(self, cls: type[_Part]) -> _Part:
        """A component's settings: its fields, named as here, with the values set here."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def __repr__(self) -> str:  # never print the key
        return f"Settings(listen={self.listen!r}, upstream_url={self.upstream_url!r}, ...)"


# -- converters: str -> value, ValueError with a message that completes "<flag>: " ------

def split_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as grpc takes it: a host is required."""
    host, sep, port = value.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:50051; port 0 picks a "
                         "free one)")
    return host, int(port)


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or value != value.strip():
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host "
                         "(e.g. http://127.0.0.1:8765)")
    return value


def _number(value: str, *, minimum: float, strict: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{value!r} is not a number {bound}")
    return number


def _seconds(value: str) -> float:
    return _number(value, minimum=0.0, strict=False)


def _positive(value: str) -> float:
    return _number(value, minimum=0.0, strict=True)


def _seed(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an integer") from None


def _page_base(value: str) -> int | None:
    if value not in ("auto", "0", "1"):
        raise ValueError(f"{value!r} is not auto, 0 or 1")
    return None if value == "auto" else int(value)


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise ValueError(f"{value!r} is not a whole number from 1 to 64")
    return int(value)


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{value!r} is not a whole number >= 1")
    return int(value)


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def _log_format(value: str) -> str:
    if value.lower() not in LOG_FORMATS:
        raise ValueError(f"{value!r} is not one of {', '.join(LOG_FORMATS)}")
    return value.lower()


def _metrics_listen(value: str) -> str:
    """``HOST:PORT``, or ``off`` (as ``""``: turned off explicitly, also under --simulator)."""
    return "" if value == "off" else _host_port(value)


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


# -- the flag table ---------------------------------------------------------------------

@dataclass(frozen=True)
class Flag:
    """One ``serve`` flag: the ``Settings`` field it sets, its env variable, converter,
    metavar and meaning; ``shown`` is the default as documented when it is not the
    field's own default (e.g. derived from another flag)."""

    name: str
    field: str
    meaning: str
    env: str | None = None
    convert: Callable[[str], Any] | None = str  # None: a switch (no value)
    metavar: str | None = None
    shown: str | None = None

    @property
    def default(self) -> str:
        """The default as ``--help`` and the README show it."""
        if self.shown is not None:
            return self.shown
        value = Settings.__dataclass_fields__[self.field].default
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    @property
    def help(self) -> str:
        env = f"env {self.env}; " if self.env else ""
        # argparse formats help with %-style: a literal % must be doubled.
        return f"{self.meaning} ({env}default: {self.default})".replace("%", "%%")


FLAGS: tuple[Flag, ...] = (
    Flag("--listen", "listen", "address to serve gRPC on; port 0 picks a free one",
         "GATEWAY_LISTEN", _host_port, "HOST:PORT"),
    Flag("--upstream-url", "upstream_url", "root of the Revox API; ignored with --simulator",
         "REVOX_BASE_URL", _http_url, "URL"),
    Flag("--api-key", "api_key", "key used when a caller sends none; prefer the env "
         "variable, as a flag shows in ps", "REVOX_API_KEY", _non_empty, "KEY"),
    Flag("--database", "database_url", "SQLAlchemy async URL of the gateway's database",
         "GATEWAY_DATABASE_URL", _non_empty, "URL"),
    Flag("--no-migrate", "no_migrate", "only check that the database schema is current "
         "(upgrade it with: revox-gateway migrate --database URL)", convert=None),
    Flag("--upstream-page-base", "upstream_page_base", "number of the upstream's first rows "
         "page: 0, 1, or auto to learn it from the answers", "REVOX_PAGE_BASE", _page_base,
         "BASE", shown="auto"),
    Flag("--simulator", "simulator", "start the embedded Revox simulator and use it as the "
         "upstream: no real calls are placed", convert=None),
    Flag("--simulator-speedup", "simulator_speedup", "with --simulator: simulated seconds "
         "per real second; its clock starts at 15:00 UTC today", convert=_positive,
         metavar="X"),
    Flag("--simulator-seed", "simulator_seed", "with --simulator: seed of its outcomes and "
         "ids, for a reproducible run", convert=_seed, metavar="N", shown="random"),
    Flag("--simulator-state", "simulator_state", "with --simulator: SQLite file keeping its "
         "campaigns across restarts; :memory: keeps none", "GATEWAY_SIMULATOR_STATE",
         _non_empty, "PATH", shown="<database>.simulator.db beside a SQLite --database"),
    Flag("--tls-cert", "tls_cert", "PEM server certificate, and its key without "
         "--tls-key; enables TLS", convert=Path, metavar="FILE", shown="none: plaintext"),
    Flag("--tls-key", "tls_key", "PEM private key of --tls-cert", convert=Path,
         metavar="FILE"),
    Flag("--tls-client-ca", "tls_client_ca", "PEM CA bundle; clients must present a "
         "certificate it signed: mutual TLS", convert=Path, metavar="FILE"),
    Flag("--cache-ttl", "cache_ttl", "seconds a cached campaign is served without asking "
         "upstream", "GATEWAY_CACHE_TTL", _seconds, "SECONDS"),
    Flag("--reconcile-grace", "reconcile_grace", "CreateCampaign: seconds after a create "
         "whose answer was lost before a retry with its request_id that finds no such "
         "campaign upstream creates it", "GATEWAY_RECONCILE_GRACE", _seconds, "SECONDS"),
    Flag("--max-watch-streams-per-key", "max_watch_streams_per_key", "WatchCampaignRows "
         "streams one API key may hold open on this process", convert=_count, metavar="N"),
    Flag("--max-watch-streams", "max_watch_streams", "WatchCampaignRows streams this "
         "process serves at once", convert=_count, metavar="N"),
    Flag("--admission-ttl", "admission_ttl", "WatchCampaignRows: seconds a key's admission "
         "to a campaign is reused by its next streams", convert=_seconds, metavar="SECONDS"),
    Flag("--max-create-contacts", "max_create_contacts", "total contacts of the "
         "CreateCampaigns this process runs at once", convert=_count, metavar="N"),
    Flag("--rate", "rate_per_second", "unary calls per second per API key (token bucket)",
         convert=_positive, metavar="PER_SECOND"),
    Flag("--rate-burst", "rate_burst", "unary calls an idle API key may make at once",
         convert=_count, metavar="N"),
    Flag("--shutdown-grace", "shutdown_grace", "seconds in-flight calls get to finish on "
         "SIGTERM", convert=_seconds, metavar="SECONDS"),
    Flag("--poll-interval", "poll_interval", "WatchCampaignRows: base seconds between polls "
         "of a watched campaign", convert=_positive, metavar="SECONDS"),
    Flag("--max-poll-interval", "max_poll_interval", "WatchCampaignRows: the interval "
         "doubles while nothing changes, up to this", convert=_positive, metavar="SECONDS"),
    Flag("--retention", "retention_seconds", "WatchCampaignRows: seconds of change log kept "
         "for resume", convert=_positive, metavar="SECONDS"),
    Flag("--webhook-listen", "webhook_listen", "WatchCampaignRows: address of the "
         "call-completed webhook that triggers an immediate poll", "GATEWAY_WEBHOOK_LISTEN",
         _host_port, "HOST:PORT", shown="off"),
    Flag("--lease-ttl", "lease_ttl", "WatchCampaignRows: seconds a replica's lease on "
         "polling a campaign lasts unrenewed (renewed every third of it)", convert=_positive,
         metavar="SECONDS"),
    Flag("--workers", "workers", "gRPC server processes sharing the --listen port "
         "(SO_REUSEPORT) and the database", convert=_workers, metavar="N"),
    Flag("--log-level", "log_level", "DEBUG, INFO, WARNING or ERROR", "GATEWAY_LOG_LEVEL",
         _log_level, "LEVEL"),
    Flag("--log-format", "log_format", "text, or json: one JSON object per line; either way "
         "one line per rpc with its request id", "GATEWAY_LOG_FORMAT", _log_format, "FORMAT"),
    Flag("--metrics-listen", "metrics_listen", "address of the HTTP port serving /metrics "
         "for Prometheus and /healthz; off turns it off", "GATEWAY_METRICS_LISTEN",
         _metrics_listen, "HOST:PORT", shown=f"off; {SIMULATOR_METRICS_LISTEN} with --simulator"),
)

# Settings read from the environment only: (variable, default, meaning).
ENV_ONLY: tuple[tuple[str, str, str], ...] = (
    ("GATEWAY_TENANT_SECRET", "generated once, kept in the database",
     "secret of the HMAC that partitions the cache by API key"),
)


def _argparse_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` for argparse: its ValueError message becomes argparse's error line."""

    def parse(value: str) -> Any:
        try:
            return convert(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    # The argparse default is None for every flag: settings_from_args then tells "not
    # given" from "given", and falls back to the env variable, then to Settings.
    for flag in FLAGS:
        if flag.convert is None:
            parser.add_argument(flag.name, dest=flag.field, action="store_true",
                                default=None, help=flag.help)
        else:
            parser.add_argument(flag.name, dest=flag.field, type=_argparse_type(flag.convert),
                                default=None, metavar=flag.metavar, help=flag.help)


def _resolve(flag: Flag, args: argparse.Namespace) -> Any:
    value = getattr(args, flag.field, None)
    if value is not None:
        return value
    raw = os.environ.get(flag.env) if flag.env else None
    if raw in (None, ""):
        return Settings.__dataclass_fields__[flag.field].default
    assert flag.convert is not None and raw is not None
    try:
        return flag.convert(raw)
    except ValueError as exc:
        shown = "<hidden>" if flag.field == "api_key" else repr(raw)
        raise StartupError(f"env {flag.env}={shown}: {exc}; fix it, or override it with "
                           f"{flag.name} {flag.metavar}") from None


def simulator_state_beside(database_url: str) -> str | None:
    """The default simulator state file: ``<name>.simulator<suffix>`` beside a SQLite
    ``--database`` file (``revox-gateway.db`` → ``revox-gateway.simulator.db``), so a
    restarted ``make run`` keeps its demo campaigns; None for another database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database_url)
    except ArgumentError:
        return None  # preflight reports the URL itself
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == _IN_MEMORY \
            or name.startswith("file:") or "mode=memory" in database_url:
        return None
    path = Path(name).expanduser()
    suffix = path.suffix or ".db"
    return str(path.with_name(f"{path.stem}.simulator{suffix}").resolve())


def _metrics_default(values: dict[str, Any]) -> None:
    """--simulator serves metrics at SIMULATOR_METRICS_LISTEN unless told where (or
    ``off``); that default moves to a free port when taken (another ``make run``)."""
    listen = values["metrics_listen"]
    if listen is None and values["simulator"]:
        values["metrics_listen"] = SIMULATOR_METRICS_LISTEN
        values["metrics_port_fallback"] = True
    elif listen == "":
        values["metrics_listen"] = None


def _check_workers(values: dict[str, Any]) -> None:
    """--workers N (N > 1): every worker binds the same fixed port; no embedded simulator
    (each worker would start its own, with its own campaigns)."""
    workers = values["workers"]
    if workers <= 1:
        return
    if values["simulator"]:
        raise StartupError(f"--workers {workers} cannot share --simulator (each worker would "
                           "simulate its own campaigns); start the simulator alone "
                           "(revox-gateway simulator) and pass --upstream-url, or drop --workers")
    if split_host_port(values["listen"])[1] == 0:
        raise StartupError(f"--workers {workers} needs a fixed port in --listen (port 0 would "
                           "give each worker its own); choose one with --listen HOST:PORT")
    # --metrics-listen is served once, by the parent, for every worker (gateway.workers)
    if values["webhook_listen"]:
        raise StartupError(f"--workers {workers} cannot share --webhook-listen (one port per "
                           "process); drop --webhook-listen or run separate replicas")


def settings_from_args(args: argparse.Namespace) -> Settings:
    values = {flag.field: _resolve(flag, args) for flag in FLAGS}
    if values["tls_key"] is not None and values["tls_cert"] is None:
        raise StartupError("--tls-key needs --tls-cert (the certificate it is the key of); "
                           "add --tls-cert FILE or drop --tls-key")
    if values["tls_client_ca"] is not None and values["tls_cert"] is None:
        raise StartupError("--tls-client-ca needs --tls-cert (mutual TLS is TLS); add "
                           "--tls-cert FILE or drop --tls-client-ca")
    if values["max_poll_interval"] < values["poll_interval"]:
        raise StartupError(f"--max-poll-interval {values['max_poll_interval']:g} is below "
                           f"--poll-interval {values['poll_interval']:g}; raise "
                           "--max-poll-interval or lower --poll-interval")
    _check_workers(values)
    _metrics_default(values)
    state = values["simulator_state"]
    if state is None:
        values["simulator_state"] = simulator_state_beside(values["database_url"])
    elif state == _IN_MEMORY:
        values["simulator_state"] = None
    return Settings(tenant_secret=os.environ.get("GATEWAY_TENANT_SECRET") or None, **values)
