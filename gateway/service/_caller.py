"""Who is calling: the API key to forward and the tenant it maps to."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller's credentials. ``tenant`` is a keyed hash of ``api_key``; only it
    is ever stored. ``repr`` hides the key so it cannot reach a log by accident."""

    api_key: str
    tenant: str

    def __repr__(self) -> str:
        return f"Caller(tenant={self.tenant[:8]}…)"
