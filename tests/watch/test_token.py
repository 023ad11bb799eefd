"""Resume tokens: what verifies, what is refused, and that nothing malformed gets through
even when it carries a valid signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from gateway.errors import ResumeTokenInvalid
from gateway.watch import Position, TokenCodec

KEY = b"k" * 32
FORGED = "resume_token is forged or malformed"


def _signed(payload: object) -> str:
    """A token whose signature is valid for any JSON ``payload`` (what a key holder could mint)."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    tag = hmac.new(KEY, raw, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(raw + tag).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "pos",
    [Position(0), Position(0, 3), Position(7, -1, ""), Position(12, 4, "row_9"), Position(2**40, 0, "r" * 41)],
)
def test_every_position_round_trips_without_padding(pos: Position) -> None:
    codec = TokenCodec(KEY)
    token = codec.encode("epoch-1", "cmp_1", "fp", pos)
    assert "=" not in token
    data = codec.decode(token)
    assert (data.epoch, data.campaign_id, data.fingerprint, data.position) == ("epoch-1", "cmp_1", "fp", pos)


def test_tokens_of_every_length_modulo_four_decode() -> None:
    codec = TokenCodec(KEY)
    lengths = set()
    for n in range(8):
        token = codec.encode("e", "c" * n, "fp", Position(1))
        lengths.add(len(token) % 4)
        assert codec.decode(token).campaign_id == "c" * n
    assert len(lengths) >= 3  # unpadded base64 comes in three lengths


@pytest.mark.parametrize(
    "payload",
    [
        [2, "e", "c", "fp", 1, -1, None],  # another version
        [1, 5, "c", "fp", 1, -1, None],  # epoch not a string
        [1, "e", 5, "fp", 1, -1, None],  # campaign not a string
        [1, "e", "c", 5, 1, -1, None],  # fingerprint not a string
        [1, "e", "c", "fp", 1.0, -1, None],  # revision not an int
        [1, "e", "c", "fp", True, -1, None],  # bool is no revision
        [1, "e", "c", "fp", 1, 0.5, None],  # seq not an int
        [1, "e", "c", "fp", -1, -1, None],  # negative revision
        [1, "e", "c", "fp", 1, -2, None],  # seq below COMPLETE
        [1, "e", "c", "fp", 1, -1, 5],  # after_row not a string
        [1, "e", "c", "fp", 1, -1],  # a field missing
        {"v": 1},  # not a list
        "text",
    ],
)
def test_a_signed_but_malformed_payload_is_refused(payload: object) -> None:
    with pytest.raises(ResumeTokenInvalid) as info:
        TokenCodec(KEY).decode(_signed(payload))
    assert info.value.message == FORGED


def test_a_signed_payload_with_the_right_shape_is_accepted() -> None:
    data = TokenCodec(KEY).decode(_signed([1, "e", "c", "fp", 0, -1, None]))
    assert data.position == Position(0, -1, None)


@pytest.mark.parametrize("size", [0, 1, 15, 16])
def test_a_token_no_longer_than_its_tag_is_refused(size: int) -> None:
    token = base64.urlsafe_b64encode(b"x" * size).rstrip(b"=").decode()
    with pytest.raises(ResumeTokenInvalid) as info:
        TokenCodec(KEY).decode(token)
    assert info.value.message == FORGED


@pytest.mark.parametrize("token", ["not base64 at all!", "é", "a", "YQ", "=" * 8])
def test_undecodable_text_is_refused(token: str) -> None:
    with pytest.raises(ResumeTokenInvalid) as info:
        TokenCodec(KEY).decode(token)
    assert info.value.message == FORGED


def test_another_key_or_a_flipped_bit_is_refused() -> None:
    token = TokenCodec(KEY).encode("e", "c", "fp", Position(3))
    with pytest.raises(ResumeTokenInvalid):
        TokenCodec(b"other" * 8).decode(token)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[3] ^= 1
    with pytest.raises(ResumeTokenInvalid):
        TokenCodec(KEY).decode(base64.urlsafe_b64encode(bytes(raw)).decode())


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenCodec(b"")
