"""The caller's API key: ``authorization: Bearer <key>`` metadata, else the
gateway's configured key, else UNAUTHENTICATED before any upstream call."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import NoCredentials

__all__ = ["api_key_from"]


def api_key_from(metadata: Iterable[tuple[str, str | bytes]] | None, default: str | None) -> str:
    for key, value in metadata or ():
        if key != "authorization":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NoCredentials("authorization metadata must be 'Bearer <Revox API key>'")
        return token
    if default:
        return default
    raise NoCredentials(
        "no API key: send 'authorization: Bearer <Revox API key>' metadata "
        "(the gateway has no default key configured)"
    )
