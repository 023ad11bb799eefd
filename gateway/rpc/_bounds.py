"""Bounds on the strings and free-form structs a request carries.

Every string is bounded in length. What names something (ids, names, map and
``extra_fields`` keys) never holds a control character (Unicode category Cc:
C0, DEL, C1): it ends up in URLs, CSV headers, log lines and dashboards, where
a NUL or a newline truncates or forges. Free text (prompt variable values,
strings inside ``extra_fields``, a search ``query``) may hold tab and line feed,
which real prose contains, but nothing else of Cc.

``extra_fields`` reach the upstream verbatim, so they get the strictest look:
a key that names a field the contract types for that message, in either
spelling (proto name or JSON name), would replace the validated value in the
body; it is refused wherever the Struct sits in the request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import cast

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..errors import FieldViolation, InvalidArgument

__all__ = [
    "MAX_ERROR_BYTES",
    "MAX_KEY",
    "MAX_STRUCT_BYTES",
    "MAX_STRUCT_DEPTH",
    "MAX_VIOLATIONS",
    "Violations",
    "extra_fields_of",
    "has_control",
    "key",
    "plain_map",
    "struct",
    "text",
]

MAX_KEY = 256
MAX_STRUCT_BYTES = 64 * 1024
MAX_STRUCT_DEPTH = 16
MAX_VIOLATIONS = 100  # enough to act on; a flood of them would only bloat the error
# The violations travel twice in the trailers (the status message lists every field, the
# BadRequest detail holds fields and descriptions), and a client refuses trailers over
# 8 KiB: it would see RESOURCE_EXHAUSTED instead of the error. Estimated, worst case.
MAX_ERROR_BYTES = 6000

EXTRA = "extra_fields"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all of Cc but \t and \n
_NO_CONTROL = "must not contain control characters"
_TEXT_CONTROL = "must not contain control characters other than tab and line feed"


def _trailer_bytes(field: str, description: str) -> int:
    """What one violation adds to the trailers: its field percent-encoded in the
    grpc-message (3 bytes per non-ASCII byte at worst), and field, description and
    the message's copy of the field, base64-encoded, in grpc-status-details-bin."""
    f, d = len(field.encode()), len(description.encode())
    return 3 * f + 4 * (2 * f + d + 8) // 3


class Violations:
    """The bad fields found so far, in request order: at most ``MAX_VIOLATIONS``, and no
    more than fit in ``MAX_ERROR_BYTES`` of trailers (the first always does)."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []
        self._bytes = 0
        self.full = False

    def add(self, field: str, description: str) -> None:
        if self.full:
            return
        cost = _trailer_bytes(field, description)
        if self.items and self._bytes + cost > MAX_ERROR_BYTES:
            self.full = True
            return
        self.items.append(FieldViolation(field, description))
        self._bytes += cost
        self.full = len(self.items) >= MAX_VIOLATIONS

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def key(v: Violations, path: str, value: str, what: str = "names") -> bool:
    """A name or map key: 1 to MAX_KEY characters, no control character.

    The key is not echoed in the violation: a bad one may be megabytes long.
    """
    if not value:
        v.add(path, f"{what} must not be empty")
    elif len(value) > MAX_KEY:
        v.add(path, f"{what} must be at most {MAX_KEY} characters")
    elif has_control(value):
        v.add(path, f"{what} {_NO_CONTROL}")
    else:
        return True
    return False


def plain_map(values: Mapping[str, str], limit: int) -> bool:
    """Whether every key passes ``key`` and every value ``text`` (at most ``limit``):
    a scan of the joined keys and one of the joined values instead of two calls per
    entry; the entries are walked, by the caller, only when this says no."""
    if _CONTROL.search("".join(values)) or _CONTROL_IN_TEXT.search("".join(values.values())):
        return False
    return all(0 < len(k) <= MAX_KEY for k in values) and all(len(x) <= limit for x in values.values())


def text(v: Violations, path: str, value: str, limit: int) -> None:
    """Free text: at most ``limit`` characters, tab and line feed the only controls."""
    if len(value) > limit:
        v.add(path, f"at most {limit} characters")
    elif _CONTROL_IN_TEXT.search(value):
        v.add(path, _TEXT_CONTROL)


# ---------------------------------------------------------------- extra_fields


@cache
def _typed_keys(owner: Descriptor) -> frozenset[str]:
    """Both spellings of every field of ``owner``: what its extra_fields may not name."""
    return frozenset(n for f in owner.fields for n in (f.name, f.json_name))


def struct(v: Violations, path: str, value: struct_pb2.Struct, owner: Descriptor) -> None:
    """An ``extra_fields`` of an ``owner`` message, at ``path`` in the request."""
    typed = _typed_keys(owner)
    for name in value.fields:
        if name in typed:
            v.add(f"{path}.{name}", f"names the typed field of {owner.name}; set it there")
    if value.ByteSize() > MAX_STRUCT_BYTES:
        # Not walked: its size is the one thing to fix, and walking it costs.
        v.add(path, f"at most {MAX_STRUCT_BYTES} bytes serialized")
        return
    _fields(v, path, value, 1)


def _fields(v: Violations, path: str, value: struct_pb2.Struct, depth: int) -> None:
    for name, item in value.fields.items():
        if v.full:
            return
        if key(v, path, name, "keys"):
            _value(v, f"{path}.{name}", item, depth)


def _value(v: Violations, path: str, value: struct_pb2.Value, depth: int) -> None:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        _number(v, path, value.number_value)
    elif kind == "string_value":
        # Bounded as a whole by MAX_STRUCT_BYTES.
        text(v, path, value.string_value, MAX_STRUCT_BYTES)
    elif kind in ("struct_value", "list_value") and depth >= MAX_STRUCT_DEPTH:
        v.add(path, f"nested deeper than {MAX_STRUCT_DEPTH} levels")
    elif kind == "struct_value":
        _fields(v, path, value.struct_value, depth + 1)
    elif kind == "list_value":
        for i, item in enumerate(value.list_value.values):
            _value(v, f"{path}[{i}]", item, depth + 1)


def _number(v: Violations, path: str, number: float) -> None:
    """Numbers a JSON body can carry faithfully: finite, and integral ones below 2^53."""
    if not math.isfinite(number):
        v.add(path, "must be a finite number")
    elif number.is_integer() and abs(number) >= 2**53:
        v.add(path, "an integer of magnitude 2^53 or more cannot be carried exactly; send it as a string")


def _is_plain_message(field: FieldDescriptor) -> bool:
    message = field.message_type
    return (
        message is not None
        and not message.GetOptions().map_entry
        and not message.full_name.startswith("google.protobuf.")
    )


@cache
def _holds_extra(desc: Descriptor) -> bool:
    """Whether ``desc`` or a message beneath it has ``extra_fields`` (this contract's
    request messages are not recursive)."""
    if EXTRA in desc.fields_by_name:
        return True
    return any(_holds_extra(f.message_type) for f in desc.fields if _is_plain_message(f))


@cache
def _carriers(desc: Descriptor) -> tuple[FieldDescriptor, ...]:
    """The message fields of ``desc`` under which an ``extra_fields`` may sit."""
    return tuple(f for f in desc.fields if _is_plain_message(f) and _holds_extra(f.message_type))


def extra_fields_of(message: Message, path: str = "") -> Iterator[tuple[str, Descriptor, struct_pb2.Struct]]:
    """``(path, owner, struct)`` of every ``extra_fields`` set anywhere in ``message``.

    Found from the descriptors, so a message that gains ``extra_fields`` later
    is covered without a change here; subtrees without one (contacts) are skipped.
    """
    desc = cast(Descriptor, message.DESCRIPTOR)
    prefix = f"{path}." if path else ""
    if EXTRA in desc.fields_by_name and message.HasField(EXTRA):
        extra = getattr(message, EXTRA)
        assert isinstance(extra, struct_pb2.Struct)
        yield f"{prefix}{EXTRA}", desc, extra
    for field in _carriers(desc):
        if field.is_repeated:
            for i, item in enumerate(getattr(message, field.name)):
                yield from extra_fields_of(item, f"{prefix}{field.name}[{i}]")
        elif message.HasField(field.name):
            yield from extra_fields_of(getattr(message, field.name), f"{prefix}{field.name}")
