"""Persistence layer of the gateway: SQLite (WAL) or PostgreSQL through SQLAlchemy async.

One :class:`Database` gives access to every repository, with the same meaning on
both backends (``sqlite+aiosqlite:///path`` for one process, ``postgresql+asyncpg://``
for replicas sharing a database)::

    async with Database(sqlite_url("gateway.db"), tenant_secret=env_secret) as db:
        tenant = db.tenants.tenant_of(api_key)
        cached = await db.campaigns.get(tenant, campaign_id)

The schema is created and upgraded by the Alembic history in ``migrations/`` at
start-up (``Database(url, migrate=False)`` only checks it) or by ``migrate(url)``.

Nothing here imports transport code (grpc, protobuf, httpx).
"""

from __future__ import annotations

from ._campaigns import CachedCampaign, CachedList, CampaignCache, is_fresh
from ._changelog import (
    NOTIFY_CHANNEL,
    Change,
    ChangeKind,
    ChangeLog,
    CommitResult,
    Extractor,
    LeaseLost,
    RevisionAhead,
    RevisionCompacted,
    Snapshot,
    WatchLease,
    WatchState,
    default_extractor,
)
from ._connect import normalize_url, sqlite_url
from ._engine import Database, migrate, open_database
from ._error_count import DATABASE_ERROR_KINDS, DatabaseErrors
from ._errors import (
    DatabaseUnavailable,
    MigrationFailed,
    SchemaOutdated,
    SchemaTooNew,
    display_url,
)
from ._idempotency import (
    Begin,
    IdempotencyStore,
    InFlight,
    Mismatch,
    OutcomeUnknown,
    Replay,
    Started,
)
from ._incarnation import incarnation_of, incarnation_of_answer
from ._migrate import head_revision
from ._tenancy import TenantHasher
from ._watch_diff import PollDiff

__all__ = [
    "DATABASE_ERROR_KINDS",
    "NOTIFY_CHANNEL",
    "Begin",
    "CachedCampaign",
    "CachedList",
    "CampaignCache",
    "Change",
    "ChangeKind",
    "ChangeLog",
    "CommitResult",
    "Database",
    "DatabaseErrors",
    "DatabaseUnavailable",
    "Extractor",
    "IdempotencyStore",
    "InFlight",
    "LeaseLost",
    "MigrationFailed",
    "Mismatch",
    "OutcomeUnknown",
    "PollDiff",
    "Replay",
    "RevisionAhead",
    "RevisionCompacted",
    "SchemaOutdated",
    "SchemaTooNew",
    "Snapshot",
    "Started",
    "TenantHasher",
    "WatchLease",
    "WatchState",
    "default_extractor",
    "display_url",
    "head_revision",
    "incarnation_of",
    "incarnation_of_answer",
    "is_fresh",
    "migrate",
    "normalize_url",
    "open_database",
    "sqlite_url",
]
