"""The compiled decoder builds exactly what the descriptor walk built.

``_reference`` is the generic walk the gateway used before; every sample, and
every sample with one value swapped for something the contract does not
expect, must decode to the same bytes (or fail the same way) through both.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from gateway.convert import decode, encode
from gateway.convert._timestamps import rfc3339
from generated.revox.campaigns.v1 import (
    assistant_pb2,
    campaign_pb2,
    campaign_service_pb2,
    row_pb2,
)

from . import _reference, samples

SAMPLES: list[tuple[str, Any, type[Message]]] = [
    ("campaign", samples.campaign, campaign_pb2.Campaign),
    ("drifted_campaign", samples.drifted_campaign, campaign_pb2.Campaign),
    ("row", samples.row, row_pb2.Row),
    ("drifted_row", samples.drifted_row, row_pb2.Row),
    ("rows_page", samples.rows_page, campaign_service_pb2.ListCampaignRowsResponse),
    ("assistant", samples.assistant, assistant_pb2.Assistant),
    ("assistant_openrouter", lambda: samples.assistant(openrouter=True), assistant_pb2.Assistant),
    ("list", lambda: {"campaigns": [samples.campaign(), samples.drifted_campaign()]},
     campaign_service_pb2.ListCampaignsResponse),
]

# Values the contract never promised: wrong types, nulls, out-of-range numbers,
# timestamps of every shape, empty and odd containers.
ODD: list[Any] = [
    None, "", "x", "running", "openrouter", "dedicated-instance", 0, -1, 7, 1.5, 2.0,
    2**31, -(2**31) - 1, 2**63, 10**400, 1e300, float("inf"), float("nan"), True, False,
    [], [1], ["a", "b"], [None], [{}], [{"id": "x"}, 3], {}, {"k": 1}, {"k": "v"},
    {"type": "openrouter", "openrouter_model_id": 3}, {"type": None, "name": "gpt-4.1"},
    "2026-11-27T08:10:44Z", "2026-11-27T08:10:44.123456789+05:30", "2026-11-27 08:10:44Z",
    "2026-02-30T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
    "2026-11-27T24:00:00Z", "2026-11-27T08:10:60Z", "2026-11-27T08:10:44.1234567890Z",
    "1970-01-01T00:00:00Z", "2026-11-27t08:10:44Z", "2026-11-27T08:10:44z",
    "2026-11-27T08:10:44", "2026-11-27 08:10:44.5", "2026-11-27T08:10:44+0530",
    "2026-11-27T08:10", "2026-11-27", "2026-11-27T08:10:44+5",
]


def _outcome(decoder: Any, obj: Any, cls: type[Message]) -> tuple[str, Any]:
    try:
        return "ok", decoder(obj, cls).SerializeToString(deterministic=True)
    except Exception as exc:  # noqa: BLE001 - both must fail alike, if at all
        return "raised", type(exc)


def _assert_same(obj: Any, cls: type[Message]) -> None:
    compiled = _outcome(decode, obj, cls)  # neither decoder mutates its input
    reference = _outcome(_reference.decode, obj, cls)
    assert compiled == reference, obj


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _replaced(obj: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(obj)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


@pytest.mark.parametrize(("name", "make", "cls"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_sample_decodes_the_same(name: str, make: Any, cls: type[Message]) -> None:
    obj = make()
    _assert_same(obj, cls)
    assert decode(obj, cls) == _reference.decode(obj, cls)


# rows_page and list only repeat row and campaign: left out to keep the run short.
ODD_SAMPLES = [s for s in SAMPLES if s[0] not in ("rows_page", "list")]


@pytest.mark.parametrize(("name", "make", "cls"), ODD_SAMPLES, ids=[s[0] for s in ODD_SAMPLES])
def test_every_odd_value_anywhere_decodes_the_same(name: str, make: Any, cls: type[Message]) -> None:
    obj = make()
    rng = random.Random(name)
    paths = list(_paths(obj))
    for path in paths:
        # Every path gets a seeded sample of the odd values (all of them is ~8× slower).
        for new in rng.sample(ODD, 6):
            _assert_same(_replaced(obj, path, new), cls)
    for path in paths:
        parent = _replaced(obj, path, None)
        target = parent
        for step in path[:-1]:
            target = target[step]
        if isinstance(target, dict):
            del target[path[-1]]  # absent
            _assert_same(parent, cls)
            target["zz_newer_field"] = {"a": [1, None]}  # unknown key at this level
            _assert_same(parent, cls)


@pytest.mark.parametrize(
    "llm",
    [
        {},
        {"type": "openrouter"},
        {"openrouter_model_id": "m", "type": "openrouter"},  # `type` after its variant's keys
        {"type": "openrouter", "openrouter_model_id": None, "openrouter_provider": 3},
        {"type": "dedicated-instance", "name": "gpt-5"},
        {"type": "dedicated-instance", "name": None, "extra": 1},
        {"type": 3, "name": "gpt-4.1"},
        {"type": None, "name": "gpt-4.1"},
        {"type": "", "name": "gpt-4.1"},
        {"type": "realtime", "type_": "x", "extra_fields": {"a": 1}},
    ],
)
def test_llm_model_unions_decode_the_same(llm: dict[str, Any]) -> None:
    _assert_same(llm, assistant_pb2.LlmModel)
    _assert_same({**samples.assistant(), "llm_model": llm}, assistant_pb2.Assistant)


@pytest.mark.parametrize("args", [{"q": 1}, {}, "text", "", 3, None, [1], True])
def test_tool_arguments_decode_the_same(args: Any) -> None:
    _assert_same({"role": "tool", "tool_arguments": args, "content": "c"}, row_pb2.TranscriptEntry)
    _assert_same({"tool_arguments_text": "t", "tool_arguments_object": {}}, row_pb2.TranscriptEntry)


@pytest.mark.parametrize(("name", "make", "cls"), SAMPLES[:5], ids=[s[0] for s in SAMPLES[:5]])
def test_round_trip_through_the_compiled_decoder(name: str, make: Any, cls: type[Message]) -> None:
    once = encode(decode(make(), cls))
    assert encode(decode(once, cls)) == once


def test_fast_timestamps_match_from_json_string() -> None:
    rng = random.Random(4)
    texts = [
        "2026-11-27T08:10:44.123Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00+14:00", "2023-02-29T12:00:00Z",
        "2026-11-27T08:10:44.5-23:59", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
    ]
    for _ in range(3000):
        frac = "" if rng.random() < 0.3 else "." + "".join(rng.choices("0123456789", k=rng.randint(1, 9)))
        zone = "Z" if rng.random() < 0.4 else f"{rng.choice('+-')}{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}"
        texts.append(
            f"{rng.randint(1, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
            f"T{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}{frac}{zone}"
        )
    fast_count = 0
    for text in texts:
        fast = rfc3339(text)
        if fast is None:
            continue  # left to FromJsonString itself
        fast_count += 1
        slow = timestamp_pb2.Timestamp()
        slow.FromJsonString(text)  # must not raise where the fast path answered
        assert fast == (slow.seconds, slow.nanos), text
    assert fast_count > 500
