"""Split a CSV document into chunks that each end on a record boundary."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["record_chunks"]


def record_chunks(text: str, max_bytes: int) -> Iterator[str]:
    """Yield consecutive slices of ``text`` of at most ``max_bytes`` UTF-8 bytes,
    each ending after a record's line break (a newline outside quotes).

    A single record longer than ``max_bytes`` is yielded alone, whole: a
    record is never split. Concatenating the chunks gives ``text`` back.
    """
    start = 0  # start of the current chunk
    size = 0  # bytes in text[start:pos]
    pos = 0
    n = len(text)
    while pos < n:
        end = _record_end(text, pos)
        record_bytes = len(text[pos:end].encode())
        if size and size + record_bytes > max_bytes:
            yield text[start:pos]
            start, size = pos, 0
        size += record_bytes
        pos = end
    if start < n:
        yield text[start:]


def _record_end(text: str, pos: int) -> int:
    """Index just past the record starting at ``pos`` (past its newline, if any)."""
    in_quotes = False
    n = len(text)
    while True:
        quote = text.find('"', pos)
        newline = text.find("\n", pos)
        if newline < 0:
            return n
        if in_quotes:
            if quote < 0:
                return n  # unbalanced quote: the rest is one record
            in_quotes = False
            pos = quote + 1
        elif 0 <= quote < newline:
            in_quotes = True
            pos = quote + 1
        else:
            return newline + 1
