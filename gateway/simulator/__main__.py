"""``python -m gateway.simulator [...]``: the simulator CLI without the gateway's entry point
(same flags as ``revox-gateway simulator``)."""

from __future__ import annotations

import sys

from ._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
