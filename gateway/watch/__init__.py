"""WatchCampaignRows: an etcd/Kubernetes-style watch over polled campaign rows.

``WatchHub`` owns one poller per watched campaign, commits each poll's
changes to the durable change log (``gateway.store.ChangeLog``) and fans the
revisions out to subscribers, each resumable by a signed token. Replicas on one
database poll each campaign once (a lease per campaign); the others follow the log,
woken by ``NotifyDoorbell`` on PostgreSQL (``_replica``).
"""

from __future__ import annotations

from ._doorbell import NotifyDoorbell
from ._filter import RowFilter
from ._hub import WatchHub
from ._token import Position, TokenCodec

__all__ = ["NotifyDoorbell", "Position", "RowFilter", "TokenCodec", "WatchHub"]
