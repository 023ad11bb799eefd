"""In-memory state, partitioned by organization (one per API key, unless a key was added to
another key's organization with :meth:`Store.add_key`).

Ids are derived from ``sha256(seed, counter)`` so a seeded run produces the same ids. An
unseeded simulator draws a random seed per start, and a state file carries ``counter`` over
restarts, so ids are never handed out twice (even with a fixed seed) while the file lives.
Row, call and attempt ids share the row's suffix (``row_X`` / ``call_X`` / ``att_X01``),
which makes creating 100,000 rows a cheap loop.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._clock import format_ts
from ._content import DEFAULT_RETRY_CONFIG, invent_assistant
from ._model import Campaign, Row
from ._validation import CreateRequest, RowsQuery, windows_from_config
from ._windows import WindowSet

__all__ = ["Organization", "Store", "org_id_for_key", "public_status"]


def org_id_for_key(api_key: str) -> str:
    # Never echo the key: a short stable hash identifies the tenant.
    return "org_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def public_status(row: Row, drift: bool, renamed: Mapping[str, str] | None = None) -> str:
    """The call status as rendered: 0.1.1 has no post_processing / not_launched.

    ``renamed`` (drift only) maps a drifted literal to the one rendered instead.
    """
    status = row.status
    if drift:
        if status == "cancelled" and not row.attempts:
            status = "not_launched"
        return renamed.get(status, status) if renamed else status
    return "calling" if status == "post_processing" else status


@dataclass
class Organization:
    id: str
    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)


class Store:
    def __init__(self, *, seed: int, default_cap: int, webhook_url: str | None) -> None:
        self.seed = seed
        self.default_cap = default_cap
        self.webhook_url = webhook_url
        self.orgs: dict[str, Organization] = {}
        self.key_orgs: dict[str, str] = {}  # keys added to another key's organization
        self.revoked: set[str] = set()
        self.counter = 0  # ids issued so far (restored from a state file)

    def _new_hex(self, kind: str) -> str:
        self.counter += 1
        return hashlib.sha256(f"{self.seed}:{kind}:{self.counter}".encode()).hexdigest()[:16]

    def add_key(self, api_key: str, organization_of: str) -> None:
        """``api_key`` becomes another key of ``organization_of``'s organization."""
        org_id = org_id_for_key(api_key)
        if org_id in self.orgs or api_key in self.key_orgs:
            raise ValueError("that API key already belongs to an organization")
        self.key_orgs[api_key] = self.org(organization_of).id

    def org(self, api_key: str) -> Organization:
        org_id = self.key_orgs.get(api_key) or org_id_for_key(api_key)
        org = self.orgs.get(org_id)
        if org is None:
            org = self.orgs[org_id] = Organization(org_id)
        return org

    def assistant(self, org: Organization, assistant_id: str, now: float) -> dict[str, Any]:
        assistant = org.assistants.get(assistant_id)
        if assistant is None:
            assistant = invent_assistant(assistant_id, org.id, format_ts(now), self.webhook_url)
            org.assistants[assistant_id] = assistant
        return assistant

    def create(self, org: Organization, req: CreateRequest, now: float) -> Campaign:
        assistant = self.assistant(org, req.assistant_id, now)
        effective = req.call_retry_config or assistant["call_retry_config"] or DEFAULT_RETRY_CONFIG
        hexid = self._new_hex("cmp")
        campaign = Campaign(
            id="cmp_" + hexid,
            org_id=org.id,
            name=req.name,
            assistant=assistant,
            retry_config=req.call_retry_config,
            effective_retry=effective,
            windows=WindowSet(windows_from_config(effective)),
            tz_override=effective.get("timezone"),
            from_phone_number=req.from_phone_number,
            max_concurrent_calls=req.max_concurrent_calls,
            cap=req.max_concurrent_calls or self.default_cap,
            scheduled_at=req.scheduled_at,
            created_at=now,
            updated_at=now,
            seq=self.counter,
        )
        prefix = "row_" + hexid
        rows = [
            Row(i, f"{prefix}{i:06x}", phone, variables, now)
            for i, (phone, variables) in enumerate(req.contacts)
        ]
        campaign.rows = rows
        campaign.counts = {("initializing", False): len(rows)}
        org.campaigns[campaign.id] = campaign
        return campaign

    def get(self, org: Organization, campaign_id: str) -> Campaign | None:
        campaign = org.campaigns.get(campaign_id)
        return None if campaign is None or campaign.deleted else campaign

    def list(self, org: Organization) -> list[Campaign]:
        return sorted(org.campaigns.values(), key=lambda c: c.seq, reverse=True)

    def delete(self, org: Organization, campaign: Campaign) -> None:
        campaign.deleted = True
        campaign.queue.clear()
        org.campaigns.pop(campaign.id, None)

    @staticmethod
    def select_rows(campaign: Campaign, q: RowsQuery, drift: bool,
                    renamed: Mapping[str, str] | None = None) -> tuple[builtins.list[Row], int]:
        """The requested page and the filtered total (statuses as ``public_status`` renders).

        Without filters this slices the row list (O(page_size)); filters scan the rows.
        """
        rows = campaign.rows
        # index -1: before the first page (page 0 when pages count from 1): no rows, the total.
        start = max(0, q.index) * q.page_size
        size = q.page_size if q.index >= 0 else 0
        if q.query is None and q.result is None and q.statuses is None:
            return rows[start:start + size], len(rows)
        needle, result, statuses = q.query, q.result, q.statuses
        matched: list[Row] = []
        for row in rows:
            if statuses is not None and public_status(row, drift, renamed) not in statuses:
                continue
            if result is not None:
                last = row.attempts[-1].result if row.attempts else None
                if result == "none":
                    if last is not None:
                        continue
                elif last != result:
                    continue
            if needle is not None and needle not in row.search_text():
                continue
            matched.append(row)
        return matched[start:start + size], len(matched)
