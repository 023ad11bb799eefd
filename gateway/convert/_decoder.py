"""Upstream JSON → contract messages, compiled once per message type.

Decoding is on every uncached read (a Campaign with its assistant is ~17
messages and ~100 keys). Walking the descriptors per call paid, for every
key, a plan lookup, several ``isinstance`` checks on the field's kind and a
hook lookup. Here each message type gets, once, a dict from JSON key to a
setter closure specialised for its field, so a call pays one dict lookup and
one call per key.

The drift rules are the ones ``_codec`` documents, and the descriptor walk
the gateway used before is kept in ``tests/convert/_reference.py``, where a
test checks that both build identical messages, on adversarial input too:
- a key the contract does not know, or a value its field cannot hold, goes to
  ``extra_fields`` under its JSON name (null included);
- null for a known key leaves the field unset;
- an enum literal the contract does not know leaves the enum at 0 with the
  literal in ``*_raw``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ._layout import EXTRA, layout
from ._literals import LITERALS, number_of
from ._timestamps import rfc3339

__all__ = ["decode_into"]

# setter(message, value, extra): store ``value`` (never None) in the message,
# or under its key in ``extra`` when the field cannot hold it.
Setter = Callable[[Message, Any, dict[str, Any]], None]
Run = Callable[[Mapping[str, Any], Message], None]

_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_TIMESTAMP = "google.protobuf.Timestamp"
_F = FieldDescriptor
_INT32_KINDS = frozenset((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32))
_LLM_MODEL = "revox.campaigns.v1.LlmModel"
_TRANSCRIPT = "revox.campaigns.v1.TranscriptEntry"
_LLM_VARIANTS = {"dedicated-instance": "dedicated_instance", "openrouter": "openrouter"}


class _Misfit:
    pass


_MISFIT: Any = _Misfit()

# Message class -> its compiled decoder. Keyed by class: ``type(message)`` is
# the cheapest lookup available per call.
_RUNS: dict[type[Message], Run] = {}


def decode_into(obj: Mapping[str, Any], message: Message) -> None:
    """Fill ``message`` from the upstream JSON object ``obj``."""
    run = _RUNS.get(type(message))
    if run is None:
        run = _RUNS[type(message)] = _compile(cast(Descriptor, message.DESCRIPTOR))
    run(obj, message)


# ---------------------------------------------------------------- per message


def _compile(desc: Descriptor) -> Run:
    has_extra = EXTRA in desc.fields_by_name
    if desc.full_name == _LLM_MODEL:
        return _llm_model_run(has_extra)
    setters = _setters(desc)
    if desc.full_name == _TRANSCRIPT:
        setters["tool_arguments"] = _tool_arguments
    get = setters.get

    def run(obj: Mapping[str, Any], message: Message) -> None:
        extra: dict[str, Any] = {}
        for key, value in obj.items():
            setter = get(key)
            if setter is None:
                extra[key] = value
            elif value is not None:  # null and absent both mean unset
                setter(message, value, extra)
        if extra and has_extra:
            # A message without a drift slot cannot keep it; only request
            # messages lack one, and they are never decoded from upstream JSON.
            message.extra_fields.update(extra)  # type: ignore[attr-defined]  # a field of the concrete message class

    return run


def _setters(desc: Descriptor) -> dict[str, Setter]:
    """One setter per visible field, keyed by its JSON name (= its proto name)."""
    lay = layout(desc)
    return {name: _setter(f, lay.raw.get(name)) for name, f in lay.fields.items()}


def _llm_model_run(has_extra: bool) -> Run:
    """`llm_model` is a union told apart by `type`; the other keys live in the variant."""

    def run(obj: Mapping[str, Any], message: Message) -> None:
        extra: dict[str, Any] = {}
        kind = None
        if "type" in obj:
            literal = obj["type"]
            if isinstance(literal, str):
                message.type = literal  # type: ignore[attr-defined]  # a field of the concrete message class
                kind = _LLM_VARIANTS.get(literal)
            elif literal is not None:
                extra["type"] = literal
        variant: Message | None = None
        get: Callable[[str], Setter | None] = _NO_SETTERS.get
        if kind is not None:
            variant = getattr(message, kind)
            get = _variant_setters(cast(Descriptor, variant.DESCRIPTOR)).get
        touched = False
        for key, value in obj.items():
            if key == "type":
                continue
            if variant is None:
                extra[key] = value
                continue
            touched = True
            setter = get(key)
            if setter is None or value is None:
                extra[key] = value
            else:
                setter(variant, value, extra)
        if touched:
            assert variant is not None
            variant.SetInParent()  # the variant is chosen even when all its keys drifted
        if extra and has_extra:
            message.extra_fields.update(extra)  # type: ignore[attr-defined]  # a field of the concrete message class

    return run


_NO_SETTERS: dict[str, Setter] = {}
_VARIANT_SETTERS: dict[str, dict[str, Setter]] = {}


def _variant_setters(desc: Descriptor) -> dict[str, Setter]:
    setters = _VARIANT_SETTERS.get(desc.full_name)
    if setters is None:
        setters = _VARIANT_SETTERS[desc.full_name] = _setters(desc)
    return setters


def _tool_arguments(message: Message, value: Any, extra: dict[str, Any]) -> None:
    # `tool_arguments` is an object or a string upstream: a oneof here.
    if isinstance(value, dict):
        message.tool_arguments_object.update(value)  # type: ignore[attr-defined]  # a field of the concrete message class
    elif isinstance(value, str):
        message.tool_arguments_text = value  # type: ignore[attr-defined]  # a field of the concrete message class
    else:
        extra["tool_arguments"] = value


# ---------------------------------------------------------------- per field


def _setter(field: FieldDescriptor, raw: str | None) -> Setter:
    name = field.name
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return _map_setter(name, message_type.fields_by_name["value"].type == _F.TYPE_STRING)
    if field.is_repeated:
        if message_type is not None:
            return _repeated_message_setter(name)
        return _repeated_scalar_setter(name, _converter(field.type))
    if field.type == _F.TYPE_ENUM:
        return _enum_setter(field, raw)
    if message_type is not None:
        full = message_type.full_name
        if full == _TIMESTAMP:
            return _timestamp_setter(name)
        if full == _STRUCT:
            return _struct_setter(name)
        if full == _VALUE:
            return _value_setter(name)
        return _message_setter(name)
    return _scalar_setter(name, _converter(field.type))


def _scalar_setter(name: str, convert: Callable[[Any], Any]) -> Setter:
    # Strings and bools are most of the keys: checked inline, without a converter call.
    if convert is _string:

        def set_string(message: Message, value: Any, extra: dict[str, Any]) -> None:
            if isinstance(value, str):
                setattr(message, name, value)
            else:
                extra[name] = value

        return set_string
    if convert is _bool:

        def set_bool(message: Message, value: Any, extra: dict[str, Any]) -> None:
            if isinstance(value, bool):
                setattr(message, name, value)
            else:
                extra[name] = value

        return set_bool

    def set_scalar(message: Message, value: Any, extra: dict[str, Any]) -> None:
        converted = convert(value)
        if converted is _MISFIT:
            extra[name] = value
        else:
            setattr(message, name, converted)

    return set_scalar


def _enum_setter(field: FieldDescriptor, raw: str | None) -> Setter:
    name = field.name
    enum_type = field.enum_type
    assert enum_type is not None, "an enum field has an enum type"
    table = LITERALS.get(enum_type.full_name)

    def set_enum(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if not isinstance(value, str):
            extra[name] = value
            return
        # number_of raises for an enum missing from the tables, as it always did.
        setattr(message, name, table.get(value, 0) if table is not None else number_of(enum_type, value))
        if raw is not None:
            setattr(message, raw, value)

    return set_enum


def _message_setter(name: str) -> Setter:
    def set_message(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if isinstance(value, dict):
            decode_into(value, getattr(message, name))
        else:
            extra[name] = value

    return set_message


def _struct_setter(name: str) -> Setter:
    def set_struct(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if isinstance(value, dict):
            getattr(message, name).update(value)
        else:
            extra[name] = value

    return set_struct


def _value_setter(name: str) -> Setter:
    def set_value(message: Message, value: Any, extra: dict[str, Any]) -> None:
        holder = struct_pb2.Struct()
        holder.update({"v": value})
        getattr(message, name).CopyFrom(holder.fields["v"])

    return set_value


def _timestamp_setter(name: str) -> Setter:
    def set_timestamp(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if not isinstance(value, str):
            extra[name] = value
            return
        target = getattr(message, name)
        parsed = rfc3339(value)
        if parsed is not None:
            target.seconds, target.nanos = parsed
            return
        try:
            target.FromJsonString(value)  # every shape the fast path leaves alone
        except ValueError:
            message.ClearField(name)
            extra[name] = value

    return set_timestamp


def _map_setter(name: str, string_values: bool) -> Setter:
    def set_map(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if string_values and isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            getattr(message, name).update(value)
        else:
            extra[name] = value

    return set_map


def _repeated_message_setter(name: str) -> Setter:
    def set_messages(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            extra[name] = value
            return
        container = getattr(message, name)
        for item in value:
            decode_into(item, container.add())

    return set_messages


def _repeated_scalar_setter(name: str, convert: Callable[[Any], Any]) -> Setter:
    def set_scalars(message: Message, value: Any, extra: dict[str, Any]) -> None:
        if not isinstance(value, list):
            extra[name] = value
            return
        converted = [convert(v) for v in value]
        if any(v is _MISFIT for v in converted):
            extra[name] = value
        else:
            getattr(message, name).extend(converted)

    return set_scalars


# ---------------------------------------------------------------- scalars


def _converter(kind: int) -> Callable[[Any], Any]:
    """The JSON value as the field's Python type, or _MISFIT."""
    if kind == _F.TYPE_STRING:
        return _string
    if kind == _F.TYPE_BOOL:
        return _bool
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return _double
    # Every other kind (enums in repeated fields included) is checked as an
    # integer, 32-bit kinds against int32 and the rest against int64, as the
    # descriptor walk did.
    low, high = (-(2**31), 2**31 - 1) if kind in _INT32_KINDS else (-(2**63), 2**63 - 1)

    def integer(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _MISFIT
        if isinstance(value, float):
            if not value.is_integer():
                return _MISFIT
            value = int(value)
        return value if low <= value <= high else _MISFIT

    return integer


def _string(value: Any) -> Any:
    return value if isinstance(value, str) else _MISFIT


def _bool(value: Any) -> Any:
    return value if isinstance(value, bool) else _MISFIT


def _double(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _MISFIT
    try:
        return float(value)
    except OverflowError:  # an integer beyond any double
        return _MISFIT
