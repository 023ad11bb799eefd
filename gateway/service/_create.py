"""Idempotent CreateCampaign (AIP-155 ``request_id``), including unknown outcomes.

One POST per ``(tenant, request_id)``; a duplicate gets the first result (the store,
``gateway.store._idempotency``, decides who owns a key). When an earlier attempt's
outcome is unknown (its answer was lost, or the gateway stopped mid-way), the caller's
retry *reconciles* it instead of answering ABORTED forever:

* exactly one campaign upstream matches the request (``_reconcile.find_matches``):
  the request_id completes with it (compare-and-set on the pending row) and every
  retry gets it (metric outcome ``reconciled``);
* none, and the attempt started at least ``grace`` seconds ago (setting
  ``reconcile_grace``, default 120 s, the gateway's clock): the request_id is released
  (compare-and-set: of two racing retries one releases, both then go through the
  normal begin, and exactly one POSTs) and the retry creates;
* none within the grace window: ABORTED ``CREATE_OUTCOME_UNKNOWN`` with RetryInfo
  saying when the window ends (an upstream may still be committing it);
* several: ABORTED ``CREATE_OUTCOME_UNKNOWN`` with the candidates' ids in ErrorInfo
  metadata ``candidate_campaign_ids``: the caller must choose.

A row taken over after ``pending_timeout`` (``Started(recovered=True)``) is reconciled
the same way before anything is POSTed.

While the database does not answer (``store.unreachable``) a create with a
``request_id`` is refused before anything is POSTed (``StoreUnavailable``:
UNAVAILABLE, retry with the same ``request_id``): nothing could stop a retry from
creating it a second time. If the database goes away after the POST, the caller still
gets the campaign; its row stays pending, and a later retry reconciles it as above.

Remaining risk: an upstream that commits the lost create *after* the grace window has
passed and the retry has created again makes two campaigns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .. import errors
from ..store import (
    Database,
    InFlight,
    Mismatch,
    OutcomeUnknown,
    Replay,
    Started,
)
from ..store._errors import StoreUnavailable
from ..upstream import (
    MalformedResponse,
    RevoxClient,
    UpstreamError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from ._caller import Caller
from ._deadline import with_reserve
from ._reconcile import find_matches

__all__ = ["DEFAULT_RECONCILE_GRACE", "IdempotentCreate", "campaign_of", "definitely_not_created"]

DEFAULT_RECONCILE_GRACE = 120.0
# Begin rounds per call: an unknown attempt released or settled by another retry
# meanwhile is looked at again, a few times at most.
_ROUNDS = 3

Campaign = dict[str, Any]

_log = logging.getLogger("gateway.service")


class IdempotentCreate:
    """See module docstring. ``remember`` writes a created campaign to the cache;
    ``replayed`` checks a replayed answer still names the same campaign."""

    def __init__(
        self, client: RevoxClient, db: Database, *, grace: float,
        outcome: Callable[[str], None],
        remember: Callable[[Caller, Campaign], Awaitable[None]],
        replayed: Callable[[Caller, Campaign, float | None], Awaitable[Campaign]],
    ) -> None:
        self._client, self._db, self._grace = client, db, grace
        self._outcome, self._remember, self._replayed = outcome, remember, replayed

    async def __call__(
        self, caller: Caller, body: dict[str, Any], digest: str, request_id: str,
        timeout: float | None,
    ) -> Campaign:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        def left() -> float | None:  # every step and round shares the caller's one deadline
            return None if deadline is None else max(0.0, deadline - loop.time())

        for _ in range(_ROUNDS):
            begin = await self._begin(caller, request_id, digest, left())
            if isinstance(begin, Started):
                return await self._run(caller, body, request_id, begin, left())
            if isinstance(begin, OutcomeUnknown):
                found = await self._reconcile(caller, body, request_id, begin, left())
                if found is not None:
                    return found
                continue  # released, or ended by another retry: look again
            return await self._answer(caller, begin, left())
        self._outcome("in_flight")
        raise errors.CreateInFlight("a create with this request_id is still in flight; retry later")

    async def _begin(
        self, caller: Caller, request_id: str, digest: str, timeout: float | None
    ) -> Started | OutcomeUnknown | Replay | Mismatch | InFlight:
        """The store's decision, or :class:`StoreUnavailable` when it cannot be asked."""
        outage = self._db.outage
        try:
            outage.check()
            begin = await self._db.idempotency.wait_or_begin(
                # a duplicate gives up waiting in time for its CREATE_IN_FLIGHT to arrive
                caller.tenant, request_id, digest, timeout=with_reserve(timeout))
        except Exception as exc:
            if not outage.failed(exc) and not isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(
                "the gateway's database does not answer, so this create could not be kept "
                "idempotent: nothing was sent to the Revox API; retry with the same request_id"
            ) from exc
        outage.answered()
        return begin

    async def _complete(self, caller: Caller, request_id: str, response: dict[str, Any]) -> None:
        """Record the outcome; a database gone since the POST leaves the row pending (the
        caller's retry reconciles it) rather than failing a create that happened."""
        try:
            await asyncio.shield(self._db.idempotency.complete(caller.tenant, request_id,
                                                               response))
        except Exception as exc:
            if not self._db.outage.failed(exc):
                raise
            _log.warning("create of request %s not recorded (database unreachable): a retry "
                         "reconciles it", request_id)

    async def _answer(
        self, caller: Caller, begin: Replay | Mismatch | InFlight, timeout: float | None
    ) -> Campaign:
        if isinstance(begin, Replay):
            self._outcome("replayed")
            return await self._replayed(caller, campaign_of(begin.response), timeout)
        if isinstance(begin, Mismatch):
            self._outcome("mismatch")
            raise errors.RequestIdReused(
                "request_id was already used with a different request; use a new request_id"
            )
        self._outcome("in_flight")
        raise errors.CreateInFlight("a create with this request_id is still in flight; retry later")

    async def _run(
        self, caller: Caller, body: dict[str, Any], request_id: str, begin: Started,
        timeout: float | None,
    ) -> Campaign:
        store = self._db.idempotency
        try:
            if begin.recovered:  # an attempt of long ago may have created it: look first
                matches = await self._matches(caller, body, timeout)
                if matches:
                    await self._complete(caller, request_id, {"campaign": matches[0]})
                    self._outcome("reconciled")
                    await self._remember(caller, matches[0])
                    return matches[0]
            response = await self._client.create_campaign(caller.api_key, body, timeout=timeout)
        except BaseException as exc:
            if definitely_not_created(exc):
                await asyncio.shield(store.abort(caller.tenant, request_id))
            else:
                store.abandon(caller.tenant, request_id)
            raise
        await self._complete(caller, request_id, response)
        self._outcome("created")
        campaign = campaign_of(response)
        await self._remember(caller, campaign)
        return campaign

    async def _matches(
        self, caller: Caller, body: dict[str, Any], timeout: float | None
    ) -> list[Campaign]:
        """The one campaign that may be the request's (empty: none); several, or an
        upstream that cannot be asked, leave the outcome unknown."""
        store = self._db.idempotency
        try:
            matches = await find_matches(self._client, store, caller, body, timeout=timeout)
        except UpstreamError as exc:
            self._outcome("unknown")
            raise errors.CreateOutcomeUnknown(
                "an earlier create with this request_id may or may not have reached the Revox "
                f"API, and the gateway could not look for it there now ({exc.message}); retry "
                "later with the same request_id", retry_after=1.0,
            ) from exc
        if len(matches) > 1:
            self._outcome("unknown")
            ids = sorted(str(c["id"]) for c in matches)
            raise errors.CreateOutcomeUnknown(
                "an earlier create with this request_id may have reached the Revox API, and "
                f"{len(ids)} campaigns match it ({', '.join(ids)}); check them (ErrorInfo "
                "metadata candidate_campaign_ids) and create again with a new request_id "
                "only if none is yours", candidates=ids,
            )
        return matches

    async def _reconcile(
        self, caller: Caller, body: dict[str, Any], request_id: str, begin: OutcomeUnknown,
        timeout: float | None,
    ) -> Campaign | None:
        """The campaign found for an unknown attempt, or None when the retry may begin
        again (the attempt is released, or another retry ended it)."""
        store = self._db.idempotency
        matches = await self._matches(caller, body, timeout)
        if matches:
            found = matches[0]
            response = {"campaign": found}
            if not await store.settle_unknown(caller.tenant, request_id, begin.pending_since,
                                              response):
                return None
            self._outcome("reconciled")
            await self._remember(caller, found)
            return found
        if await store.release_unknown(caller.tenant, request_id, begin.pending_since,
                                       grace=self._grace):
            return None
        # step-proof (the store's Ages): a wall clock stepped back must not say "wait 3 h"
        left = store.grace_left(caller.tenant, request_id, begin.pending_since, grace=self._grace)
        if left <= 0:
            return None  # another retry released or ended it meanwhile
        self._outcome("unknown")
        raise errors.CreateOutcomeUnknown(
            "an earlier create with this request_id may or may not have reached the Revox API "
            "and is not there yet; retry with the same request_id after the grace window "
            f"({left:.0f} s): then the gateway creates it if it is still not there",
            retry_after=left,
        )


def campaign_of(response: dict[str, Any]) -> Campaign:
    campaign = response.get("campaign")
    if not isinstance(campaign, dict):
        raise MalformedResponse("response has no 'campaign' object", status=200)
    return campaign


def definitely_not_created(exc: BaseException) -> bool:
    """True when the upstream certainly did not create the campaign.

    A 4xx answer, a request refused before sending, and a refused connection
    mean nothing was created. A 5xx
    answer is the upstream saying it failed; it is taken at its word, so the
    caller may retry with the same request_id. A timeout, a dropped connection
    after sending, a malformed 2xx or a cancellation leave the outcome
    unknown: the request_id stays reserved rather than risk calling the
    contact list twice.
    """
    if isinstance(exc, UpstreamStatusError):
        return True
    if isinstance(exc, UpstreamUnavailable):
        return not exc.maybe_sent
    return not isinstance(exc, UpstreamError | asyncio.CancelledError) and isinstance(exc, Exception)
