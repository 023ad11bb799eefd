"""Settings of a gateway process: flags first, then environment, then defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

__all__ = [
    "DEFAULT_UPSTREAM",
    "SIMULATOR_KEY",
    "ServerSettings",
    "Settings",
    "WatchSettings",
    "add_serve_arguments",
    "settings_from_args",
]

DEFAULT_UPSTREAM = "https://www.getrevox.com/api"
SIMULATOR_KEY = "sk_test_local_sandbox"


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


@dataclass(frozen=True)
class ServerSettings:
    """What ``gateway.rpc`` reads to listen: the address, TLS files and drain time."""

    listen: str = "127.0.0.1:50051"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    shutdown_grace: float = 10.0


_Part = TypeVar("_Part", "WatchSettings", "ServerSettings")


@dataclass(frozen=True)
class Settings:
    """Every setting of a gateway process, flat as the CLI and env give them; each
    component receives only its own typed part (``watch``, ``server``)."""

    listen: str = "127.0.0.1:50051"
    upstream_url: str = DEFAULT_UPSTREAM
    api_key: str | None = None
    database_url: str = "sqlite+aiosqlite:///revox-gateway.db"
    simulator: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    cache_ttl: float = 5.0
    shutdown_grace: float = 10.0
    tenant_secret: str | None = None
    upstream_timeout: float = 30.0
    upstream_page_base: int | None = None  # None: learnt from the upstream's answers
    # WatchCampaignRows
    poll_interval: float = 2.0
    max_poll_interval: float = 15.0
    full_sweep_every: int = 10
    retention_seconds: float = 24 * 3600.0
    linger_seconds: float = 5.0
    subscriber_queue: int = 1024
    webhook_listen: str | None = None
    # The embedded simulator (with --simulator)
    simulator_speedup: float | None = None
    simulator_seed: int = 1

    @property
    def watch(self) -> WatchSettings:
        return self._part(WatchSettings)

    @property
    def server(self) -> ServerSettings:
        return self._part(ServerSettings)

    def _part(self, cls: type[_Part]) -> _Part:
        """A component's settings: its fields, named as here, with the values set here."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def __repr__(self) -> str:  # never print the key
        return f"Settings(listen={self.listen!r}, upstream_url={self.upstream_url!r}, ...)"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--listen", default=_env("GATEWAY_LISTEN", Settings.listen),
        help="HOST:PORT to serve gRPC on (env GATEWAY_LISTEN; default %(default)s)")
    add("--upstream-url", default=_env("REVOX_BASE_URL", DEFAULT_UPSTREAM),
        help="Revox API root (env REVOX_BASE_URL; default %(default)s)")
    add("--api-key", default=None,
        help="key used when a caller sends none (env REVOX_API_KEY; prefer the env var)")
    add("--database", default=_env("GATEWAY_DATABASE_URL", Settings.database_url),
        help="SQLAlchemy async URL (env GATEWAY_DATABASE_URL; default %(default)s)")
    add("--upstream-page-base", choices=("auto", "0", "1"),
        default=_env("REVOX_PAGE_BASE", "auto"),
        help="number of the upstream's first rows page; auto learns it from the answers "
             "(env REVOX_PAGE_BASE; default %(default)s)")
    add("--simulator", action="store_true",
        help="start the embedded Revox simulator and use it as the upstream (no real calls)")
    add("--tls-cert", type=Path, default=None, help="PEM server certificate (enables TLS)")
    add("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    add("--tls-client-ca", type=Path, default=None,
        help="PEM CA bundle; clients must present a certificate it signed (mutual TLS)")
    add("--cache-ttl", type=float, default=float(_env("GATEWAY_CACHE_TTL", "5") or 5),
        help="seconds a cached campaign is served without asking upstream (default %(default)s)")
    add("--shutdown-grace", type=float, default=10.0,
        help="seconds in-flight calls get to finish on SIGTERM (default %(default)s)")
    add("--poll-interval", type=float, default=2.0,
        help="WatchCampaignRows: base seconds between polls of a watched campaign "
             "(default %(default)s)")
    add("--max-poll-interval", type=float, default=Settings.max_poll_interval,
        help="WatchCampaignRows: the interval doubles while nothing changes, up to this "
             "(default %(default)s)")
    add("--retention", type=float, default=24 * 3600.0,
        help="WatchCampaignRows: seconds of change log kept for resume (default 24 h)")
    add("--webhook-listen", default=_env("GATEWAY_WEBHOOK_LISTEN"),
        help="HOST:PORT for the call-completed webhook that triggers an immediate poll")
    add("--simulator-speedup", type=float, default=None,
        help="with --simulator: simulated seconds per real second")


def settings_from_args(args: argparse.Namespace) -> Settings:
    if args.tls_key is not None and args.tls_cert is None:
        raise SystemExit("--tls-key needs --tls-cert")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise SystemExit("--tls-client-ca needs --tls-cert")
    return Settings(
        listen=args.listen,
        upstream_url=args.upstream_url,
        upstream_page_base=None if args.upstream_page_base == "auto" else int(args.upstream_page_base),
        api_key=args.api_key or _env("REVOX_API_KEY"),
        database_url=args.database,
        simulator=args.simulator,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        cache_ttl=args.cache_ttl,
        shutdown_grace=args.shutdown_grace,
        tenant_secret=_env("GATEWAY_TENANT_SECRET"),
        poll_interval=args.poll_interval,
        max_poll_interval=args.max_poll_interval,
        retention_seconds=args.retention,
        webhook_listen=args.webhook_listen,
        simulator_speedup=args.simulator_speedup,
    )
