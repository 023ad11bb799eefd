"""The gateway's use cases, free of transport: what each rpc does with the
upstream client and the store. The rpc layer validates, authenticates and
renders; this layer decides."""

from __future__ import annotations

from ._caller import Caller
from ._campaigns import CacheState, CampaignRead, Campaigns, request_hash
from ._rows import RowsPage

__all__ = ["CacheState", "Caller", "CampaignRead", "Campaigns", "RowsPage", "request_hash"]
