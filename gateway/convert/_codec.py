"""Upstream JSON ⇄ contract messages, under the contract's drift rules.

``decode`` never fails on what the upstream sends: a key the contract does not
know, or a value its typed field cannot hold, goes to the message's
``extra_fields`` under its JSON name; an enum literal the contract does not
know leaves the enum at ``*_UNSPECIFIED`` with the literal in ``*_raw``.
``encode`` is the inverse: it gives back the upstream JSON, extra fields and
raw literals included, so a decode/encode round trip loses nothing.

Decoding runs a decoder compiled once per message type (``_decoder``);
encoding walks the descriptors with a per-message plan computed once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from ._decoder import decode_into
from ._layout import EXTRA, layout
from ._literals import literal_of

__all__ = ["decode", "encode", "decode_into", "struct_json"]

M = TypeVar("M", bound=Message)

_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_TIMESTAMP = "google.protobuf.Timestamp"
_F = FieldDescriptor


# ---------------------------------------------------------------- decoding


def decode(obj: Mapping[str, Any], cls: type[M]) -> M:
    """A new ``cls`` message holding the upstream JSON object ``obj``."""
    message = cls()
    decode_into(obj, message)
    return message


# ---------------------------------------------------------------- encoding


def encode(message: Message) -> dict[str, Any]:
    """The upstream JSON object that ``message`` holds."""
    desc = message.DESCRIPTOR
    plan = layout(desc)
    out: dict[str, Any] = {}
    for key, field in plan.fields.items():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            out[key] = dict(getattr(message, key))
        elif field.is_repeated:
            items = getattr(message, key)
            out[key] = [encode(i) for i in items] if field.message_type else list(items)
        elif field.enum_type is not None:
            raw = getattr(message, plan.raw[key])
            literal = raw or literal_of(field.enum_type, getattr(message, key))
            if literal is not None:
                out[key] = literal
        elif field.has_presence and not message.HasField(key):
            continue
        elif field.message_type is not None:
            out[key] = _encode_message(getattr(message, key))
        else:
            out[key] = getattr(message, key)
    hook = _ENCODE_HOOKS.get(desc.full_name)
    if hook is not None:
        hook(message, out)
    if plan.has_extra and message.HasField(EXTRA):
        out.update(_plain(MessageToDict(getattr(message, EXTRA))))
    return out


def _encode_message(value: Message) -> Any:
    full = value.DESCRIPTOR.full_name
    if full == _TIMESTAMP:
        assert isinstance(value, timestamp_pb2.Timestamp)
        return value.ToJsonString()
    if full in (_STRUCT, _VALUE):
        return _plain(MessageToDict(value))
    return encode(value)


def struct_json(value: Message) -> Any:
    """A Struct, Value or ListValue as the upstream's JSON, integral numbers as integers."""
    return _plain(MessageToDict(value))


def _plain(value: Any) -> Any:
    """Struct numbers are doubles; give integral ones back as JSON integers."""
    if isinstance(value, float) and value.is_integer() and math.fabs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _encode_llm_model(message: Any, out: dict[str, Any]) -> None:
    kind = message.WhichOneof("model")
    if kind is not None:
        out.update(encode(getattr(message, kind)))


def _encode_transcript(message: Any, out: dict[str, Any]) -> None:
    kind = message.WhichOneof("tool_arguments")
    if kind == "tool_arguments_object":
        out["tool_arguments"] = _plain(MessageToDict(message.tool_arguments_object))
    elif kind == "tool_arguments_text":
        out["tool_arguments"] = message.tool_arguments_text


_ENCODE_HOOKS = {
    "revox.campaigns.v1.LlmModel": _encode_llm_model,
    "revox.campaigns.v1.TranscriptEntry": _encode_transcript,
}
