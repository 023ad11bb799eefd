"""aiohttp routes: the seven campaign endpoints at the root, plus ``/_simulator/`` control.

Request pipeline for API paths: count the request → bring the engine up to the clock →
injected latency → injected terminal fault (4xx/5xx / 429 / drop) → auth → handler → optional
malformed-body fault. Control endpoints skip all of that (no auth, not counted).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._model import Received
from ._validation import ApiError, parse_create, parse_json_body, parse_rows_query

if TYPE_CHECKING:
    from ._model import Campaign
    from ._server import Simulator
    from ._store import Organization

__all__ = ["SIMULATOR_HEADER", "build_app"]

CONTROL_PREFIX = "/_simulator"
# On every response, so whoever talks to a simulator can tell it from the real API: the
# gateway's start-up probe reads it (without a key) and says "no real calls are placed".
SIMULATOR_HEADER = "x-revox-simulator"
_SIM_KEY: web.AppKey[Simulator] = web.AppKey("simulator")
_ORG_KEY: web.RequestKey[Organization] = web.RequestKey("revox_org")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json", headers=headers)


def _raw_json(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


def _error(err: ApiError) -> web.Response:
    return _json(err.body(), status=err.status, headers=err.headers or None)


def _sim(request: web.Request) -> Simulator:
    return request.app[_SIM_KEY]


def _org(request: web.Request) -> Organization:
    return request[_ORG_KEY]


def _authenticate(request: web.Request) -> Organization:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthenticated", "missing Authorization: Bearer <api key>")
    if not key.startswith("sk_test_"):
        raise ApiError(401, "unauthenticated",
                       "invalid API key (the simulator accepts keys beginning with sk_test_)")
    store = _sim(request).store
    if key in store.revoked:
        raise ApiError(401, "unauthenticated", "this API key was revoked")
    return store.org(key)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The error code an injected 4xx carries (5xx: "internal").
_ERROR_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
                404: "not_found", 409: "conflict"}


@web.middleware
async def _pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    sim = _sim(request)
    if request.path.startswith(CONTROL_PREFIX):
        try:
            return await handler(request)
        except ApiError as err:
            return _error(err)
    sim.request_count += 1
    sim.received.append(Received(request.method, request.path, request.query_string,
                                 await request.read() if request.can_read_body else b""))
    sim.sync()
    delay, rule = sim.faults.pick(request.method, request.path)
    if delay > 0:
        await asyncio.sleep(delay)
    if rule is not None:
        if rule.kind == "drop":
            # Close the socket without writing a status line: clients see a reset/EOF.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if rule.kind == "error":
            headers = None if rule.retry_after is None else {
                "Retry-After": str(max(0, math.ceil(rule.retry_after)))}
            return _error(ApiError(rule.status, _ERROR_CODES.get(rule.status, "internal"),
                                   f"simulated upstream failure ({rule.status})",
                                   headers=headers))
        if rule.kind == "rate_limit":
            retry_after = str(max(0, math.ceil(rule.retry_after or 1.0)))
            return _error(ApiError(429, "rate_limited", "rate limit exceeded, retry later",
                                   headers={"Retry-After": retry_after}))
    try:
        request[_ORG_KEY] = _authenticate(request)
        response = await handler(request)
    except ApiError as err:
        response = _error(err)
    except web.HTTPException as exc:
        code = "not_found" if exc.status == 404 else "invalid_argument"
        response = _error(ApiError(exc.status, code, f"{request.method} {request.path}: "
                                   f"{exc.reason}"))
    if rule is not None and rule.kind == "malformed" and isinstance(response, web.Response):
        body = response.body if isinstance(response.body, bytes) else b"{}"
        # A truncated JSON document is never valid JSON.
        response = web.Response(body=body[: max(1, len(body) // 2)], status=response.status,
                                content_type="application/json")
    return response


def _campaign(request: web.Request) -> Campaign:
    sim = _sim(request)
    campaign = sim.store.get(_org(request), request.match_info["id"])
    if campaign is None:
        raise ApiError(404, "not_found", f"campaign {request.match_info['id']!r} not found")
    return campaign


async def create_campaign(request: web.Request) -> web.Response:
    sim = _sim(request)
    raw = await request.read()
    body = parse_json_body(raw)
    req = parse_create(body, sim.phones)
    now = sim.clock.now()
    campaign = sim.store.create(_org(request), req, now)
    sim.engine.campaign_created(campaign, now)
    return _json({"campaign": sim.renderer.campaign(campaign, now, sim.faults.drift)})


async def list_campaigns(request: web.Request) -> web.Response:
    sim = _sim(request)
    now, drift = sim.clock.now(), sim.faults.drift
    return _json({"campaigns": [sim.renderer.campaign(c, now, drift)
                                for c in sim.store.list(_org(request))]})


async def get_campaign(request: web.Request) -> web.Response:
    sim = _sim(request)
    return _json({"campaign": sim.renderer.campaign(_campaign(request), sim.clock.now(),
                                                    sim.faults.drift)})


async def delete_campaign(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.store.delete(_org(request), _campaign(request))
    return _json({"success": True})


async def cancel_campaign(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.engine.cancel(_campaign(request), sim.clock.now())
    return _json({"success": True})


async def get_rows(request: web.Request) -> web.Response:
    sim = _sim(request)
    campaign = _campaign(request)
    drift = sim.faults.drift
    renamed = sim.faults.drift_status_literals if drift else None
    query = parse_rows_query(request.query, drift=drift,
                             extra_statuses=tuple(renamed.values()) if renamed else (),
                             page_base=sim.config.page_base)
    if drift:
        # 0.5.0's rows endpoint has no pagination: every (filtered) row at once.
        query.page, query.index, query.page_size = 0, 0, max(1, len(campaign.rows))
    rows, total = sim.store.select_rows(campaign, query, drift, renamed)
    return _raw_json(sim.renderer.rows_json(campaign, rows, total, query.page, query.page_size,
                                            drift, renamed))


async def export_rows(request: web.Request) -> web.Response:
    sim = _sim(request)
    return _json(sim.renderer.export(_campaign(request), sim.clock.now()))


# -- control API -------------------------------------------------------------------------
async def _control_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    return parse_json_body(raw) if raw.strip() else {}


async def control_state(request: web.Request) -> web.Response:
    return _json(_sim(request).state())


async def control_get_faults(request: web.Request) -> web.Response:
    return _json(_sim(request).faults.to_dict())


async def control_set_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    spec = await _control_body(request)
    try:
        sim.faults.configure(spec)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "invalid_argument", str(exc), "faults") from None
    return _json(sim.faults.to_dict())


async def control_clear_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.faults.clear()
    return _json(sim.faults.to_dict())


async def control_advance(request: web.Request) -> web.Response:
    sim = _sim(request)
    spec = await _control_body(request)
    seconds = spec.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0 \
            or not math.isfinite(seconds):
        raise ApiError(400, "invalid_argument", "seconds must be a number >= 0", "seconds")
    await sim.advance(float(seconds))
    return _json(sim.state())


async def _mark_simulated(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[SIMULATOR_HEADER] = "1"


def build_app(sim: Simulator) -> web.Application:
    # 100,000 contacts are ~6 MB of JSON: lift aiohttp's 1 MiB default.
    app = web.Application(middlewares=[_pipeline], client_max_size=512 * 1024 * 1024)
    app[_SIM_KEY] = sim
    # on_response_prepare, not the middleware: it also marks the answers aiohttp makes
    # from an exception the middleware lets through (e.g. a 404 under /_simulator/).
    app.on_response_prepare.append(_mark_simulated)
    app.router.add_post("/campaigns", create_campaign)
    app.router.add_get("/campaigns", list_campaigns)
    app.router.add_get("/campaigns/{id}", get_campaign)
    app.router.add_delete("/campaigns/{id}", delete_campaign)
    app.router.add_post("/campaigns/{id}/cancel", cancel_campaign)
    app.router.add_get("/campaigns/{id}/rows", get_rows)
    app.router.add_get("/campaigns/{id}/export", export_rows)
    app.router.add_get(CONTROL_PREFIX + "/state", control_state)
    app.router.add_get(CONTROL_PREFIX + "/faults", control_get_faults)
    app.router.add_post(CONTROL_PREFIX + "/faults", control_set_faults)
    app.router.add_delete(CONTROL_PREFIX + "/faults", control_clear_faults)
    app.router.add_post(CONTROL_PREFIX + "/advance", control_advance)
    return app
