"""A wall-clock step (forward or back by hours) while the gateway runs changes no age
the idempotency store decides by: the reconcile grace is neither cut short (a retry
would create a campaign the upstream may still be committing: a duplicate) nor
stretched by hours (a request_id stuck), and ``pending_timeout`` does not fire early.
Both backends; the wall clock and the monotonic clock are injected separately."""

from __future__ import annotations

from gateway.store import Database, OutcomeUnknown, Started

T = "tenant-a"
HOURS = 3 * 3600.0


class SteppingClock:
    """A wall clock that can step (``now``) beside a monotonic one that only moves
    forward as time passes (``elapse``)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.mono = 100.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def elapse(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


async def _lost(db: Database, request_id: str) -> OutcomeUnknown:
    """An attempt whose outcome is unknown (POST sent, answer lost)."""
    store = db.idempotency
    assert await store.begin(T, request_id, "h") == Started()
    store.abandon(T, request_id)
    begin = await store.begin(T, request_id, "h")
    assert isinstance(begin, OutcomeUnknown)
    return begin


async def test_a_step_forward_does_not_cut_the_grace_window_short(db_url: str) -> None:
    clock = SteppingClock()
    async with Database(db_url, clock=clock) as db:
        store = db.idempotency
        begin = await _lost(db, "r1")
        clock.elapse(30)
        clock.now += HOURS  # the wall says the attempt is hours old; it is 30 s old
        assert not await store.release_unknown(T, "r1", begin.pending_since, grace=120)
        assert store.grace_left(T, "r1", begin.pending_since, grace=120) == 90
        clock.elapse(90)
        assert await store.release_unknown(T, "r1", begin.pending_since, grace=120)


async def test_a_step_back_does_not_hold_a_request_id_for_hours(db_url: str) -> None:
    clock = SteppingClock()
    async with Database(db_url, clock=clock) as db:
        store = db.idempotency
        begin = await _lost(db, "r1")
        clock.now -= HOURS  # the attempt now looks hours in the future
        clock.elapse(60)
        assert store.grace_left(T, "r1", begin.pending_since, grace=120) == 60
        assert not await store.release_unknown(T, "r1", begin.pending_since, grace=120)
        clock.elapse(60)
        assert await store.release_unknown(T, "r1", begin.pending_since, grace=120)
        assert await store.begin(T, "r1", "h") == Started()


async def test_a_step_forward_does_not_take_over_a_pending_row(db_url: str) -> None:
    clock = SteppingClock()
    async with Database(db_url, clock=clock, pending_timeout=600) as db:
        await _lost(db, "r1")
        clock.now += HOURS
        assert isinstance(await db.idempotency.begin(T, "r1", "h"), OutcomeUnknown)
        clock.elapse(600)  # really 10 minutes old now
        assert await db.idempotency.begin(T, "r1", "h") == Started(recovered=True)


async def test_after_a_restart_the_wall_clock_age_is_believed_once(db_url: str) -> None:
    """A row an earlier process left is as old as the wall clock says when first seen,
    and from then on ages on the monotonic clock."""
    clock = SteppingClock()
    async with Database(db_url, clock=clock) as db:
        begin = await _lost(db, "r1")
    clock.elapse(100)
    async with Database(db_url, clock=clock) as db:
        store = db.idempotency
        assert store.grace_left(T, "r1", begin.pending_since, grace=120) == 20
        clock.now -= HOURS  # a step after the first sight changes nothing
        clock.elapse(20)
        assert await store.release_unknown(T, "r1", begin.pending_since, grace=120)
