"""The upstream's string literals for each enum of the contract, read from the contract.

Enum value names cannot hold literals such as ``ios-screening-filter`` or
``gpt-4.1``, so each value carries its literal as the custom option
``(revox.campaigns.v1.literal)`` (``protos/revox/campaigns/v1/options.proto``);
the tables here are built from those descriptors once, so any language's client
can map ``*_raw`` fields exactly as the gateway does. A literal missing from a
table is newer than the contract: it decodes to the enum's ``*_UNSPECIFIED``
value while the ``*_raw`` field keeps it. Enums without literals (the gateway's
own, such as ``RowChangeType``) have no table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

from generated.revox.campaigns.v1 import (
    assistant_pb2,
    campaign_pb2,
    campaign_service_pb2,
    options_pb2,
    row_pb2,
)

__all__ = ["LITERALS", "literal_of", "number_of"]

_FILES: tuple[FileDescriptor, ...] = (
    assistant_pb2.DESCRIPTOR,
    campaign_pb2.DESCRIPTOR,
    campaign_service_pb2.DESCRIPTOR,
    row_pb2.DESCRIPTOR,
)


_OPTION = options_pb2.DESCRIPTOR.extensions_by_name["literal"].full_name


def _enums(messages: Iterable[Descriptor]) -> Iterator[EnumDescriptor]:
    for message in messages:
        yield from message.enum_types
        yield from _enums(message.nested_types)


def _table(enum: EnumDescriptor) -> dict[str, int]:
    table: dict[str, int] = {}
    for value in enum.values:
        for option, literal in value.GetOptions().ListFields():
            if option.full_name == _OPTION:
                table[literal] = value.number
    return table


def _all_enums() -> Iterator[EnumDescriptor]:
    for file in _FILES:
        yield from file.enum_types_by_name.values()
        yield from _enums(file.message_types_by_name.values())


LITERALS: Mapping[str, Mapping[str, int]] = {
    enum.full_name: table for enum in _all_enums() if (table := _table(enum))
}

_BY_NUMBER: dict[str, dict[int, str]] = {
    name: {number: literal for literal, number in table.items()} for name, table in LITERALS.items()
}


def number_of(enum: EnumDescriptor, literal: str) -> int:
    """The enum number of an upstream literal; 0 (``*_UNSPECIFIED``) if unknown."""
    return LITERALS[enum.full_name].get(literal, 0)


def literal_of(enum: EnumDescriptor, number: int) -> str | None:
    """The upstream literal of an enum number; None for ``*_UNSPECIFIED``."""
    return _BY_NUMBER[enum.full_name].get(number)
