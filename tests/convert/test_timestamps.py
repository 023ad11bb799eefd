"""Upstream timestamp shapes the reference leaves open (docs/upstream.md): each is read as
the instant it names, never dropped into extra_fields when it names one."""

from __future__ import annotations

import pytest

from gateway.convert import decode
from generated.revox.campaigns.v1 import campaign_pb2

INSTANT = (1795767044, 0)  # 2026-11-27T08:10:44Z


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T08:10:44Z", INSTANT),
    ("2026-11-27T08:10:44.123Z", (1795767044, 123_000_000)),
    ("2026-11-27T08:10:44.123456789Z", (1795767044, 123_456_789)),
    ("2026-11-27T08:10:44", INSTANT),  # no zone: UTC
    ("2026-11-27T08:10:44.5", (1795767044, 500_000_000)),
    ("2026-11-27 08:10:44Z", INSTANT),
    ("2026-11-27t08:10:44z", INSTANT),
    ("2026-11-27T10:10:44+02:00", INSTANT),
    ("2026-11-27T10:10:44+0200", INSTANT),
    ("2026-11-27T03:10:44-05:00", INSTANT),
])
def test_a_timestamp_in_any_common_shape_is_the_same_instant(
    text: object, expected: tuple[int, int]
) -> None:
    campaign = decode({"id": "cmp_1", "created_at": text}, campaign_pb2.Campaign)
    assert (campaign.created_at.seconds, campaign.created_at.nanos) == expected
    assert "created_at" not in campaign.extra_fields


@pytest.mark.parametrize("odd", ["yesterday", "2026-13-40T00:00:00Z", 1795767044, True, {"at": 1}])
def test_what_is_no_instant_is_kept_verbatim(odd: object) -> None:
    campaign = decode({"id": "cmp_1", "created_at": odd}, campaign_pb2.Campaign)
    assert not campaign.HasField("created_at")
    assert campaign.extra_fields["created_at"] == odd
