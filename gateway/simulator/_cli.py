"""``revox-gateway simulator --listen HOST:PORT [...]`` (or ``python -m gateway.simulator``):
serve the simulator standalone.

Exit status: 0 after SIGINT/SIGTERM, 1 when the address cannot be bound, 2 when the state
file (``--state``) cannot be used, with one line on stderr saying why (no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from ._server import Simulator, SimulatorConfig
from ._state_file import StateFileError

__all__ = ["build_parser", "config_from_args", "main"]


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _ratio(value: str) -> float:
    ratio = float(value)
    if not 0.0 <= ratio <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return ratio


def build_parser(prog: str = "revox-gateway simulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Serve the embedded Revox Campaigns API simulator (no phone is ever "
                    "dialled). Accepts any API key beginning with sk_test_.",
    )
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8765), metavar="HOST:PORT",
                   help="address to serve on; the API root is http://HOST:PORT "
                        "(default 127.0.0.1:8765)")
    p.add_argument("--seed", type=int, default=None,
                   help="RNG seed for outcomes and ids: the same seed replays the same run "
                        "(default: random on every start, so ids never repeat)")
    p.add_argument("--state", default=None, metavar="PATH",
                   help="keep campaigns, rows, keys, the id counter and the clock in this "
                        "SQLite file across restarts (created when missing)")
    p.add_argument("--clock", choices=("real", "manual"), default="real",
                   help="real: simulated time runs at --speedup; manual: only "
                        "POST /_simulator/advance moves it")
    p.add_argument("--speedup", type=float, default=60.0,
                   help="simulated seconds per real second (default 60)")
    p.add_argument("--start-time", default=None,
                   help="simulated start instant, ISO 8601 (default: today 15:00 UTC)")
    p.add_argument("--ignore-windows", action="store_true",
                   help="place calls at any hour, ignoring calling windows")
    p.add_argument("--default-max-concurrent-calls", type=int, default=10,
                   help="concurrency cap of campaigns that set none (default 10)")
    p.add_argument("--webhook-url", default=None,
                   help="POST a call.completed JSON notification here when a call ends")
    p.add_argument("--page-base", type=int, choices=(0, 1), default=0,
                   help="number of the first page of GET /campaigns/{id}/rows (default 0; "
                        "with 1, page 0 answers no rows and the total)")
    p.add_argument("--latency", type=float, default=0.0,
                   help="add this many real seconds to every API response")
    p.add_argument("--error-rate", type=_ratio, default=0.0,
                   help="fraction of API requests answered with --error-status")
    p.add_argument("--error-status", type=int, default=503, help="5xx status for --error-rate")
    p.add_argument("--rate-limit-rate", type=_ratio, default=0.0,
                   help="fraction of API requests answered 429 with Retry-After")
    p.add_argument("--retry-after", type=float, default=1.0,
                   help="Retry-After seconds sent with injected 429s")
    p.add_argument("--drop-rate", type=_ratio, default=0.0,
                   help="fraction of API requests whose connection is dropped")
    p.add_argument("--malformed-rate", type=_ratio, default=0.0,
                   help="fraction of API responses with a truncated JSON body")
    p.add_argument("--drift", action="store_true",
                   help="answer in the newer SDK 0.5.0 shapes (API drift)")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    host, port = args.listen
    if not 500 <= args.error_status <= 599:
        raise SystemExit("--error-status must be a 5xx status")
    return SimulatorConfig(
        seed=args.seed, state_path=args.state, host=host, port=port, clock=args.clock, speedup=args.speedup,
        start_time=args.start_time, ignore_windows=args.ignore_windows,
        default_max_concurrent_calls=args.default_max_concurrent_calls,
        webhook_url=args.webhook_url, page_base=args.page_base, latency=args.latency,
        error_rate=args.error_rate,
        error_status=args.error_status, rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after, drop_rate=args.drop_rate,
        malformed_rate=args.malformed_rate, drift=args.drift,
    )


async def _serve(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Simulator(config) as sim:
        seed = "random" if config.seed is None else config.seed
        state = (f"state {config.state_path} with {sim.state()['campaigns']} campaigns, "
                 if config.state_path else "")
        print(f"revox simulator listening on {sim.base_url} (clock={config.clock}, "
              f"speedup={config.speedup:g}x, seed={seed}, page base {config.page_base}, "
              f"{state}control: "
              f"{sim.base_url}/_simulator/state)", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    config = config_from_args(args)
    try:
        asyncio.run(_serve(config))
    except StateFileError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"simulator: cannot listen on {config.host}:{config.port}: {exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
