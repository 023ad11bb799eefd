"""Shared fixtures: a real simulator, a real gateway on port 0, a real channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from .support import Bystander, simulator


@pytest.fixture
def page_base() -> int:
    """The simulator's first page number; a module that must hold in both overrides it with
    ``@pytest.fixture(params=[0, 1])`` (the gateway learns it, see upstream/_paging)."""
    return 0


@pytest.fixture
async def upstream(page_base: int) -> AsyncIterator[Simulator]:
    async with simulator(seed=7, page_base=page_base) as sim:
        yield sim


@pytest.fixture
def settings(tmp_path: Path, upstream: Simulator) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        upstream_url=upstream.base_url,
        database_url=sqlite_url(tmp_path / "gateway.db"),
        cache_ttl=30.0,
        shutdown_grace=2.0,
        upstream_timeout=5.0,
        poll_interval=0.05,
        max_poll_interval=0.2,
        linger_seconds=0.2,
    )


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    async with Gateway(settings) as gw:
        yield gw


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.address) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> campaign_service_pb2_grpc.CampaignServiceStub:
    return campaign_service_pb2_grpc.CampaignServiceStub(channel)


@pytest.fixture
def start_gateway(settings: Settings) -> Callable[..., Any]:
    """Start another gateway on the same database (restarts), with overrides."""

    def start(**overrides: Any) -> Gateway:
        return Gateway(replace(settings, **overrides))

    return start


@pytest.fixture
async def bob(stub: campaign_service_pb2_grpc.CampaignServiceStub) -> Bystander:
    return await Bystander(stub).join()
