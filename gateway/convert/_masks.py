"""Read masks (AIP-157): the fields of a resource a caller asked for, checked against the
contract, applied to messages, and matched against what changed in the upstream JSON.

Paths are proto field names relative to the resource (``id``, ``call.status``); the
upstream JSON uses the same names, so a changed JSON path maps onto the contract by walking
the resource's descriptor. Where that walk cannot follow (a list, a key the contract does
not know, a union the decoder's hooks own), the path stops at the last field it could name:
a mask then sees the whole of that field as changed, so it may receive a change it did not
need, never miss one it did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from ._layout import layout

__all__ = ["ReadMask", "mask_violations"]

M = TypeVar("M", bound=Message)

_OPAQUE = frozenset({
    "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
    "google.protobuf.Timestamp", "google.protobuf.Duration",
})


def _child(field: FieldDescriptor) -> Descriptor | None:
    """The message a path may continue into through ``field`` (None: a leaf)."""
    message = field.message_type
    if message is None or field.is_repeated or message.full_name in _OPAQUE:
        return None
    return message


def mask_violations(mask: FieldMask, resource: Descriptor) -> list[tuple[int, str]]:
    """(index, reason) of each path of ``mask`` that names no field of ``resource``."""
    out: list[tuple[int, str]] = []
    paths = list(mask.paths)
    for i, path in enumerate(paths):
        if path == "*":
            if len(paths) > 1:
                out.append((i, "`*` (every field) must be the only path"))
            continue
        desc: Descriptor | None = resource
        for segment in path.split("."):
            field = desc.fields_by_name.get(segment) if desc is not None else None
            if field is None:
                out.append((i, f"{path!r} names no field of {resource.name}"))
                break
            desc = _child(field)
    return out


class ReadMask:
    """A checked read mask; the empty mask (``ReadMask.ALL``) keeps every field."""

    __slots__ = ("paths", "fingerprint", "_mask", "_compare", "_raw")

    ALL: ReadMask

    def __init__(self, paths: Sequence[str] = ()) -> None:
        kept = () if "*" in paths else tuple(sorted(set(paths)))
        self.paths: tuple[str, ...] = kept
        self.fingerprint = (
            hashlib.sha256("\n".join(kept).encode()).hexdigest()[:16] if kept else ""
        )
        self._mask = FieldMask(paths=list(kept))
        self._compare: tuple[str, ...] = ()
        # (masked enum path, its ``*_raw`` path) pairs: see ``_raw_companion``
        self._raw: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, mask: FieldMask, resource: Descriptor) -> ReadMask:
        """A mask already checked with :func:`mask_violations` against ``resource``."""
        if not mask.paths:
            return cls.ALL
        made = cls(list(mask.paths))
        made._compare = tuple(_canonical(p, resource) for p in made.paths)
        made._raw = tuple(
            (path, raw) for path in made.paths
            if (raw := _raw_companion(path, resource)) is not None and raw not in made.paths
        )
        return made

    def project(self, message: M) -> M:
        """``message`` with only the masked fields (the message itself when unmasked)."""
        if not self.paths:
            return message
        out = type(message)()
        self._mask.MergeMessage(message, out)
        for enum_path, raw_path in self._raw:
            _keep_newer_literal(message, out, enum_path, raw_path)
        return out

    def touches(self, changed: Sequence[str] | None, resource: Descriptor) -> bool:
        """Whether any of the JSON paths that ``changed`` (None: unknown) is visible."""
        if not self.paths or changed is None:
            return True
        for json_path in changed:
            seen = _contract_path(json_path, resource)
            for wanted in self._compare:
                if _related(seen, wanted):
                    return True
        return False


ReadMask.ALL = ReadMask()


def _related(a: str, b: str) -> bool:
    return not a or not b or a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _canonical(path: str, resource: Descriptor) -> str:
    """``x_raw`` is the upstream literal of enum ``x``: both come from JSON key ``x``."""
    parts = path.split(".")
    desc: Descriptor | None = resource
    for i, segment in enumerate(parts):
        if desc is None:
            break
        plan = layout(desc)
        base = next((k for k, raw in plan.raw.items() if raw == segment), None)
        if base is not None:
            parts[i] = base
        field = desc.fields_by_name[segment]
        desc = _child(field)
    return ".".join(parts)


def _raw_companion(path: str, resource: Descriptor) -> str | None:
    """The ``x_raw`` beside a masked enum ``x``. A literal newer than the contract is the
    enum's value as much as a known one (enum unset, literal in ``x_raw``): a mask naming
    ``x`` keeps it then, and only then, so known values answer exactly the mask."""
    parts = path.split(".")
    desc: Descriptor | None = resource
    for segment in parts[:-1]:
        field = desc.fields_by_name.get(segment) if desc is not None else None
        desc = _child(field) if field is not None else None
    if desc is None:
        return None
    raw = layout(desc).raw.get(parts[-1])
    return ".".join([*parts[:-1], raw]) if raw else None


def _keep_newer_literal(source: Message, out: Message, enum_path: str, raw_path: str) -> None:
    *parents, enum_name = enum_path.split(".")
    raw_name = raw_path.rsplit(".", 1)[-1]
    src: Message = source
    for name in parents:
        if not src.HasField(name):
            return
        src = getattr(src, name)
    literal = getattr(src, raw_name)
    if getattr(src, enum_name) != 0 or not literal:
        return
    dst: Message = out
    for name in parents:
        dst = getattr(dst, name)
    setattr(dst, raw_name, literal)


def _contract_path(json_path: str, resource: Descriptor) -> str:
    """The contract path a changed JSON path falls under (see module docstring)."""
    out: list[str] = []
    desc: Descriptor | None = resource
    for segment in json_path.split("."):
        if desc is None:
            break
        field = layout(desc).fields.get(segment)
        if field is None:
            break  # unknown, extra_fields or a hook's union: the parent as a whole
        out.append(segment)
        desc = _child(field)
    return ".".join(out)
