"""Looking upstream for the campaign of a create whose outcome is unknown.

When a create's answer was lost (the gateway crashed, the connection dropped, the answer
was unreadable), the campaign may or may not exist upstream. On the caller's retry with
the same ``request_id`` the gateway lists the caller's campaigns and looks for one with
the request's *fingerprint*:

* the same ``assistant_id`` and ``name``, and as many rows (``row_stats.total``) as the
  request has contacts, then
* the same first and last numbers (rows 0 and ``total - 1``, one ``page_size=1`` read
  each, compared by their digits: the upstream may format a number its own way; an
  unpaged answer holds every row and is indexed instead),
* and not already the answer of another ``request_id`` of the same tenant.

No creation-time filter: the upstream's clock is not the gateway's (the simulator runs a
simulated clock, at any speed), so "created after the attempt started" cannot be checked
soundly from ``created_at``. The cost is that an identical campaign created by other means
(without a request_id, or by a request_id forgotten after its 24 h retention) is taken
for this attempt's; the candidate ids of an ambiguous match are returned to the caller.
"""

from __future__ import annotations

import re
from typing import Any

from ..store import IdempotencyStore
from ..upstream import RevoxClient, unpaged
from ._caller import Caller

__all__ = ["find_matches"]

_NOT_DIGIT = re.compile(r"\D")


async def find_matches(
    client: RevoxClient, store: IdempotencyStore, caller: Caller, body: dict[str, Any],
    *, timeout: float | None,
) -> list[dict[str, Any]]:
    """The caller's campaigns upstream that ``body`` may have created (see module)."""
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        return []
    listed = (await client.list_campaigns(caller.api_key, timeout=timeout)).get("campaigns")
    summary = [
        c for c in (listed if isinstance(listed, list) else [])
        if isinstance(c, dict) and isinstance(c.get("id"), str)
        and _same_summary(c, body, len(contacts))
    ]
    if not summary:
        return []
    taken = await store.answered(caller.tenant, [c["id"] for c in summary])
    ends = (_digits(contacts[0].get("to_phone_number")), _digits(contacts[-1].get("to_phone_number")))
    matches = []
    for campaign in summary:
        if campaign["id"] in taken:
            continue
        if await _ends(client, caller, campaign["id"], len(contacts), timeout) == ends:
            matches.append(campaign)
    return matches


def _same_summary(campaign: dict[str, Any], body: dict[str, Any], total: int) -> bool:
    stats = campaign.get("row_stats")
    return (
        campaign.get("assistant_id") == body.get("assistant_id")
        and campaign.get("name") == body.get("name")
        and isinstance(stats, dict)
        and stats.get("total") == total
    )


async def _ends(
    client: RevoxClient, caller: Caller, campaign_id: str, total: int, timeout: float | None
) -> tuple[str, str]:
    async def number(index: int) -> str:
        page = await client.get_rows(caller.api_key, campaign_id, page=index, page_size=1,
                                     timeout=timeout)
        rows = page.get("rows")
        if not isinstance(rows, list):
            return ""
        if unpaged(page) and len(rows) > 1:
            rows = rows[index:index + 1]  # unpaged (SDK 0.5.0): every row, page_size ignored
        if not rows or not isinstance(rows[0], dict):
            return ""
        return _digits(rows[0].get("phone_number"))

    return await number(0), await number(total - 1)


def _digits(number: object) -> str:
    return _NOT_DIGIT.sub("", number) if isinstance(number, str) else ""
