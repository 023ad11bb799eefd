"""Every gateway of these tests serves its operator port (``/metrics``, ``/healthz``) on a
free port."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, metrics_listen="127.0.0.1:0")
