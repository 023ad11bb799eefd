"""Reading the gateway's operator port from tests: a scrape of ``/metrics`` parsed into
samples, ``/healthz`` as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.app import Gateway

__all__ = ["Scrape", "healthz", "scrape"]


@dataclass(frozen=True)
class Scrape:
    families: dict[str, str]  # family name -> type
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(s.value for s in self.samples
                   if s.name == name and labels.items() <= s.labels.items())

    def label_values(self) -> set[str]:
        return {v for s in self.samples for v in s.labels.values()}

    def labelled(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


def _base(gateway: Gateway) -> str:
    assert gateway.metrics_address is not None, "the gateway serves no metrics port"
    return f"http://{gateway.metrics_address}"


async def scrape(gateway: Gateway) -> Scrape:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        response = await client.get(f"{_base(gateway)}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.text))
    return Scrape({f.name: f.type for f in families}, [s for f in families for s in f.samples])


async def healthz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        response = await client.get(f"{_base(gateway)}/healthz")
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, response.json()
