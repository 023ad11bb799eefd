"""``revox-gateway`` / ``python -m gateway``: ``serve``, ``migrate`` or ``simulator``.

Why a custom parser: a misconfigured start must explain itself in one line on stderr,
naming the flag that fixes it, with exit status 2 and no traceback; argparse's own errors
print the whole usage first, and start-up failures (``StartupError``) would otherwise
end in a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

__all__ = ["build_parser", "main"]

_PROG = "revox-gateway"
_DISTRIBUTION = "revox-grpc-gateway"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; flag help wrapped between words only, so a URL or a
    hyphenated default (``revox-gateway.db``) is never split across lines."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False,
                             break_long_words=False)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``prog: argument --flag: why``), exit 2."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(2, f"{self.prog}: {line} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return f"{_DISTRIBUTION} {version(_DISTRIBUTION)}"
    except PackageNotFoundError:  # run from a tree that was never installed
        return f"{_DISTRIBUTION} (version unknown: not installed)"


def build_parser() -> argparse.ArgumentParser:
    from .config import ENV_ONLY, add_serve_arguments

    parser = _OneLineParser(
        prog=_PROG,
        description="A gRPC gateway in front of the Revox Campaigns REST API, with an "
                    "embedded simulator of that API.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    environment = "\n".join(f"  {name}: {meaning}\n    (default: {default})"
                            for name, default, meaning in ENV_ONLY)
    serve_parser = commands.add_parser(
        "serve", help="serve the gRPC gateway",
        description="Serve revox.campaigns.v1.CampaignService (with health and reflection)\n"
                    "in front of the Revox API. A flag not given falls back to its env\n"
                    "variable, then to its default.",
        epilog=f"environment only:\n{environment}",
        formatter_class=_HelpFormatter,
    )
    add_serve_arguments(serve_parser)
    migrate_parser = commands.add_parser(
        "migrate", help="upgrade the database schema to this gateway's revision, then exit",
        description="Upgrade the schema of the gateway database to this gateway's head\n"
                    "revision and print it (what serve does at start-up unless\n"
                    "--no-migrate). Safe to run while replicas start: one migrates.",
        formatter_class=_HelpFormatter,
    )
    migrate_parser.add_argument(
        "--database", metavar="URL", default=None,
        help="SQLAlchemy async URL of the gateway's database (env GATEWAY_DATABASE_URL; "
             "default: sqlite+aiosqlite:///revox-gateway.db)")
    commands.add_parser("simulator", help="serve the Revox simulator alone (see: simulator "
                                          "--help)", add_help=False)
    return parser


def _migrate(database: str | None) -> int:
    """``revox-gateway migrate``: upgrade, print the head revision (exit 0)."""
    from . import preflight
    from .config import Settings
    from .store import migrate

    url = database or os.environ.get("GATEWAY_DATABASE_URL") or Settings.database_url
    preflight.check_database(url)  # a malformed URL, a SQLite file's missing directory
    head = asyncio.run(migrate(url))
    print(f"{_PROG}: database schema at revision {head}", flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .config import settings_from_args

    settings = settings_from_args(args)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .workers import WORKER_ENV, serve_workers

    if os.environ.get(WORKER_ENV):  # one of the --workers processes
        settings = dataclasses.replace(settings, reuse_port=True)
    elif settings.workers > 1:
        return serve_workers(settings, args.argv)
    from .app import serve

    asyncio.run(serve(settings))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:
        from .simulator import main as simulator_main

        return simulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    # Imported once the flags parse: --help and --version need neither grpc nor SQL.
    from .config import StartupError
    from .store._errors import (
        DatabaseUnavailable,
        MigrationFailed,
        SchemaOutdated,
        SchemaTooNew,
        TenantSecretMismatch,
    )

    try:
        if args.command == "migrate":
            return _migrate(args.database)
        return _serve(args)
    except (StartupError, DatabaseUnavailable, MigrationFailed, SchemaOutdated,
            SchemaTooNew, TenantSecretMismatch) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
