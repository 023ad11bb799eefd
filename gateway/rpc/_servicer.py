"""CampaignService: each rpc validates, authenticates, delegates, renders.

The methods are the proto's names. Errors are not handled here: the handler
table in ``_handlers`` maps whatever they raise through ``status_for``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import empty_pb2

from generated.revox.campaigns.v1 import campaign_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from .. import convert
from ..limits import Limits
from ..service import Caller, CampaignRead, Campaigns
from . import _page_tokens as tokens
from . import _validation as check
from ._auth import api_key_from

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]

__all__ = ["CampaignServicer", "Watcher"]

CACHE_HEADER = "x-revox-cache"
_DEFAULT_CHUNK = 1024 * 1024


class Watcher(Protocol):
    """What WatchCampaignRows delegates to (``gateway.watch``)."""

    def watch(
        self, caller: Caller, request: pb.WatchCampaignRowsRequest, context: object = None,
        *, raw: bool = False,
    ) -> AsyncIterator[pb.WatchCampaignRowsResponse | bytes]: ...


class CampaignServicer:
    def __init__(
        self,
        campaigns: Campaigns,
        *,
        default_api_key: str | None,
        watcher: Watcher | None = None,
        rendered_memo: int = 4096,
        limits: Limits | None = None,
    ) -> None:
        self._campaigns = campaigns
        self._limits = limits  # gateway.limits: per-key rate, creates in flight
        self._default_key = default_api_key
        self._watcher = watcher
        # Serialized Campaign per (tenant, id, fetched_at): a cache hit answers
        # with bytes, skipping JSON → proto → wire on the hot path.
        self._rendered: OrderedDict[tuple[str, str, float], bytes] = OrderedDict()
        self._rendered_size = rendered_memo

    def _caller(self, context: Context, *, rated: bool = True) -> Caller:
        """The caller; ``rated``: the call takes a token of its key's rate limit (every
        rpc but WatchCampaignRows, whose streams have their own caps)."""
        key = api_key_from(context.invocation_metadata(), self._default_key)
        caller = self._campaigns.caller(key)
        if rated and self._limits is not None:
            self._limits.take(caller.tenant)
        return caller

    async def CreateCampaign(
        self, request: pb.CreateCampaignRequest, context: Context
    ) -> campaign_pb2.Campaign:
        check.check_create(request)
        caller = self._caller(context)
        with self._limits.creating(len(request.contacts)) if self._limits else nullcontext():
            campaign = await self._campaigns.create(
                caller,
                convert.create_body(request),
                request_id=request.request_id,
                timeout=context.time_remaining(),
            )
        return convert.decode(campaign, campaign_pb2.Campaign)

    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: Context
    ) -> pb.ListCampaignsResponse:
        check.check_list_campaigns(request)
        offset = tokens.campaigns_offset(request.page_token)
        caller = self._caller(context)
        campaigns, state = await self._campaigns.list(
            caller, skip_cache=request.skip_cache, timeout=context.time_remaining()
        )
        context.set_trailing_metadata(((CACHE_HEADER, state),))
        size = min(request.page_size or check.MAX_PAGE_SIZE, check.MAX_PAGE_SIZE)
        page = campaigns[offset : offset + size]
        response = pb.ListCampaignsResponse()
        mask = convert.ReadMask.of(request.read_mask, check.CAMPAIGN)
        for item in page:
            if mask.paths:
                response.campaigns.append(mask.project(convert.decode(item, campaign_pb2.Campaign)))
            else:
                convert.decode_into(item, response.campaigns.add())
        if offset + size < len(campaigns):
            response.next_page_token = tokens.campaigns_token(offset + size)
        return response

    async def GetCampaign(
        self, request: pb.GetCampaignRequest, context: Context
    ) -> bytes:
        check.check_get(request)
        caller = self._caller(context)
        read = await self._campaigns.get(
            caller, request.id, skip_cache=request.skip_cache, timeout=context.time_remaining()
        )
        context.set_trailing_metadata(((CACHE_HEADER, read.state),))
        if request.read_mask.paths:
            mask = convert.ReadMask.of(request.read_mask, check.CAMPAIGN)
            return mask.project(convert.decode(read.payload, campaign_pb2.Campaign)).SerializeToString()
        return self._render(caller, request.id, read)

    def _render(self, caller: Caller, campaign_id: str, read: CampaignRead) -> bytes:
        key = (caller.tenant, campaign_id, read.fetched_at)
        data = self._rendered.get(key)
        if data is None:
            data = convert.decode(read.payload, campaign_pb2.Campaign).SerializeToString()
            self._rendered[key] = data
            if len(self._rendered) > self._rendered_size:
                self._rendered.popitem(last=False)
        return data

    async def DeleteCampaign(
        self, request: pb.DeleteCampaignRequest, context: Context
    ) -> empty_pb2.Empty:
        check.check_id("id", request.id)
        try:
            await self._campaigns.delete(self._caller(context), request.id,
                                         timeout=context.time_remaining())
        finally:
            if self._limits is not None:  # the id may name another campaign soon
                self._limits.forget(request.id)
        return empty_pb2.Empty()

    async def CancelCampaign(
        self, request: pb.CancelCampaignRequest, context: Context
    ) -> campaign_pb2.Campaign:
        check.check_id("id", request.id)
        campaign = await self._campaigns.cancel(
            self._caller(context), request.id, timeout=context.time_remaining()
        )
        return convert.decode(campaign, campaign_pb2.Campaign)

    async def ListCampaignRows(
        self, request: pb.ListCampaignRowsRequest, context: Context
    ) -> pb.ListCampaignRowsResponse:
        check.check_list_rows(request)
        bound_to = tokens.rows_fingerprint(
            request.campaign_id, request.query, request.result, request.statuses
        )
        size = min(request.page_size or convert.DEFAULT_PAGE_SIZE, check.MAX_PAGE_SIZE)
        if request.page_token:
            offset = tokens.rows_offset(request.page_token, bound_to)
        else:
            offset = request.page * size
        caller = self._caller(context)
        answer = await self._campaigns.rows(
            caller, request.campaign_id, convert.rows_filters(request),
            offset=offset, size=size, timeout=context.time_remaining(),
        )
        response = convert.decode(answer.body, pb.ListCampaignRowsResponse)
        mask = convert.ReadMask.of(request.read_mask, check.ROW)
        if mask.paths:
            masked = [mask.project(row) for row in response.rows]
            del response.rows[:]
            response.rows.extend(masked)
        if answer.more:
            response.next_page_token = tokens.rows_token(offset + len(response.rows), bound_to)
        return response

    async def ExportCampaignRows(
        self, request: pb.ExportCampaignRowsRequest, context: Context
    ) -> AsyncIterator[pb.ExportCampaignRowsResponse]:
        check.check_export(request)
        export = await self._campaigns.export(
            self._caller(context), request.campaign_id, timeout=context.time_remaining()
        )
        filename = export.get("filename")
        first = pb.ExportCampaignRowsResponse(filename=filename if isinstance(filename, str) else "")
        chunks = convert.record_chunks(export["csv"], request.max_chunk_bytes or _DEFAULT_CHUNK)
        chunk = next(chunks, "")
        first.csv_chunk = chunk
        yield first
        for chunk in chunks:
            yield pb.ExportCampaignRowsResponse(csv_chunk=chunk)

    def WatchCampaignRows(
        self, request: pb.WatchCampaignRowsRequest, context: Context
    ) -> AsyncIterator[pb.WatchCampaignRowsResponse | bytes]:
        # Not a generator itself: the hub's stream is handed over as is (one generator
        # layer less per event per subscriber); events arrive pre-serialized (raw).
        check.check_watch(request)
        caller = self._caller(context, rated=False)
        if self._watcher is None:
            raise NotImplementedError("WatchCampaignRows is not enabled on this gateway")
        return self._watcher.watch(caller, request, context, raw=True)
