"""Requests and assertions shared by the rpc tests."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from generated.revox.campaigns.v1 import assistant_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb


def create_request(n: int = 3, **fields: object) -> pb.CreateCampaignRequest:
    request = pb.CreateCampaignRequest(
        assistant_id="asst_demo",
        name="Spring outreach",
        contacts=[
            pb.Contact(to_phone_number=f"+3361234{i:04d}", prompt_variables={"first_name": f"Ada {i}"})
            for i in range(n)
        ],
        call_retry_config=assistant_pb2.CallRetryConfig(
            calling_windows=[
                assistant_pb2.CallingWindow(
                    calling_window_start_time="9am", calling_window_end_time="18:00", retry_delay_seconds=600
                )
            ],
            max_retry_attempts=2,
            timezone="Europe/Paris",
        ),
        max_concurrent_calls=2,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status"
    return status


def detail(error: grpc.aio.AioRpcError, kind: type) -> object | None:
    for any_ in rich_status(error).details:
        if any_.Is(kind.DESCRIPTOR):
            message = kind()
            any_.Unpack(message)
            return message
    return None


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    info = detail(error, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    return info


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    bad = detail(error, error_details_pb2.BadRequest)
    assert isinstance(bad, error_details_pb2.BadRequest), "no BadRequest detail"
    return [v.field for v in bad.field_violations]
