"""Translation between the Revox API's JSON and the contract's messages.

- ``decode`` / ``encode``: upstream JSON objects ⇄ resource messages, lossless
  under the drift rules (unknown keys in ``extra_fields``, literals in ``*_raw``).
- ``LITERALS``, ``literal_of``, ``number_of``: the enum literal tables.
"""

from __future__ import annotations

from ._codec import decode, decode_into, encode
from ._literals import LITERALS, literal_of, number_of

__all__ = ["LITERALS", "decode", "decode_into", "encode", "literal_of", "number_of"]
