"""Hypothesis strategies built from protobuf descriptors: any request message of the
contract, with hostile values in every field, and corrupt wire bytes.

Nothing here names a field of the contract: the walk goes over ``DESCRIPTOR.fields``
(scalars of every wire type, enums with unknown numbers, repeated fields, maps, oneofs,
proto3 ``optional``), so a field or message added to the proto is fuzzed as soon as it
is generated. The well-known types get their own odd contents: Struct/Value nested
past the parser's limit and holding NaN, infinities and control characters;
Timestamp/Duration at and beyond their valid range; FieldMask paths that name
nothing. ``hints`` (by field name) mix plausible values in, e.g. an existing campaign
id, so that the fuzz also reaches the paths behind validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, OneofDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

__all__ = ["Hints", "corrupt_bytes", "edge_strings", "message_of", "mutants", "request_bytes"]

Hints = Mapping[str, st.SearchStrategy[Any]]
F = FieldDescriptor
MAX_ITEMS = 6  # repeated fields and maps: 0..MAX_ITEMS entries
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INT_EDGES = (0, 1, -1, 2, 49, 50, 51, 100, 101, 999, 1000, 1001, 1023, 1024, 4 * 1024 * 1024,
              4 * 1024 * 1024 + 1, 10_000, 10_001, 1_000_000, 1_000_001)
# Lengths just under and over every documented bound (ids 256, names 500, request ids 128,
# page tokens 512, queries 1000, resume tokens 4096, values 10000, structs 64 KiB).
_LENGTHS = (128, 129, 256, 257, 500, 501, 512, 513, 1000, 1001, 4096, 4097, 10_000, 10_001,
            65_537)
_ODD = (
    "", " ", "\x00", "a\x00b", "\t", "\n", "\r\n", "\x1b[31m", "\x7f", "\x85", "\x9f", "\u2028",
    "\u200b", "\ufeff", "\u202e", "é", "😀", "𝟘", "٣", "\U0010ffff", "../../etc/passwd", "%00",
    "%2B33612345678", "' OR 1=1 --", "{}", "null", "*", ".", "a..b", "a.", ".a", "__proto__",
    "constructor", "9\x0bam", "١٢:٠٠", "+", "+0", "+1" + "9" * 20,
)


def edge_strings(max_size: int = 40) -> st.SearchStrategy[str]:
    """Empty, odd, control characters, NUL, any unicode, and long strings at the bounds."""
    long = st.builds(lambda n, c, tail: c * n + tail, st.sampled_from(_LENGTHS),
                     st.sampled_from(("a", "é", "😀", " ")), st.sampled_from(("", "\x00", "\n")))
    return st.one_of(st.sampled_from(_ODD), st.text(max_size=max_size), long)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    candidates = (*_INT_EDGES, *(-n for n in _INT_EDGES), lo, hi, lo + 1, hi - 1)
    edges = sorted({n for n in candidates if lo <= n <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _floats(width: int) -> st.SearchStrategy[float]:
    edges = [math.nan, math.inf, -math.inf, -0.0, 0.0, 2.0**53, -(2.0**53), 1e308, 5e-324]
    return st.one_of(st.sampled_from(edges), st.floats(width=width))


_SCALARS: dict[int, Callable[[], st.SearchStrategy[Any]]] = {
    F.TYPE_INT32: lambda: _ints(*_INT32), F.TYPE_SINT32: lambda: _ints(*_INT32),
    F.TYPE_SFIXED32: lambda: _ints(*_INT32), F.TYPE_INT64: lambda: _ints(*_INT64),
    F.TYPE_SINT64: lambda: _ints(*_INT64), F.TYPE_SFIXED64: lambda: _ints(*_INT64),
    F.TYPE_UINT32: lambda: _ints(0, 2**32 - 1), F.TYPE_FIXED32: lambda: _ints(0, 2**32 - 1),
    F.TYPE_UINT64: lambda: _ints(0, 2**64 - 1), F.TYPE_FIXED64: lambda: _ints(0, 2**64 - 1),
    F.TYPE_FLOAT: lambda: _floats(32), F.TYPE_DOUBLE: lambda: _floats(64),
    F.TYPE_BOOL: st.booleans, F.TYPE_STRING: edge_strings,
    F.TYPE_BYTES: lambda: st.binary(max_size=64),
}


# ------------------------------------------------------------------ well-known types


def _json_leaf() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), _floats(64), edge_strings(20))


def _nested(depth: int, leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for i in range(depth):
        value = {f"k{i % 3}": value} if i % 2 else {"l": [value]}
    return value if isinstance(value, dict) else {"v": value}


def _json_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Struct contents: odd keys and leaves, some nested wide, some nested deep (around
    the 16 levels the gateway allows; past the parser's 100 in ``corrupt_bytes``, as
    such a message cannot be copied into a request here either)."""
    tree = st.recursive(_json_leaf(), lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(edge_strings(12), kids, max_size=4)),
        max_leaves=12)
    deep = st.builds(_nested, st.sampled_from((15, 16, 17, 24)), _json_leaf())
    return st.one_of(st.dictionaries(edge_strings(24), tree, max_size=5), deep)


def _struct() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(data: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(data)
        return s

    return _json_objects().map(build)


def _timestamp_like(cls: type[Message], seconds: tuple[int, ...]) -> st.SearchStrategy[Message]:
    nanos = (0, 1, -1, 999_999_999, 1_000_000_000, *_INT32)
    return st.builds(lambda s, n: cls(seconds=s, nanos=n),
                     st.one_of(st.sampled_from(seconds), _ints(*_INT64)),
                     st.one_of(st.sampled_from(nanos), _ints(*_INT32)))


def _well_known(desc: Descriptor, hints: Hints) -> st.SearchStrategy[Message] | None:
    cls = GetMessageClass(desc)
    name = desc.full_name
    if name == "google.protobuf.Struct":
        return _struct()
    if name == "google.protobuf.Value":
        return _struct().map(lambda s: struct_pb2.Value(struct_value=s))
    if name == "google.protobuf.Timestamp":
        return _timestamp_like(cls, (0, -1, -62135596801, -62135596800, 253402300799,
                                     253402300800, 1_772_442_000, *_INT64))
    if name == "google.protobuf.Duration":
        return _timestamp_like(cls, (0, 1, 15, 300, 301, -1, 315_576_000_000,
                                     315_576_000_001, 86_400 * 999_999_999, *_INT64))
    if name == "google.protobuf.FieldMask":
        path = st.one_of(hints["paths"], edge_strings(20)) if "paths" in hints else edge_strings(20)
        return st.lists(path, max_size=MAX_ITEMS).map(lambda ps: cls(paths=ps))
    if name.startswith("google.protobuf."):
        return st.just(cls())
    return None


# ------------------------------------------------------------------ messages


def _single(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    if field.type == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        unknown = [-1, max(known) + 1, 99, 2**31 - 1, -(2**31)]
        base: st.SearchStrategy[Any] = st.sampled_from(known + unknown)
    elif field.type == F.TYPE_MESSAGE:
        base = message_of(field.message_type, hints, depth + 1)
    else:
        base = _SCALARS[field.type]()
    hint = hints.get(field.name)
    return base if hint is None else st.one_of(hint, hint, base)  # plausible values weigh more


def _field(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return st.dictionaries(_single(key, hints, depth), _single(value, hints, depth),
                               max_size=MAX_ITEMS)
    if field.is_repeated:
        return st.lists(_single(field, hints, depth), max_size=MAX_ITEMS)
    return _single(field, hints, depth)


def _assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        for k, v in value.items():
            if entry.fields_by_name["value"].type == F.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif field.is_repeated:
        target.extend(value)
    elif field.type == F.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


def _synthetic(oneof: OneofDescriptor) -> bool:
    """A proto3 ``optional``'s oneof (upb does not expose ``is_synthetic``): one field,
    named after it with a leading underscore."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def message_of(desc: Descriptor, hints: Hints | None = None, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any ``desc`` message: each field absent or hostile; one member per real oneof."""
    hints = hints or {}
    special = _well_known(desc, hints)
    if special is not None:
        return special
    cls = GetMessageClass(desc)
    if depth > 8:  # this contract's requests are not recursive; a guard all the same
        return st.just(cls())
    oneofs = [o for o in desc.oneofs if not _synthetic(o)]
    plain = [f for f in desc.fields if f.containing_oneof not in oneofs]
    optional = {f.name: _field(f, hints, depth) for f in plain}
    for oneof in oneofs:
        choices = [st.tuples(st.just(f.name), _field(f, hints, depth)) for f in oneof.fields]
        optional[f"oneof:{oneof.name}"] = st.one_of(choices)

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            if name.startswith("oneof:"):
                name, value = value
            _assign(message, desc.fields_by_name[name], value)
        return message

    return st.fixed_dictionaries({}, optional=optional).map(build)


def request_bytes(desc: Descriptor, hints: Hints | None = None) -> st.SearchStrategy[bytes]:
    return message_of(desc, hints).map(lambda m: m.SerializeToString())


# ------------------------------------------------------------------ mutants of a valid request

Slot = tuple[tuple[tuple[str, int | None], ...], FieldDescriptor]  # (route to the owner, field)


def _slots(message: Message, route: tuple[tuple[str, int | None], ...] = ()) -> list[Slot]:
    """Every field of ``message`` and of the messages set inside it (the first item of a
    repeated one), well-known types being leaves."""
    out: list[Slot] = []
    desc = message.DESCRIPTOR
    for f in desc.fields:
        out.append((route, f))
        entry = f.message_type
        if entry is None or entry.GetOptions().map_entry or entry.full_name.startswith("google.protobuf."):
            continue
        if f.is_repeated:
            items = getattr(message, f.name)
            if items:
                out += _slots(items[0], (*route, (f.name, 0)))
        elif message.HasField(f.name):
            out += _slots(getattr(message, f.name), (*route, (f.name, None)))
    return out


def _replace(base: Message, changes: list[tuple[Slot, Any]]) -> bytes:
    message = base.__class__()
    message.CopyFrom(base)
    # Deepest first: a later change of an outer field (contacts emptied) then wins
    # instead of leaving an inner one (contacts[0].to_phone_number) with nowhere to go.
    for (route, f), value in sorted(changes, key=lambda c: -len(c[0][0])):
        owner = message
        for name, index in route:
            owner = getattr(owner, name)[index] if index is not None else getattr(owner, name)
        owner.ClearField(f.name)
        _assign(owner, f, value)
    return message.SerializeToString()


def mutants(base: Message, hints: Hints | None = None) -> st.SearchStrategy[bytes]:
    """``base`` (a valid request) with one to three of its fields, at any depth, replaced
    by another value (hostile, or one of ``hints``): the fuzz that reaches each check
    with the others passing, and the paths behind validation with odd but valid input."""
    slots = _slots(base)
    change = st.sampled_from(slots).flatmap(
        lambda slot: st.tuples(st.just(slot), _field(slot[1], hints or {}, 0)))
    return st.lists(change, min_size=1, max_size=3).map(lambda cs: _replace(base, cs))


# ------------------------------------------------------------------ corrupt wire bytes


def _mutate(data: bytes, how: int, at: int, byte: int) -> bytes:
    i = at % (len(data) + 1)
    if how == 0:
        return data[:i]  # truncated
    if how == 1 and data:
        j = i % len(data)
        return data[:j] + bytes([data[j] ^ (byte or 1)]) + data[j + 1 :]  # one byte flipped
    if how == 2:
        return data[:i] + bytes([byte]) * 3 + data[i:]  # garbage inserted
    return data + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # a varint too long


def _deep_groups(depth: int) -> bytes:
    """Unknown groups nested ``depth`` levels: the parser's recursion limit, any message."""
    return b"\x7b" * depth + b"\x7c" * depth


def _huge_length() -> bytes:
    """A length-delimited field 1 claiming 2 GiB that the call does not hold."""
    return b"\x0a\x80\x80\x80\x80\x08abc"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _deep_structs(desc: Descriptor) -> list[bytes]:
    """Each Struct field of ``desc`` holding a Struct nested 200 levels (some 600
    messages deep), as wire bytes: what no well-behaved client can send."""
    out = []
    for field in desc.fields:
        if field.message_type is not None and field.message_type.full_name == "google.protobuf.Struct":
            deep = struct_pb2.Struct()
            deep.update(_nested(200, "x"))
            body = deep.SerializeToString()
            out.append(_varint(field.number << 3 | 2) + _varint(len(body)) + body)
    return out


def corrupt_bytes(desc: Descriptor, hints: Hints | None = None) -> st.SearchStrategy[bytes]:
    """Wire bytes of ``desc`` that may not parse: random bytes, a valid request truncated,
    flipped or padded with garbage, wrong wire types, groups nested past the limit."""
    mutated = st.builds(_mutate, request_bytes(desc, hints), st.integers(0, 3),
                        st.integers(0, 1 << 16), st.integers(0, 255))
    fixed = st.sampled_from((_huge_length(), _deep_groups(99), _deep_groups(101),
                             _deep_groups(2000), b"\x7b", b"\x0f", b"\x08" + b"\x80" * 10,
                             b"\x0d\x00", b"\x09\x00\x00\x00", *_deep_structs(desc)))
    return st.one_of(st.binary(max_size=256), mutated, fixed)
