"""A window of a campaign's rows, by offset, from an upstream that pages by number.

The contract pages rows by offset (``page * page_size``, or a ``page_token`` whose
``page_size`` may differ from the one it was issued with); the upstream pages by page
number. An aligned window is one upstream page; a misaligned one is the end of one page
and the start of the next. An unpaged answer (SDK 0.5.0's drift: every row at once) is
sliced here, so ``page_size`` holds either way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..upstream import MalformedResponse, RevoxClient, unpaged

__all__ = ["RowsPage", "rows_window"]


@dataclass(frozen=True, slots=True)
class RowsPage:
    body: dict[str, Any]  # the upstream's answer, ``rows`` cut to the window
    more: bool  # rows may follow the window


async def rows_window(
    client: RevoxClient, api_key: str, campaign_id: str, filters: dict[str, Any],
    *, offset: int, size: int, timeout: float | None,
) -> RowsPage:
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout

    async def page(number: int) -> dict[str, Any]:
        left = None if deadline is None else max(0.0, deadline - loop.time())
        body = await client.get_rows(
            api_key, campaign_id, page=number, page_size=size, timeout=left, **filters
        )
        rows = body.get("rows")
        if rows is None:  # an empty listing spelled null or left out
            return {**body, "rows": []}
        if not isinstance(rows, list):
            raise MalformedResponse("rows response has no 'rows' array", status=200)
        return body

    first, skip = divmod(offset, size)
    body = await page(first)
    rows: list[Any] = body["rows"]
    if unpaged(body):  # every row, whatever was asked
        window = rows[offset:offset + size]
        return RowsPage({**body, "rows": window}, offset + size < len(rows))
    if skip:
        rows = rows[skip:]
        if len(body["rows"]) >= size:
            rows += (await page(first + 1))["rows"][:skip]
        body = {**body, "rows": rows}
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool):
        more = bool(rows) and offset + len(rows) < total
    else:
        more = len(rows) >= size
    return RowsPage(body, more)
