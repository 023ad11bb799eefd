import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from generated.revox.campaigns.v1 import assistant_pb2 as _assistant_pb2
from generated.revox.campaigns.v1 import campaign_pb2 as _campaign_pb2
from generated.revox.campaigns.v1 import options_pb2 as _options_pb2
from generated.revox.campaigns.v1 import row_pb2 as _row_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RowResultFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_RESULT_FILTER_UNSPECIFIED: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_IVR: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_VOICEMAIL: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_HUMAN: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_UNKNOWN: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_IOS_SCREENING_FILTER: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_ALL: _ClassVar[RowResultFilter]
    ROW_RESULT_FILTER_NONE: _ClassVar[RowResultFilter]

class RowChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_CHANGE_TYPE_UNSPECIFIED: _ClassVar[RowChangeType]
    ROW_CHANGE_TYPE_ROW_ADDED: _ClassVar[RowChangeType]
    ROW_CHANGE_TYPE_ROW_MODIFIED: _ClassVar[RowChangeType]
    ROW_CHANGE_TYPE_ROW_REMOVED: _ClassVar[RowChangeType]

class RowRemovalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_REMOVAL_REASON_UNSPECIFIED: _ClassVar[RowRemovalReason]
    ROW_REMOVAL_REASON_LEFT_FILTER: _ClassVar[RowRemovalReason]
    ROW_REMOVAL_REASON_DELETED: _ClassVar[RowRemovalReason]
ROW_RESULT_FILTER_UNSPECIFIED: RowResultFilter
ROW_RESULT_FILTER_IVR: RowResultFilter
ROW_RESULT_FILTER_VOICEMAIL: RowResultFilter
ROW_RESULT_FILTER_HUMAN: RowResultFilter
ROW_RESULT_FILTER_UNKNOWN: RowResultFilter
ROW_RESULT_FILTER_IOS_SCREENING_FILTER: RowResultFilter
ROW_RESULT_FILTER_ALL: RowResultFilter
ROW_RESULT_FILTER_NONE: RowResultFilter
ROW_CHANGE_TYPE_UNSPECIFIED: RowChangeType
ROW_CHANGE_TYPE_ROW_ADDED: RowChangeType
ROW_CHANGE_TYPE_ROW_MODIFIED: RowChangeType
ROW_CHANGE_TYPE_ROW_REMOVED: RowChangeType
ROW_REMOVAL_REASON_UNSPECIFIED: RowRemovalReason
ROW_REMOVAL_REASON_LEFT_FILTER: RowRemovalReason
ROW_REMOVAL_REASON_DELETED: RowRemovalReason

class CreateCampaignRequest(_message.Message):
    __slots__ = ("assistant_id", "contacts", "name", "call_retry_config", "from_phone_number", "max_concurrent_calls", "scheduled_at", "request_id", "allow_duplicate_contacts", "extra_fields")
    ASSISTANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CALL_RETRY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    FROM_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_CALLS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATE_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    assistant_id: str
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    name: str
    call_retry_config: _assistant_pb2.CallRetryConfig
    from_phone_number: str
    max_concurrent_calls: int
    scheduled_at: _timestamp_pb2.Timestamp
    request_id: str
    allow_duplicate_contacts: bool
    extra_fields: _struct_pb2.Struct
    def __init__(self, assistant_id: _Optional[str] = ..., contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., name: _Optional[str] = ..., call_retry_config: _Optional[_Union[_assistant_pb2.CallRetryConfig, _Mapping]] = ..., from_phone_number: _Optional[str] = ..., max_concurrent_calls: _Optional[int] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., allow_duplicate_contacts: _Optional[bool] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("to_phone_number", "prompt_variables")
    class PromptVariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TO_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    to_phone_number: str
    prompt_variables: _containers.ScalarMap[str, str]
    def __init__(self, to_phone_number: _Optional[str] = ..., prompt_variables: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "skip_cache", "read_mask")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKIP_CACHE_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    skip_cache: bool
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., skip_cache: _Optional[bool] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token", "extra_fields")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[_campaign_pb2.Campaign]
    next_page_token: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, campaigns: _Optional[_Iterable[_Union[_campaign_pb2.Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("id", "skip_cache", "read_mask")
    ID_FIELD_NUMBER: _ClassVar[int]
    SKIP_CACHE_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    id: str
    skip_cache: bool
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, id: _Optional[str] = ..., skip_cache: _Optional[bool] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteCampaignRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelCampaignRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListCampaignRowsRequest(_message.Message):
    __slots__ = ("campaign_id", "page", "page_size", "query", "result", "statuses", "page_token", "read_mask")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    page: int
    page_size: int
    query: str
    result: RowResultFilter
    statuses: _containers.RepeatedScalarFieldContainer[_row_pb2.CallStatus]
    page_token: str
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, campaign_id: _Optional[str] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., query: _Optional[str] = ..., result: _Optional[_Union[RowResultFilter, str]] = ..., statuses: _Optional[_Iterable[_Union[_row_pb2.CallStatus, str]]] = ..., page_token: _Optional[str] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListCampaignRowsResponse(_message.Message):
    __slots__ = ("page", "page_size", "rows", "total", "next_page_token", "extra_fields")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    page: int
    page_size: int
    rows: _containers.RepeatedCompositeFieldContainer[_row_pb2.Row]
    total: int
    next_page_token: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, page: _Optional[int] = ..., page_size: _Optional[int] = ..., rows: _Optional[_Iterable[_Union[_row_pb2.Row, _Mapping]]] = ..., total: _Optional[int] = ..., next_page_token: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ExportCampaignRowsRequest(_message.Message):
    __slots__ = ("campaign_id", "max_chunk_bytes")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    max_chunk_bytes: int
    def __init__(self, campaign_id: _Optional[str] = ..., max_chunk_bytes: _Optional[int] = ...) -> None: ...

class ExportCampaignRowsResponse(_message.Message):
    __slots__ = ("filename", "csv_chunk")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CSV_CHUNK_FIELD_NUMBER: _ClassVar[int]
    filename: str
    csv_chunk: str
    def __init__(self, filename: _Optional[str] = ..., csv_chunk: _Optional[str] = ...) -> None: ...

class WatchCampaignRowsRequest(_message.Message):
    __slots__ = ("campaign_id", "resume_token", "send_initial_snapshot", "statuses", "result", "query", "heartbeat_interval", "read_mask")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    resume_token: str
    send_initial_snapshot: bool
    statuses: _containers.RepeatedScalarFieldContainer[_row_pb2.CallStatus]
    result: RowResultFilter
    query: str
    heartbeat_interval: _duration_pb2.Duration
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, campaign_id: _Optional[str] = ..., resume_token: _Optional[str] = ..., send_initial_snapshot: _Optional[bool] = ..., statuses: _Optional[_Iterable[_Union[_row_pb2.CallStatus, str]]] = ..., result: _Optional[_Union[RowResultFilter, str]] = ..., query: _Optional[str] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class WatchCampaignRowsResponse(_message.Message):
    __slots__ = ("resume_token", "revision", "commit_time", "row_change", "snapshot_complete", "heartbeat")
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    ROW_CHANGE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    resume_token: str
    revision: int
    commit_time: _timestamp_pb2.Timestamp
    row_change: RowChange
    snapshot_complete: SnapshotComplete
    heartbeat: Heartbeat
    def __init__(self, resume_token: _Optional[str] = ..., revision: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., row_change: _Optional[_Union[RowChange, _Mapping]] = ..., snapshot_complete: _Optional[_Union[SnapshotComplete, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class RowChange(_message.Message):
    __slots__ = ("type", "row", "previous_status", "previous_status_raw", "previous_result", "previous_result_raw", "in_snapshot", "removal_reason")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_RAW_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RESULT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RESULT_RAW_FIELD_NUMBER: _ClassVar[int]
    IN_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    REMOVAL_REASON_FIELD_NUMBER: _ClassVar[int]
    type: RowChangeType
    row: _row_pb2.Row
    previous_status: _row_pb2.CallStatus
    previous_status_raw: str
    previous_result: _row_pb2.CallResult
    previous_result_raw: str
    in_snapshot: bool
    removal_reason: RowRemovalReason
    def __init__(self, type: _Optional[_Union[RowChangeType, str]] = ..., row: _Optional[_Union[_row_pb2.Row, _Mapping]] = ..., previous_status: _Optional[_Union[_row_pb2.CallStatus, str]] = ..., previous_status_raw: _Optional[str] = ..., previous_result: _Optional[_Union[_row_pb2.CallResult, str]] = ..., previous_result_raw: _Optional[str] = ..., in_snapshot: _Optional[bool] = ..., removal_reason: _Optional[_Union[RowRemovalReason, str]] = ...) -> None: ...

class SnapshotComplete(_message.Message):
    __slots__ = ("row_count",)
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    row_count: int
    def __init__(self, row_count: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("upstream_degraded", "last_poll_time", "detail", "campaign_final")
    UPSTREAM_DEGRADED_FIELD_NUMBER: _ClassVar[int]
    LAST_POLL_TIME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FINAL_FIELD_NUMBER: _ClassVar[int]
    upstream_degraded: bool
    last_poll_time: _timestamp_pb2.Timestamp
    detail: str
    campaign_final: bool
    def __init__(self, upstream_degraded: _Optional[bool] = ..., last_poll_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ..., campaign_final: _Optional[bool] = ...) -> None: ...
