"""``revox-gateway`` / ``python -m gateway``: ``serve`` or ``simulator``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:
        from .simulator import main as simulator_main

        return simulator_main(argv[1:])
    from .config import add_serve_arguments, settings_from_args

    parser = argparse.ArgumentParser(prog="revox-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the gRPC gateway")
    add_serve_arguments(serve_parser)
    serve_parser.add_argument("--log-level", default="INFO")
    commands.add_parser("simulator", help="serve the Revox simulator (see: simulator --help)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import serve

    try:
        asyncio.run(serve(settings_from_args(args)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
