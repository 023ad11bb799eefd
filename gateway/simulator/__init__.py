"""The embedded Revox Campaigns API simulator.

A real aiohttp server that stands in for ``https://www.getrevox.com/api`` in ``make run``,
in every test and in users' sandboxes, so no real phone is ever dialled. It serves the
seed's seven endpoints at the root of its listen address::

    POST   /campaigns                 GET /campaigns/{id}/rows   (page from 0, or 1: page_base)
    GET    /campaigns                 GET /campaigns/{id}/export
    GET    /campaigns/{id}            POST /campaigns/{id}/cancel
    DELETE /campaigns/{id}

plus an unauthenticated control API under ``/_simulator/`` (``GET state``, ``GET|POST|DELETE
faults``, ``POST advance {"seconds": N}``) that is not counted in ``request_count``.

Embedding::

    async with Simulator(SimulatorConfig(seed=1, clock="manual")) as sim:
        sim.base_url                  # API root, e.g. http://127.0.0.1:54321
        await sim.advance(60)         # simulated seconds; deterministic, no real sleeping
        sim.faults.fail_next(2, status=503)

Conventions (the rest of the gateway relies on them):

* Auth: ``Authorization: Bearer sk_test_...``; every distinct key is its own organization
  (``org_`` + 12 hex of sha256(key)); anything else → 401. Other orgs' campaigns → 404.
  ``sim.add_key(key, organization_of=other)`` makes an unused key another key of
  ``other``'s organization; ``sim.revoke_key(key)`` makes that key alone answer 401.
* Pages count from ``page_base`` (``SimulatorConfig(page_base=1)`` / ``--page-base 1``; default
  0), which is also ``page``'s default; with base 1, ``page=0`` answers no rows and the total,
  as an upstream written from the same reference may. ``page`` is echoed as sent.
  ``page_size`` defaults to 50 (0 also means 50), max 1000; negatives or > 1000 → 400.
* ``GET /campaigns`` lists newest first. Rows are ordered by ``row_index``; ``query`` is a
  case-insensitive substring of the phone number or any prompt variable value; ``result``
  matches the last attempt's result (``all`` = no filter, ``none`` = no result yet);
  ``statuses`` is a comma-separated list of call statuses.
* Timestamps are ISO 8601 UTC with milliseconds and ``Z``.
* Identity: ``SimulatorConfig(seed=None)`` / no ``--seed`` (the default) draws a random seed
  on every start, so a restarted simulator never hands out an id it handed out before, as a
  real upstream never recycles one; ``seed=N`` / ``--seed N`` replays the same ids, outcomes
  and fault ratios on every run (tests). ``state()["seed"]`` is None when random.
* State: ``SimulatorConfig(state_path=PATH)`` / ``--state PATH`` keeps organizations,
  campaigns, rows, attempts, keys, the id counter and the simulated clock in an SQLite file
  (created when missing) and restores them on start; ids then never repeat while the file
  lives, even with a fixed seed. It is saved before a create, cancel or delete is answered,
  after ``advance`` and key changes, about once a second while the real clock runs (a
  ``kill -9`` loses at most that much call progress) and on stop. The clock resumes at the
  saved simulated time (an explicit ``start_time`` later than that jumps forward, never
  back). ``state()`` reports ``state_path`` and ``state_saves`` (saves by this process).
  Faults, ``request_count`` and ``received`` are per process, not saved. A file that
  is not a state file, of another format version, corrupt or in use by another simulator
  raises :class:`StateFileError` (one line; the CLI exits 2).
* Clock: ``SimulatorConfig(clock="manual")`` starts Monday 2026-03-02 09:00 UTC and moves
  only through ``await sim.advance(s)``; ``clock="real"`` (the default) starts today at
  15:00 UTC (inside the default 10:00-18:00 window for Europe and the US east coast) and runs
  at ``speedup`` (default 60: an attempt takes 1-4 real seconds, a 2 h retry 2 minutes).
  ``ignore_windows=True`` / ``--ignore-windows`` places calls at any simulated hour.
* Errors: ``{"error": {"message", "field", "code"}}``; codes ``invalid_argument`` (400),
  ``unauthenticated`` (401), ``not_found`` (404), ``rate_limited`` (429, ``Retry-After``),
  ``internal`` (5xx).
* Call (row) statuses: initializing → queued_for_calling → calling → completed / errored,
  with ``scheduled`` while waiting for ``scheduled_at``, a calling window or a retry, and
  ``cancelled`` after a campaign cancel. ``row_stats`` buckets, always computed from the
  same counters the rows update:

  ==========  ===============================================================
  pending     initializing + queued_for_calling + scheduled with no attempt yet
  calling     calling
  retry       scheduled after at least one attempt
  completed   completed
  failed      errored + cancelled
  total       all rows
  ==========  ===============================================================

* Campaign status: ``draft`` while ``scheduled_at`` is in the future, ``completed`` once
  every row is terminal (also after a cancel), else ``running``. ``paused`` is never used.
* ``max_retry_attempts`` counts retries: at most ``1 + max_retry_attempts`` attempts. Voicemail
  and the busy / no_answer dial errors are retried after the window's
  ``retry_delay_seconds``; when retries are exhausted the call is ``errored``. Other dial
  errors error the call at once; answered results (human, IVR, unknown,
  ios-screening-filter) complete it.
* Drift mode (``sim.faults.drift = True`` / ``--drift``): SDK 0.5.0 shapes – extra fields,
  campaign status never ``draft``, call statuses ``post_processing`` / ``not_launched``,
  voice provider ``gradium``, realtime LLMs, rows response ``{"rows": [...]}`` only (every
  filtered row at once, page params ignored). ``sim.faults.drift_status_literals`` renders
  chosen call statuses under literals newer than 0.5.0 (rows and ``statuses`` filter).
"""

from __future__ import annotations

from ._cli import main
from ._clock import SimClock
from ._faults import FaultRule, Faults
from ._server import Simulator, SimulatorConfig
from ._state_file import StateFileError

__all__ = ["FaultRule", "Faults", "SimClock", "Simulator", "SimulatorConfig", "StateFileError",
           "main"]
