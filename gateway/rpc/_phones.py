"""Phone numbers of a create: E.164 syntax, and which contacts repeat a number.

A number passes ``is_e164`` only in its canonical shape (``+`` and digits), but
two such strings can still name one line: ``+330612345678`` keeps the French
trunk prefix ``0`` that ``+33612345678`` drops, and a dialler normalising
either calls the same person. ``normalised`` gives what ``phonenumbers``
would (``format_number(parse(n), E164)``) at a fraction of its cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["duplicates", "is_e164", "normalised"]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # not \d: other scripts' digits are not E.164


def _country_code_lengths() -> dict[str, int]:
    """The country code's length (1 to 3 digits) for each first three digits that
    start with one; the shortest known prefix wins, as in ``phonenumbers`` (country
    codes are prefix-free). A table: this runs for every contact of a create."""
    known = {str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
    out: dict[str, int] = {}
    for first in range(100, 1000):
        digits = str(first)
        n = next((n for n in (1, 2, 3) if digits[:n] in known), 0)
        if n:
            out[digits] = n
    return out


_CC_LENGTH = _country_code_lengths()


def _country_code_length(number: str) -> int:
    """Digits of ``number``'s country code; 0 when it starts with none."""
    return _CC_LENGTH.get(number[1:4], 0)


def is_e164(number: str) -> bool:
    """``+`` and 7–15 digits: a country code the numbering plan knows, then a national
    number of a length possible there (``phonenumbers.is_possible_number``, which the
    upstream applies: ``+674067490674906`` has a country code but is refused).

    Looked up in tables, not parsed: parsing every contact of a 10,000-row create cost
    more than the rest of the request. Only a number whose length is not possible as
    written pays for ``normalised`` (its trunk prefix may be what makes it too long).
    """
    if not _E164.fullmatch(number):
        return False
    n = _country_code_length(number)
    if not n:
        return False
    lengths = _possible_lengths(number[1 : 1 + n])
    return len(number) - 1 - n in lengths or len(normalised(number)) - 1 - n in lengths


@cache  # one entry per country code
def _possible_lengths(country_code: str) -> frozenset[int]:
    """Lengths of a national number possible under ``country_code`` (local-only ones
    too, as ``is_possible_number`` counts them), from its main region's metadata."""
    code = int(country_code)
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    desc = metadata.general_desc if metadata is not None else None
    if desc is None:
        return frozenset()
    return frozenset(n for n in (*(desc.possible_length or ()), *(desc.possible_length_local_only or ())) if n > 0)


@cache  # one entry per country code: a few hundred at most
def _trunk_prefix(country_code: str) -> re.Pattern[str] | None:
    code = int(country_code)
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(pattern) if pattern else None


def normalised(number: str) -> str:
    """The E.164 form ``phonenumbers`` gives ``number`` (which passes ``is_e164``).

    ``parse`` changes such a number only by stripping the national (trunk)
    prefix or carrier code its region's ``national_prefix_for_parsing`` matches
    at the start of the national part. Where that pattern does not match (or
    matches nothing and captures nothing), the number is already normal; only
    the rest (a few per cent of real numbers) pays for a full parse, ~30 µs.
    """
    n = _country_code_length(number)
    prefix = _trunk_prefix(number[1 : 1 + n])
    if prefix is None:
        return number
    match = prefix.match(number[1 + n :])
    if match is None or (match.end() == 0 and all(g is None for g in match.groups())):
        return number
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def duplicates(numbers: Iterable[tuple[int, str]]) -> Iterator[tuple[int, int]]:
    """``(index, first_index)`` for every number equal, once normalised, to an earlier one.

    ``numbers``: ``(index, number)`` of the numbers that passed ``is_e164``.
    """
    first: dict[str, int] = {}
    for i, number in numbers:
        seen = first.setdefault(normalised(number), i)
        if seen != i:
            yield i, seen
