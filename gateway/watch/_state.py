"""CampaignState: what the hub knows about one watched campaign, shared by its
poller (which publishes revisions and health into it) and its streams (which
read it and wait on their mailboxes)."""

from __future__ import annotations

import asyncio

from ._events import Batch, Mailbox

__all__ = ["CampaignState"]


class CampaignState:
    """What the hub knows about one watched campaign (shared by poller and streams)."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        self.mailboxes: set[Mailbox] = set()
        self.keys: dict[str, int] = {}  # admitted api keys -> number of subscribers
        self.bad_keys: set[str] = set()
        self.ready = asyncio.Event()  # a poll succeeded in this process (or campaign final)
        self.degraded = False
        self.detail = ""
        self.last_poll_time: float | None = None
        self.final = False
        self.revision = 0
        self.task: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.wake = asyncio.Event()  # poll now (webhook) / read the log now (doorbell)
        self.polling = False  # this process holds the poller lease and polls (_replica)
        self.lease_held = False  # this process holds the poller lease (metrics)
        self.lease_released = False  # the poller lease's holder said it let go (doorbell)
        self.incarnation: str | None = None  # store.incarnation_of the watched campaign
        self.recreated = False  # its poller saw another incarnation behind the id

    def add_key(self, key: str) -> None:
        self.keys[key] = self.keys.get(key, 0) + 1
        self.bad_keys.discard(key)

    def drop_key(self, key: str) -> None:
        n = self.keys.get(key, 0) - 1
        if n <= 0:
            self.keys.pop(key, None)
        else:
            self.keys[key] = n

    def notify_all(self) -> None:
        for mb in self.mailboxes:
            mb.notify()

    def publish(self, batch: Batch) -> None:
        self.revision = batch.revision
        for mb in self.mailboxes:
            mb.push(batch)
