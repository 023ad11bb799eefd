"""Which fields a message shows in upstream JSON, and where its drift goes.

Shared by the decoder and the encoder so both agree on one layout: an enum
with a ``*_raw`` companion keeps the literal there, ``extra_fields`` holds
what the contract does not know, and members of a real oneof stand for a
union under one JSON key (the message's hooks own them; proto3 ``optional``
makes synthetic ``_x`` oneofs, which are ordinary fields). ``next_page_token``
is the gateway's own (AIP-158 paging over the upstream's page numbers), never
upstream JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["EXTRA", "Layout", "layout"]

EXTRA = "extra_fields"
_GATEWAY_OWNED = frozenset({"next_page_token"})


@dataclass(frozen=True, slots=True)
class Layout:
    """How one message maps to JSON: its visible fields and drift slots."""

    fields: Mapping[str, FieldDescriptor]  # JSON key (= proto name) -> field
    raw: Mapping[str, str]  # enum field name -> its *_raw companion
    has_extra: bool


@cache
def layout(desc: Descriptor) -> Layout:
    names = set(desc.fields_by_name)
    raw = {
        f.name: f"{f.name}_raw"
        for f in desc.fields
        if f.type == FieldDescriptor.TYPE_ENUM and f"{f.name}_raw" in names
    }
    hidden = {EXTRA, *raw.values(), *_GATEWAY_OWNED}
    hidden |= {f.name for o in desc.oneofs if not o.name.startswith("_") for f in o.fields}
    fields = {f.name: f for f in desc.fields if f.name not in hidden}
    return Layout(fields=fields, raw=raw, has_extra=EXTRA in names)
