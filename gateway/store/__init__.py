"""Persistence layer of the gateway: SQLite (WAL) through SQLAlchemy async.

One :class:`Database` gives access to every repository::

    async with Database(sqlite_url("gateway.db"), tenant_secret=env_secret) as db:
        tenant = db.tenants.tenant_of(api_key)
        cached = await db.campaigns.get(tenant, campaign_id)

Nothing here imports transport code (grpc, protobuf, httpx).
"""

from __future__ import annotations

from ._campaigns import CachedCampaign, CachedList, CampaignCache, is_fresh
from ._changelog import (
    Change,
    ChangeKind,
    ChangeLog,
    CommitResult,
    Extractor,
    RevisionAhead,
    RevisionCompacted,
    Snapshot,
    WatchState,
    default_extractor,
)
from ._engine import Database, SchemaTooNew, open_database, sqlite_url
from ._idempotency import (
    Begin,
    IdempotencyStore,
    InFlight,
    Mismatch,
    OutcomeUnknown,
    Replay,
    Started,
)
from ._incarnation import incarnation_of
from ._schema import LATEST_VERSION
from ._tenancy import TenantHasher
from ._watch_diff import PollDiff

__all__ = [
    "LATEST_VERSION",
    "Begin",
    "CachedCampaign",
    "CachedList",
    "CampaignCache",
    "Change",
    "ChangeKind",
    "ChangeLog",
    "CommitResult",
    "Database",
    "Extractor",
    "IdempotencyStore",
    "InFlight",
    "Mismatch",
    "OutcomeUnknown",
    "PollDiff",
    "Replay",
    "RevisionAhead",
    "RevisionCompacted",
    "SchemaTooNew",
    "Snapshot",
    "Started",
    "TenantHasher",
    "WatchState",
    "default_extractor",
    "incarnation_of",
    "is_fresh",
    "open_database",
    "sqlite_url",
]
