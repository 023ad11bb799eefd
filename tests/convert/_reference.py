"""The descriptor-walking decoder the gateway used before the compiled one.

Kept as an executable specification: ``test_compiled_decoder`` checks that
``gateway.convert.decode`` (compiled per message type) builds exactly the
message this generic walk builds, on every sample and on adversarial drift.
Two deliberate differences from the original walk, mirrored in the compiled
decoder: an enum without a ``*_raw`` companion keeps only its number, and a
number too large for a double is a misfit instead of an OverflowError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.convert import number_of

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
    fields: Mapping[str, FieldDescriptor]
    raw: Mapping[str, str]
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
    hidden |= {f.name for o in desc.oneofs if not o.name.startswith("_") for f in o.fields}
    fields = {f.name: f for f in desc.fields if f.name not in hidden}
    return _Plan(fields=fields, raw=raw, has_extra=_EXTRA in names)


def decode(obj: Mapping[str, Any], cls: type[M]) -> M:
    """The reference twin of ``gateway.convert.decode``."""
    message = cls()
    decode_into(obj, message)
    return message


def decode_into(obj: Mapping[str, Any], message: Message) -> None:
    """The reference twin of ``gateway.convert.decode_into``."""
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
        raw = plan.raw.get(name)
        if raw is not None:
            setattr(message, raw, value)
        return True
    if field.message_type is not None:
        return _set_message(getattr(message, name), value, message, name)
    converted = _scalar(field, value)
    if converted is _MISFIT:
        return False
    setattr(message, name, converted)
    return True


def _rfc3339_of(text: str) -> str:
    """docs/upstream.md's timestamp shapes spelled as strict RFC 3339 (no zone: UTC)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d(?:\.\d+)?)([Zz]|[+-]\d\d:?\d\d)?", text)
    if m is None:
        return text
    day, time, zone = m.groups()
    if zone is None or zone in "Zz":
        zone = "Z"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    return f"{day}T{time}{zone}"


def _set_message(target: Message, value: Any, parent: Message, name: str) -> bool:
    full = target.DESCRIPTOR.full_name
    if full == _TIMESTAMP:
        if not isinstance(value, str):
            return False
        try:
            target.FromJsonString(_rfc3339_of(value))
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
        try:
            return float(value)
        except OverflowError:
            return _MISFIT
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
