"""PageBase: whether the upstream's ``page`` counts from 0 or from 1, learnt from its answers.

The API reference says ``page: number`` and nothing more. Our simulator counts from 0 by
default; an upstream written from the same reference may count from 1, and then page 0 is
empty (or refused, or served as page 1) while ``total`` says otherwise. The gateway always
speaks *logical* pages (0 = first) and this module turns them into the upstream's.

How the base is detected, on the first listing that can tell (``resolve``):

* page 0 refused (400/422) and page 1 accepted: 1;
* page 0 answered with ``"page": 1``: 1 (the upstream clamped 0 to its first page);
* page 0 empty while ``total`` > 0: 1;
* more rows than one page (by ``total``, or a full page when the answer has no ``total``):
  page 1 is fetched too; the same rows as page 0 mean 1, others 0.

A listing that fits on one page, or an empty campaign, cannot tell: the answer is right in
either base and the question stays open. Nor can an unpaged answer (SDK 0.5.0's rows: every
row, no ``page`` nor ``total``): it is passed on as it came, whatever page was asked, and
the caller slices it. Once learnt, the base is kept for the life of the
client (one client per upstream); a first page that comes back empty while ``total`` > 0 under
a learnt base puts it back in question (an upstream that was switched or redeployed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._errors import BadRequest

__all__ = ["PageBase", "RawPage", "unpaged"]

_log = logging.getLogger("gateway.upstream")

RawPage = Callable[[int], Awaitable[dict[str, Any]]]
"""Fetch one upstream page by the upstream's own number."""


def _rows(body: dict[str, Any]) -> list[Any]:
    rows = body.get("rows")
    return rows if isinstance(rows, list) else []


def _total(body: dict[str, Any]) -> int | None:
    total = body.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _ids(body: dict[str, Any]) -> list[object]:
    return [row.get("id") if isinstance(row, dict) else row for row in _rows(body)]


def unpaged(body: dict[str, Any]) -> bool:
    """SDK 0.5.0's rows answer: every row at once, no ``page`` nor ``total``."""
    return "page" not in body and "total" not in body


def _as_page(body: dict[str, Any], logical: int) -> dict[str, Any]:
    # The upstream's echo of ``page`` is in its own numbering (or clamped): say ours.
    return {**body, "page": logical} if "page" in body else body


def _first_page_lost(body: dict[str, Any]) -> bool:
    total = _total(body)
    return not _rows(body) and total is not None and total > 0


class PageBase:
    """The upstream's first page number: 0, 1, or None while not known yet."""

    def __init__(self, base: int | None = None) -> None:
        if base not in (None, 0, 1):
            raise ValueError("page base must be 0, 1 or None (detect)")
        self.value: int | None = base
        self._pinned = base is not None

    async def fetch(
        self, logical: int, raw: RawPage, page_size: int | None = None
    ) -> dict[str, Any]:
        """Logical page ``logical`` (0 = first), its ``page`` echo in logical numbering too.

        ``page_size``: what was asked, so that a full page without ``total`` is known to
        need the next one to tell the base."""
        if self.value is not None:
            body = await raw(logical + self.value)
            if logical == 0 and _first_page_lost(body) and not self._pinned:
                _log.warning("upstream's first page came back empty while total > 0: "
                             "detecting its page base again")
                self.value = None
            else:
                return _as_page(body, logical)
        body, base = await self._detect(raw, page_size)
        if base is None:
            if unpaged(body):  # every row whatever page was asked: the caller slices it
                return body
            # one page or none: the answer to page 0 holds every row, later pages none
            return _as_page(body if logical == 0 else {**body, "rows": []}, logical)
        if base != self.value:
            _log.info("upstream counts pages from %d", base)
        self.value = base
        if logical == 0:
            return _as_page(body, 0)
        return _as_page(await raw(logical + base), logical)

    async def _detect(
        self, raw: RawPage, page_size: int | None
    ) -> tuple[dict[str, Any], int | None]:
        """Page 0's answer (as logical page 0 when the base was found) and the base found."""
        try:
            zero = await raw(0)
        except BadRequest:
            one = await raw(1)  # a refusal of page 1 too is the caller's: it propagates
            return one, 1
        if unpaged(zero):
            return zero, None
        if zero.get("page") == 1:
            return zero, 1
        if _first_page_lost(zero):
            return await raw(1), 1
        total = _total(zero)
        rows = _rows(zero)
        if total is None:  # no count: only a full page says more rows may follow
            full = page_size is not None and len(rows) >= page_size > 0
            if not full:
                return zero, None
        elif not rows or total <= len(rows):
            return zero, None
        one = await raw(1)
        if _ids(one) == _ids(zero):
            return zero, 1  # page 0 was served as page 1
        return zero, 0

