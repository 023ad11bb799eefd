"""The gRPC transport: servicer, validation, auth, status mapping, server.

- ``RpcServer``: CampaignService, health and reflection on one port (``_server``).
- ``CampaignServicer``: one method per rpc (``_servicer``).
- ``status_for``: every error → google.rpc.Status (``_status``).

The process that feeds them is assembled in ``gateway.app``.
"""

from __future__ import annotations

from ._auth import api_key_from
from ._server import RpcServer
from ._servicer import CampaignServicer
from ._status import DOMAIN, status_for

__all__ = ["DOMAIN", "CampaignServicer", "RpcServer", "api_key_from", "status_for"]
