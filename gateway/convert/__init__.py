"""Translation between the Revox API's JSON and the contract's messages.

- ``decode`` / ``encode``: upstream JSON objects ⇄ resource messages, lossless
  under the drift rules (unknown keys in ``extra_fields``, literals in ``*_raw``).
- ``create_body``, ``rows_filters``: requests → upstream body and query.
- ``record_chunks``: a CSV export in record-aligned chunks.
- ``ReadMask``, ``mask_violations``: read masks (AIP-157), checked and applied.
- ``LITERALS``, ``literal_of``, ``number_of``: the enum literal tables.
"""

from __future__ import annotations

from ._codec import decode, decode_into, encode, struct_json
from ._csv_chunks import record_chunks
from ._literals import LITERALS, literal_of, number_of
from ._masks import ReadMask, mask_violations
from ._requests import DEFAULT_PAGE_SIZE, create_body, result_literal, rows_filters, status_literals

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "LITERALS",
    "ReadMask",
    "create_body",
    "decode",
    "decode_into",
    "encode",
    "literal_of",
    "mask_violations",
    "number_of",
    "record_chunks",
    "result_literal",
    "rows_filters",
    "status_literals",
    "struct_json",
]
