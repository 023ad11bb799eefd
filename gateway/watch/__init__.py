"""WatchCampaignRows: an etcd/Kubernetes-style watch over polled campaign rows.

``WatchHub`` owns one poller per watched campaign, commits each poll's
changes to the durable change log (``gateway.store.ChangeLog``) and fans the
revisions out to subscribers, each resumable by a signed token.
"""

from __future__ import annotations

from ._filter import RowFilter
from ._hub import WatchHub
from ._token import Position, TokenCodec

__all__ = ["Position", "RowFilter", "TokenCodec", "WatchHub"]
