"""``revox_gateway_event_loop_tasks``: the asyncio tasks alive in the serving process.

Why: a leak in a long-running gateway (a stream that never ends its poller, a
write-behind that is never awaited, a heartbeat that outlives its lease) shows first
as a task count that only grows. The soak (``tests/reliability/soak.py``) compares it
at the start and the end of a mixed load; an operator can alert on its trend.

Read at scrape time (``set_function``): the scrape runs on the event loop, so the count
is exact and costs nothing between scrapes. Scraped from another thread or before the
loop runs there is no loop to count: NaN, never an error in the scrape.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["RuntimeMetrics", "event_loop_tasks"]


def event_loop_tasks() -> float:
    """``len(asyncio.all_tasks())`` of the running loop; NaN outside one."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running event loop in this thread
        return float("nan")


class RuntimeMetrics:
    """Gauges read from the running process rather than counted by components."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.event_loop_tasks = Gauge(
            "revox_gateway_event_loop_tasks", "asyncio tasks alive on the gateway's event "
            "loop at scrape time (a count that only grows is a leak).", registry=registry)
        self.event_loop_tasks.set_function(event_loop_tasks)
