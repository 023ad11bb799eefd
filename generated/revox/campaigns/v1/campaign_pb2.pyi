import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from generated.revox.campaigns.v1 import assistant_pb2 as _assistant_pb2
from generated.revox.campaigns.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CampaignStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATUS_UNSPECIFIED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_DRAFT: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_RUNNING: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_PAUSED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_COMPLETED: _ClassVar[CampaignStatus]
CAMPAIGN_STATUS_UNSPECIFIED: CampaignStatus
CAMPAIGN_STATUS_DRAFT: CampaignStatus
CAMPAIGN_STATUS_RUNNING: CampaignStatus
CAMPAIGN_STATUS_PAUSED: CampaignStatus
CAMPAIGN_STATUS_COMPLETED: CampaignStatus

class Campaign(_message.Message):
    __slots__ = ("id", "assistant_id", "created_at", "is_cancelled", "name", "organization_id", "status", "status_raw", "updated_at", "assistant", "call_retry_config", "from_phone_number", "max_concurrent_calls", "row_stats", "scheduled_at", "extra_fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_RAW_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_FIELD_NUMBER: _ClassVar[int]
    CALL_RETRY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    FROM_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_CALLS_FIELD_NUMBER: _ClassVar[int]
    ROW_STATS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    assistant_id: str
    created_at: _timestamp_pb2.Timestamp
    is_cancelled: bool
    name: str
    organization_id: str
    status: CampaignStatus
    status_raw: str
    updated_at: _timestamp_pb2.Timestamp
    assistant: _assistant_pb2.Assistant
    call_retry_config: _assistant_pb2.CallRetryConfig
    from_phone_number: str
    max_concurrent_calls: int
    row_stats: RowStats
    scheduled_at: _timestamp_pb2.Timestamp
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., assistant_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_cancelled: _Optional[bool] = ..., name: _Optional[str] = ..., organization_id: _Optional[str] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., status_raw: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assistant: _Optional[_Union[_assistant_pb2.Assistant, _Mapping]] = ..., call_retry_config: _Optional[_Union[_assistant_pb2.CallRetryConfig, _Mapping]] = ..., from_phone_number: _Optional[str] = ..., max_concurrent_calls: _Optional[int] = ..., row_stats: _Optional[_Union[RowStats, _Mapping]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RowStats(_message.Message):
    __slots__ = ("calling", "completed", "failed", "pending", "retry", "total", "extra_fields")
    CALLING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    calling: int
    completed: int
    failed: int
    pending: int
    retry: int
    total: int
    extra_fields: _struct_pb2.Struct
    def __init__(self, calling: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., pending: _Optional[int] = ..., retry: _Optional[int] = ..., total: _Optional[int] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
