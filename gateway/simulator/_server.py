"""The embeddable :class:`Simulator` and its :class:`SimulatorConfig`.

``seed=None`` (the default) draws a random seed per start, so ids and outcomes differ from
one start to the next, as a real upstream never recycles an id; an int replays a run.
``state_path`` keeps the state in a file across restarts (see :mod:`._persistence`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from ._app import build_app
from ._clock import SimClock, format_ts, parse_ts
from ._content import DEFAULT_OUTCOME_WEIGHTS
from ._engine import Engine
from ._faults import Faults
from ._model import ACTIVE, Campaign, Received, Row
from ._persistence import Persistence, save_middleware
from ._shapes import Renderer
from ._store import Store
from ._windows import PhoneInfo

__all__ = ["MANUAL_START", "Simulator", "SimulatorConfig"]

log = logging.getLogger("gateway.simulator")

# Manual clock default: Monday 2026-03-02 09:00 UTC. With the default 10:00-18:00 windows a
# Paris number (+33, UTC+1) is inside its window, London opens in 1 h, New York in 6 h.
MANUAL_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
# Real clock default: today at 15:00 UTC, inside the default window for Europe and the US
# east coast, so `make run` shows calls at any hour of the real day.
REAL_START_HOUR_UTC = 15


@dataclass
class SimulatorConfig:
    # RNG seed of ids, outcomes and fault ratios. None: a random one per start (ids never
    # repeat across restarts); an int: the same ids and outcomes on every run.
    seed: int | None = None
    # SQLite file keeping organizations, campaigns, rows, keys, the id counter and the clock
    # across restarts (created when missing). None: state lives in memory only.
    state_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 0  # 0 = an ephemeral port
    clock: str = "real"  # "real" (speedup x real time) or "manual" (only sim.advance)
    # Simulated seconds per real second (real clock). At 60x an attempt (queued → ringing →
    # ongoing → completed, ~1-4 simulated minutes) takes 1-4 real seconds and the default
    # 2 h retry delay 2 real minutes.
    speedup: float = 60.0
    start_time: float | str | datetime | None = None  # None: see MANUAL_START / REAL_START
    tick_seconds: float = 0.05  # real seconds between engine runs with the real clock
    ignore_windows: bool = False  # place calls at any hour (windows still validated)
    default_max_concurrent_calls: int = 10  # when a campaign sets no max_concurrent_calls
    outcome_weights: dict[str, float] | None = None  # see _content.DEFAULT_OUTCOME_WEIGHTS
    webhook_url: str | None = None  # POST call.completed notifications here when set
    # The first page's number on GET /campaigns/{id}/rows: 0, or 1 as some APIs count
    # (the reference leaves it open; the gateway must detect it).
    page_base: int = 0
    # Faults active from the start (the CLI flags map onto these).
    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    drift: bool = False
    faults: list[dict[str, Any]] = field(default_factory=list)  # extra rules, as JSON specs

    def start_timestamp(self) -> float:
        value = self.start_time
        if value is None:
            if self.clock == "manual":
                return MANUAL_START
            today = datetime.now(UTC).replace(hour=REAL_START_HOUR_UTC, minute=0, second=0,
                                              microsecond=0)
            return today.timestamp()
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, str):
            return parse_ts(value)
        return float(value)


class Simulator:
    """A real HTTP server emulating the Revox Campaigns API. Use ``async with``."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config = config or SimulatorConfig()
        # The seed in use: the configured one, else fresh randomness for this start.
        self.seed = config.seed if config.seed is not None else secrets.randbits(64)
        self.clock = SimClock(mode=config.clock, start=config.start_timestamp(),
                              speedup=config.speedup)
        self.phones = PhoneInfo()
        self.store = Store(seed=self.seed, default_cap=config.default_max_concurrent_calls,
                           webhook_url=config.webhook_url)
        self.renderer = Renderer()
        self.engine = Engine(
            seed=self.seed, phones=self.phones,
            outcome_weights=dict(config.outcome_weights or DEFAULT_OUTCOME_WEIGHTS),
            ignore_windows=config.ignore_windows,
            on_call_end=self._on_call_end if config.webhook_url else None,
        )
        self.engine.now = self.clock.now()
        self.faults = Faults(self.seed)
        self._apply_config_faults()
        self.request_count = 0
        # The last API requests as received (bounded: a create may carry megabytes).
        self.received: deque[Received] = deque(maxlen=32)
        self.webhooks_sent = 0
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._port: int | None = None
        self._persistence: Persistence | None = None

    def _apply_config_faults(self) -> None:
        c, f = self.config, self.faults
        f.drift = c.drift
        if c.latency:
            f.set("latency", seconds=c.latency)
        if c.error_rate:
            f.set("error", ratio=c.error_rate, status=c.error_status)
        if c.rate_limit_rate:
            f.set("rate_limit", ratio=c.rate_limit_rate, retry_after=c.retry_after)
        if c.drop_rate:
            f.set("drop", ratio=c.drop_rate)
        if c.malformed_rate:
            f.set("malformed", ratio=c.malformed_rate)
        for spec in c.faults:
            f.configure(dict(spec))

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> Self:
        """Restore the state file (if any), then serve. Raises StateFileError when the state
        file cannot be used, OSError when the address cannot be bound."""
        app = build_app(self)
        if self.config.state_path is not None:
            explicit = None if self.config.start_time is None else \
                self.config.start_timestamp()
            self._persistence = await Persistence.open(
                self.config.state_path, self.store, self.engine, self.clock, explicit)
            app.middlewares.append(save_middleware(self._persistence))
        try:
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self._port = int(self._runner.addresses[0][1])
        if self.clock.mode == "real":
            self._ticker = asyncio.create_task(self._tick_forever(), name="simulator-clock")
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in list(self._webhook_tasks):
            task.cancel()
        if self._webhook_tasks:
            await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._persistence is not None:
            # After the server: no request can change the state behind the last save.
            await self._persistence.close()
            self._persistence = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                self.sync()
            except Exception:  # keep the clock alive; a bug must not freeze every campaign
                log.exception("simulator engine step failed")
            if self._persistence is not None:
                self._persistence.tick()

    # -- public helpers ------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "[::1]"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def now(self) -> float:
        return self.clock.now()

    def sync(self) -> int:
        """Run the engine up to the clock's current time; returns events processed."""
        return self.engine.run_until(self.clock.now())

    async def advance(self, seconds: float) -> float:
        """Move simulated time forward and process everything due; returns the new time."""
        self.clock.advance(seconds)
        self.sync()
        if self._persistence is not None:
            await self._persistence.save()
        await asyncio.sleep(0)  # let webhook deliveries start
        return self.clock.now()

    def add_key(self, key: str, *, organization_of: str) -> None:
        """Issue ``key`` as another API key of ``organization_of``'s organization (a
        teammate's key): both keys see the same campaigns. ``key`` must be unused."""
        if not key.startswith("sk_test_"):
            raise ValueError("simulator API keys begin with sk_test_")
        self.store.add_key(key, organization_of)
        if self._persistence is not None:
            self._persistence.save_keys()

    def revoke_key(self, key: str) -> None:
        """From now on every API request with ``key`` gets 401 ``unauthenticated``; the
        organization's other keys keep working."""
        self.store.revoked.add(key)
        if self._persistence is not None:
            self._persistence.save_keys()

    def campaign(self, campaign_id: str) -> Campaign | None:
        """The internal record of a campaign, whatever its organization (for tests)."""
        for org in self.store.orgs.values():
            campaign = org.campaigns.get(campaign_id)
            if campaign is not None:
                return campaign
        return None

    def set_row_status(self, campaign_id: str, index: int, status: str) -> None:
        """Move row ``index`` to call status ``status`` at the current simulated time,
        behind the engine's back (for tests that script changes): the engine's pending
        events for the row are dropped, so only the script moves it from now on."""
        campaign = self.campaign(campaign_id)
        if campaign is None:
            raise KeyError(campaign_id)
        row = campaign.rows[index]
        if row in campaign.queue:
            campaign.queue.remove(row)
        if row.status in ACTIVE:
            campaign.active -= 1
        campaign.set_status(row, status, self.clock.now())
        if status in ACTIVE:
            campaign.active += 1
        if self._persistence is not None:
            self._persistence.save_soon()

    def remove_row(self, campaign_id: str, index: int) -> None:
        """Delete row ``index`` from the campaign (for tests: the reference has no such
        endpoint, but rows can vanish from a real upstream, e.g. an erased contact)."""
        campaign = self.campaign(campaign_id)
        if campaign is None:
            raise KeyError(campaign_id)
        row = campaign.rows[index]
        self.set_row_status(campaign_id, index, "cancelled")  # leaves the queue and counts
        campaign.counts[row.counted] -= 1
        campaign.terminal -= 1
        campaign.rows.remove(row)
        campaign.dirty = None  # the state file rewrites this campaign's rows whole

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        campaigns = [c for org in self.store.orgs.values() for c in org.campaigns.values()]
        return {
            "now": format_ts(now),
            "now_epoch": now,
            "clock": self.clock.mode,
            "speedup": self.clock.speedup,
            "seed": self.config.seed,  # None: random (this start's own seed)
            "state_path": self.config.state_path,
            "state_saves": self._persistence.saves if self._persistence else 0,
            "request_count": self.request_count,
            "organizations": len(self.store.orgs),
            "campaigns": len(campaigns),
            "rows": sum(len(c.rows) for c in campaigns),
            "active_calls": sum(c.active for c in campaigns),
            "webhooks_sent": self.webhooks_sent,
            "faults": self.faults.to_dict(),
            **self.engine.snapshot(),
        }

    # -- webhooks ------------------------------------------------------------------------
    def _on_call_end(self, campaign: Campaign, row: Row) -> None:
        url = self.config.webhook_url
        if not url:
            return
        payload = self.renderer.call_json(campaign, row)
        try:
            task = asyncio.get_running_loop().create_task(self._post_webhook(url, payload))
        except RuntimeError:
            return  # no loop (engine driven synchronously outside asyncio): skip delivery
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    async def _post_webhook(self, url: str, payload: str) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._http.post(url, data=payload,
                                       headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
            self.webhooks_sent += 1
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("webhook delivery to %s failed: %s", url, exc)
