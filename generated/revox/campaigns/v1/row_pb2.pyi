import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from generated.revox.campaigns.v1 import assistant_pb2 as _assistant_pb2
from generated.revox.campaigns.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_STATUS_UNSPECIFIED: _ClassVar[CallStatus]
    CALL_STATUS_INITIALIZING: _ClassVar[CallStatus]
    CALL_STATUS_QUEUED_FOR_CALLING: _ClassVar[CallStatus]
    CALL_STATUS_CALLING: _ClassVar[CallStatus]
    CALL_STATUS_SCHEDULED: _ClassVar[CallStatus]
    CALL_STATUS_COMPLETED: _ClassVar[CallStatus]
    CALL_STATUS_CANCELLED: _ClassVar[CallStatus]
    CALL_STATUS_ERRORED: _ClassVar[CallStatus]
    CALL_STATUS_POST_PROCESSING: _ClassVar[CallStatus]
    CALL_STATUS_NOT_LAUNCHED: _ClassVar[CallStatus]
    CALL_STATUS_PAUSED: _ClassVar[CallStatus]

class CallDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_DIRECTION_UNSPECIFIED: _ClassVar[CallDirection]
    CALL_DIRECTION_INBOUND: _ClassVar[CallDirection]
    CALL_DIRECTION_OUTBOUND: _ClassVar[CallDirection]

class DialError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIAL_ERROR_UNSPECIFIED: _ClassVar[DialError]
    DIAL_ERROR_NUMBER_NON_ATTRIBUTED: _ClassVar[DialError]
    DIAL_ERROR_TOO_MANY_CALLS: _ClassVar[DialError]
    DIAL_ERROR_BUSY: _ClassVar[DialError]
    DIAL_ERROR_TEMPORARILY_UNAVAILABLE: _ClassVar[DialError]
    DIAL_ERROR_NO_ANSWER: _ClassVar[DialError]
    DIAL_ERROR_NO_INTERNATIONAL_PERMISSION: _ClassVar[DialError]
    DIAL_ERROR_PRECONDITION_FAILED: _ClassVar[DialError]
    DIAL_ERROR_NON_CLASSIFIED_ERROR: _ClassVar[DialError]

class CallResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_RESULT_UNSPECIFIED: _ClassVar[CallResult]
    CALL_RESULT_IVR: _ClassVar[CallResult]
    CALL_RESULT_VOICEMAIL: _ClassVar[CallResult]
    CALL_RESULT_HUMAN: _ClassVar[CallResult]
    CALL_RESULT_UNKNOWN: _ClassVar[CallResult]
    CALL_RESULT_IOS_SCREENING_FILTER: _ClassVar[CallResult]

class CallAttemptStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_ATTEMPT_STATUS_UNSPECIFIED: _ClassVar[CallAttemptStatus]
    CALL_ATTEMPT_STATUS_QUEUED: _ClassVar[CallAttemptStatus]
    CALL_ATTEMPT_STATUS_RINGING: _ClassVar[CallAttemptStatus]
    CALL_ATTEMPT_STATUS_ONGOING: _ClassVar[CallAttemptStatus]
    CALL_ATTEMPT_STATUS_COMPLETED: _ClassVar[CallAttemptStatus]
    CALL_ATTEMPT_STATUS_ERROR: _ClassVar[CallAttemptStatus]

class EndedBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENDED_BY_UNSPECIFIED: _ClassVar[EndedBy]
    ENDED_BY_AGENT: _ClassVar[EndedBy]
    ENDED_BY_USER: _ClassVar[EndedBy]
    ENDED_BY_SYSTEM: _ClassVar[EndedBy]

class TranscriptRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSCRIPT_ROLE_UNSPECIFIED: _ClassVar[TranscriptRole]
    TRANSCRIPT_ROLE_USER: _ClassVar[TranscriptRole]
    TRANSCRIPT_ROLE_ASSISTANT: _ClassVar[TranscriptRole]
    TRANSCRIPT_ROLE_TOOL: _ClassVar[TranscriptRole]
CALL_STATUS_UNSPECIFIED: CallStatus
CALL_STATUS_INITIALIZING: CallStatus
CALL_STATUS_QUEUED_FOR_CALLING: CallStatus
CALL_STATUS_CALLING: CallStatus
CALL_STATUS_SCHEDULED: CallStatus
CALL_STATUS_COMPLETED: CallStatus
CALL_STATUS_CANCELLED: CallStatus
CALL_STATUS_ERRORED: CallStatus
CALL_STATUS_POST_PROCESSING: CallStatus
CALL_STATUS_NOT_LAUNCHED: CallStatus
CALL_STATUS_PAUSED: CallStatus
CALL_DIRECTION_UNSPECIFIED: CallDirection
CALL_DIRECTION_INBOUND: CallDirection
CALL_DIRECTION_OUTBOUND: CallDirection
DIAL_ERROR_UNSPECIFIED: DialError
DIAL_ERROR_NUMBER_NON_ATTRIBUTED: DialError
DIAL_ERROR_TOO_MANY_CALLS: DialError
DIAL_ERROR_BUSY: DialError
DIAL_ERROR_TEMPORARILY_UNAVAILABLE: DialError
DIAL_ERROR_NO_ANSWER: DialError
DIAL_ERROR_NO_INTERNATIONAL_PERMISSION: DialError
DIAL_ERROR_PRECONDITION_FAILED: DialError
DIAL_ERROR_NON_CLASSIFIED_ERROR: DialError
CALL_RESULT_UNSPECIFIED: CallResult
CALL_RESULT_IVR: CallResult
CALL_RESULT_VOICEMAIL: CallResult
CALL_RESULT_HUMAN: CallResult
CALL_RESULT_UNKNOWN: CallResult
CALL_RESULT_IOS_SCREENING_FILTER: CallResult
CALL_ATTEMPT_STATUS_UNSPECIFIED: CallAttemptStatus
CALL_ATTEMPT_STATUS_QUEUED: CallAttemptStatus
CALL_ATTEMPT_STATUS_RINGING: CallAttemptStatus
CALL_ATTEMPT_STATUS_ONGOING: CallAttemptStatus
CALL_ATTEMPT_STATUS_COMPLETED: CallAttemptStatus
CALL_ATTEMPT_STATUS_ERROR: CallAttemptStatus
ENDED_BY_UNSPECIFIED: EndedBy
ENDED_BY_AGENT: EndedBy
ENDED_BY_USER: EndedBy
ENDED_BY_SYSTEM: EndedBy
TRANSCRIPT_ROLE_UNSPECIFIED: TranscriptRole
TRANSCRIPT_ROLE_USER: TranscriptRole
TRANSCRIPT_ROLE_ASSISTANT: TranscriptRole
TRANSCRIPT_ROLE_TOOL: TranscriptRole

class Row(_message.Message):
    __slots__ = ("id", "input_data", "phone_number", "row_index", "call", "extra_fields")
    class InputDataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_DATA_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ROW_INDEX_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    input_data: _containers.ScalarMap[str, str]
    phone_number: str
    row_index: int
    call: Call
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., input_data: _Optional[_Mapping[str, str]] = ..., phone_number: _Optional[str] = ..., row_index: _Optional[int] = ..., call: _Optional[_Union[Call, _Mapping]] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Call(_message.Message):
    __slots__ = ("id", "assistant", "call_attempts", "call_retry_config", "calls_count", "campaign", "created_at", "direction", "direction_raw", "first_sentence_delay_ms", "from_phone_number", "is_cancelled", "is_completed", "last_call_attempt", "llm_model", "metadata", "organization_id", "scheduled_at", "status", "status_raw", "to_phone_number", "extra_fields")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_FIELD_NUMBER: _ClassVar[int]
    CALL_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CALL_RETRY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CALLS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_RAW_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENTENCE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    FROM_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    IS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    IS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    LAST_CALL_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_RAW_FIELD_NUMBER: _ClassVar[int]
    TO_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    assistant: _assistant_pb2.Assistant
    call_attempts: _containers.RepeatedCompositeFieldContainer[CallAttempt]
    call_retry_config: _assistant_pb2.CallRetryConfig
    calls_count: int
    campaign: CampaignRef
    created_at: _timestamp_pb2.Timestamp
    direction: CallDirection
    direction_raw: str
    first_sentence_delay_ms: int
    from_phone_number: str
    is_cancelled: bool
    is_completed: bool
    last_call_attempt: CallAttempt
    llm_model: _assistant_pb2.LlmModel
    metadata: _containers.ScalarMap[str, str]
    organization_id: str
    scheduled_at: _timestamp_pb2.Timestamp
    status: CallStatus
    status_raw: str
    to_phone_number: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., assistant: _Optional[_Union[_assistant_pb2.Assistant, _Mapping]] = ..., call_attempts: _Optional[_Iterable[_Union[CallAttempt, _Mapping]]] = ..., call_retry_config: _Optional[_Union[_assistant_pb2.CallRetryConfig, _Mapping]] = ..., calls_count: _Optional[int] = ..., campaign: _Optional[_Union[CampaignRef, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., direction: _Optional[_Union[CallDirection, str]] = ..., direction_raw: _Optional[str] = ..., first_sentence_delay_ms: _Optional[int] = ..., from_phone_number: _Optional[str] = ..., is_cancelled: _Optional[bool] = ..., is_completed: _Optional[bool] = ..., last_call_attempt: _Optional[_Union[CallAttempt, _Mapping]] = ..., llm_model: _Optional[_Union[_assistant_pb2.LlmModel, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., organization_id: _Optional[str] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[CallStatus, str]] = ..., status_raw: _Optional[str] = ..., to_phone_number: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CampaignRef(_message.Message):
    __slots__ = ("id", "name", "extra_fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CallAttempt(_message.Message):
    __slots__ = ("id", "answered_at", "dial_error", "dial_error_raw", "ended_at", "phone_number", "recording_url", "result", "result_raw", "started_at", "status", "status_raw", "end_reason", "ended_by", "ended_by_raw", "structured_output", "transcript", "extra_fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    DIAL_ERROR_FIELD_NUMBER: _ClassVar[int]
    DIAL_ERROR_RAW_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RECORDING_URL_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULT_RAW_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_RAW_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    ENDED_BY_FIELD_NUMBER: _ClassVar[int]
    ENDED_BY_RAW_FIELD_NUMBER: _ClassVar[int]
    STRUCTURED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    answered_at: _timestamp_pb2.Timestamp
    dial_error: DialError
    dial_error_raw: str
    ended_at: _timestamp_pb2.Timestamp
    phone_number: str
    recording_url: str
    result: CallResult
    result_raw: str
    started_at: _timestamp_pb2.Timestamp
    status: CallAttemptStatus
    status_raw: str
    end_reason: str
    ended_by: EndedBy
    ended_by_raw: str
    structured_output: _struct_pb2.Struct
    transcript: _containers.RepeatedCompositeFieldContainer[TranscriptEntry]
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dial_error: _Optional[_Union[DialError, str]] = ..., dial_error_raw: _Optional[str] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., phone_number: _Optional[str] = ..., recording_url: _Optional[str] = ..., result: _Optional[_Union[CallResult, str]] = ..., result_raw: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[CallAttemptStatus, str]] = ..., status_raw: _Optional[str] = ..., end_reason: _Optional[str] = ..., ended_by: _Optional[_Union[EndedBy, str]] = ..., ended_by_raw: _Optional[str] = ..., structured_output: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., transcript: _Optional[_Iterable[_Union[TranscriptEntry, _Mapping]]] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TranscriptEntry(_message.Message):
    __slots__ = ("content", "role", "role_raw", "tool_arguments_object", "tool_arguments_text", "tool_is_error", "tool_name", "extra_fields")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_RAW_FIELD_NUMBER: _ClassVar[int]
    TOOL_ARGUMENTS_OBJECT_FIELD_NUMBER: _ClassVar[int]
    TOOL_ARGUMENTS_TEXT_FIELD_NUMBER: _ClassVar[int]
    TOOL_IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    content: str
    role: TranscriptRole
    role_raw: str
    tool_arguments_object: _struct_pb2.Struct
    tool_arguments_text: str
    tool_is_error: bool
    tool_name: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, content: _Optional[str] = ..., role: _Optional[_Union[TranscriptRole, str]] = ..., role_raw: _Optional[str] = ..., tool_arguments_object: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tool_arguments_text: _Optional[str] = ..., tool_is_error: _Optional[bool] = ..., tool_name: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
