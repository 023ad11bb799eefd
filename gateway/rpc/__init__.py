"""The gRPC transport: servicer, validation, auth, status mapping, server.

- ``Gateway`` / ``serve``: the process (``_server``).
- ``CampaignServicer``: one method per rpc (``_servicer``).
- ``status_for``: every error → google.rpc.Status (``_status``).
"""

from __future__ import annotations

from ._server import Gateway, serve
from ._servicer import CampaignServicer
from ._status import DOMAIN, status_for

__all__ = ["DOMAIN", "CampaignServicer", "Gateway", "serve", "status_for"]
