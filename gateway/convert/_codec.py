"""Upstream JSON ⇄ contract messages, under the contract's drift rules.

``decode`` never fails on what the upstream sends: a key the contract does not
know, or a value its typed field cannot hold, goes to the message's
``extra_fields`` under its JSON name; an enum literal the contract does not
know leaves the enum at ``*_UNSPECIFIED`` with the literal in ``*_raw``.
``encode`` is the inverse: it gives back the upstream JSON, extra fields and
raw literals included, so a decode/encode round trip loses nothing.

Both walk the message descriptors; the per-message plan is computed once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from ._literals import literal_of, number_of

__all__ = ["decode", "encode", "decode_into"]

M = TypeVar("M", bound=Message)

_EXTRA = "extra_fields"
_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_TIMESTAMP = "google.protobuf.Timestamp"
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_F = FieldDescriptor


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one message maps to JSON: its visible fields and drift slots."""

    fields: Mapping[str, FieldDescriptor]  # JSON key -> field
    raw: Mapping[str, str]  # enum field name -> its *_raw companion
    has_extra: bool


@cache
def _plan(desc: Descriptor) -> _Plan:
    names = set(desc.fields_by_name)
    raw = {
        f.name: f"{f.name}_raw"
        for f in desc.fields
        if f.type == _F.TYPE_ENUM and f"{f.name}_raw" in names
    }
    hidden = {_EXTRA, *raw.values()}
    # Oneof members stand for a union under one JSON key; the hooks below own them.
    hidden |= {f.name for o in desc.oneofs if not o.name.startswith("_") for f in o.fields}
    fields = {f.name: f for f in desc.fields if f.name not in hidden}
    return _Plan(fields=fields, raw=raw, has_extra=_EXTRA in names)


# ---------------------------------------------------------------- decoding


def decode(obj: Mapping[str, Any], cls: type[M]) -> M:
    """A new ``cls`` message holding the upstream JSON object ``obj``."""
    message = cls()
    decode_into(obj, message)
    return message


def decode_into(obj: Mapping[str, Any], message: Message) -> None:
    """Fill ``message`` from the upstream JSON object ``obj``."""
    desc = message.DESCRIPTOR
    plan = _plan(desc)
    extra: dict[str, Any] = {}
    hook = _DECODE_HOOKS.get(desc.full_name)
    if hook is _decode_llm_model:
        obj = _order_llm_model(obj)
    for key, value in obj.items():
        if hook is not None and hook(key, value, message, extra):
            continue
        field = plan.fields.get(key)
        if field is None:
            extra[key] = value
        elif value is None:
            continue  # null and absent both mean unset
        elif not _set_field(message, field, value, plan):
            extra[key] = value
    if extra:
        if plan.has_extra:
            getattr(message, _EXTRA).update(extra)
        # A message without a drift slot cannot hold it; only request messages
        # lack one, and they are never decoded from upstream JSON.


def _set_field(message: Message, field: FieldDescriptor, value: Any, plan: _Plan) -> bool:
    """Set one field; False when the value does not fit (the caller keeps it raw)."""
    name = field.name
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return _set_map(getattr(message, name), field, value)
    if field.is_repeated:
        if not isinstance(value, list):
            return False
        if field.message_type is not None:
            if not all(isinstance(v, dict) for v in value):
                return False
            container = getattr(message, name)
            for item in value:
                decode_into(item, container.add())
            return True
        converted = [_scalar(field, v) for v in value]
        if any(v is _MISFIT for v in converted):
            return False
        getattr(message, name).extend(converted)
        return True
    if field.type == _F.TYPE_ENUM:
        if not isinstance(value, str):
            return False
        setattr(message, name, number_of(field.enum_type, value))
        setattr(message, plan.raw[name], value)
        return True
    if field.message_type is not None:
        return _set_message(getattr(message, name), value, message, name)
    converted = _scalar(field, value)
    if converted is _MISFIT:
        return False
    setattr(message, name, converted)
    return True


def _set_message(target: Message, value: Any, parent: Message, name: str) -> bool:
    full = target.DESCRIPTOR.full_name
    if full == _TIMESTAMP:
        if not isinstance(value, str):
            return False
        try:
            target.FromJsonString(value)
        except ValueError:
            parent.ClearField(name)
            return False
        return True
    if full == _STRUCT:
        if not isinstance(value, dict):
            return False
        target.update(value)
        return True
    if full == _VALUE:
        _to_value(target, value)
        return True
    if not isinstance(value, dict):
        return False
    decode_into(value, target)
    return True


def _set_map(container: Any, field: FieldDescriptor, value: Any) -> bool:
    value_field = field.message_type.fields_by_name["value"]
    if not isinstance(value, dict) or value_field.type != _F.TYPE_STRING:
        return False
    if not all(isinstance(v, str) for v in value.values()):
        return False
    container.update(value)
    return True


class _Misfit:
    pass


_MISFIT: Any = _Misfit()


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    kind = field.type
    if kind == _F.TYPE_STRING:
        return value if isinstance(value, str) else _MISFIT
    if kind == _F.TYPE_BOOL:
        return value if isinstance(value, bool) else _MISFIT
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _MISFIT
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            return _MISFIT
        value = int(value)
    low, high = _INT32 if kind in (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32) else _INT64
    return value if low <= value <= high else _MISFIT


def _to_value(target: struct_pb2.Value, value: Any) -> None:
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    target.CopyFrom(holder.fields["v"])


def _decode_llm_model(key: str, value: Any, message: Message, extra: dict[str, Any]) -> bool:
    """`llm_model` is a union told apart by `type`; its members' keys live in the variant."""
    variant = {"dedicated-instance": "dedicated_instance", "openrouter": "openrouter"}
    if key == "type":
        if not isinstance(value, str):
            return False
        message.type = value  # type: ignore[attr-defined]
        return True
    kind = variant.get(_peek_type(message))
    if kind is None:
        return False
    sub = getattr(message, kind)
    sub_plan = _plan(sub.DESCRIPTOR)
    field = sub_plan.fields.get(key)
    if field is None or value is None or not _set_field(sub, field, value, sub_plan):
        extra[key] = value
    sub.SetInParent()
    return True


def _peek_type(message: Message) -> str:
    return str(getattr(message, "type", ""))


def _decode_transcript(key: str, value: Any, message: Message, extra: dict[str, Any]) -> bool:
    if key != "tool_arguments":
        return False
    if isinstance(value, dict):
        message.tool_arguments_object.update(value)  # type: ignore[attr-defined]
    elif isinstance(value, str):
        message.tool_arguments_text = value  # type: ignore[attr-defined]
    elif value is not None:
        extra[key] = value
    return True


_DECODE_HOOKS = {
    "revox.campaigns.v1.LlmModel": _decode_llm_model,
    "revox.campaigns.v1.TranscriptEntry": _decode_transcript,
}


def _order_llm_model(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    # The variant's keys can only be placed once `type` is known.
    if "type" in obj:
        return {"type": obj["type"], **{k: v for k, v in obj.items() if k != "type"}}
    return obj


# ---------------------------------------------------------------- encoding


def encode(message: Message) -> dict[str, Any]:
    """The upstream JSON object that ``message`` holds."""
    desc = message.DESCRIPTOR
    plan = _plan(desc)
    out: dict[str, Any] = {}
    for key, field in plan.fields.items():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            out[key] = dict(getattr(message, key))
        elif field.is_repeated:
            items = getattr(message, key)
            out[key] = [encode(i) for i in items] if field.message_type else list(items)
        elif field.type == _F.TYPE_ENUM:
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
    if plan.has_extra and message.HasField(_EXTRA):
        out.update(_plain(MessageToDict(getattr(message, _EXTRA))))
    return out


def _encode_message(value: Message) -> Any:
    full = value.DESCRIPTOR.full_name
    if full == _TIMESTAMP:
        assert isinstance(value, timestamp_pb2.Timestamp)
        return value.ToJsonString()
    if full in (_STRUCT, _VALUE):
        return _plain(MessageToDict(value))
    return encode(value)


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
