"""``revox-gateway`` / ``python -m gateway``: ``serve`` or ``simulator``.

Why a custom parser: a misconfigured start must explain itself in one line on stderr,
naming the flag that fixes it, with exit status 2 and no traceback; argparse's own errors
print the whole usage first, and start-up failures (``StartupError``) would otherwise
end in a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    commands.add_parser("simulator", help="serve the Revox simulator alone (see: simulator "
                                          "--help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:
        from .simulator import main as simulator_main

        return simulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    # Imported once the flags parse: --help and --version need neither grpc nor SQL.
    from .app import serve
    from .config import StartupError, settings_from_args

    try:
        settings = settings_from_args(args)
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
