import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from generated.revox.campaigns.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackgroundSound(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKGROUND_SOUND_UNSPECIFIED: _ClassVar[BackgroundSound]
    BACKGROUND_SOUND_AUDIO_OFFICE_OGG: _ClassVar[BackgroundSound]

class FirstSentenceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIRST_SENTENCE_MODE_UNSPECIFIED: _ClassVar[FirstSentenceMode]
    FIRST_SENTENCE_MODE_GENERATED: _ClassVar[FirstSentenceMode]
    FIRST_SENTENCE_MODE_STATIC: _ClassVar[FirstSentenceMode]
    FIRST_SENTENCE_MODE_NONE: _ClassVar[FirstSentenceMode]

class LlmModelName(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LLM_MODEL_NAME_UNSPECIFIED: _ClassVar[LlmModelName]
    LLM_MODEL_NAME_GPT_4_1: _ClassVar[LlmModelName]
    LLM_MODEL_NAME_MINISTRAL_3_8B_INSTRUCT: _ClassVar[LlmModelName]

class StructuredOutputType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRUCTURED_OUTPUT_TYPE_UNSPECIFIED: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_STRING: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_NUMBER: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_BOOLEAN: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_ENUM: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_DATE: _ClassVar[StructuredOutputType]
    STRUCTURED_OUTPUT_TYPE_DATETIME: _ClassVar[StructuredOutputType]

class VoiceProvider(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOICE_PROVIDER_UNSPECIFIED: _ClassVar[VoiceProvider]
    VOICE_PROVIDER_CARTESIA: _ClassVar[VoiceProvider]
    VOICE_PROVIDER_ELEVENLABS: _ClassVar[VoiceProvider]
    VOICE_PROVIDER_GRADIUM: _ClassVar[VoiceProvider]

class FaqSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAQ_SOURCE_UNSPECIFIED: _ClassVar[FaqSource]
    FAQ_SOURCE_HUMAN: _ClassVar[FaqSource]
    FAQ_SOURCE_AI: _ClassVar[FaqSource]
BACKGROUND_SOUND_UNSPECIFIED: BackgroundSound
BACKGROUND_SOUND_AUDIO_OFFICE_OGG: BackgroundSound
FIRST_SENTENCE_MODE_UNSPECIFIED: FirstSentenceMode
FIRST_SENTENCE_MODE_GENERATED: FirstSentenceMode
FIRST_SENTENCE_MODE_STATIC: FirstSentenceMode
FIRST_SENTENCE_MODE_NONE: FirstSentenceMode
LLM_MODEL_NAME_UNSPECIFIED: LlmModelName
LLM_MODEL_NAME_GPT_4_1: LlmModelName
LLM_MODEL_NAME_MINISTRAL_3_8B_INSTRUCT: LlmModelName
STRUCTURED_OUTPUT_TYPE_UNSPECIFIED: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_STRING: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_NUMBER: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_BOOLEAN: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_ENUM: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_DATE: StructuredOutputType
STRUCTURED_OUTPUT_TYPE_DATETIME: StructuredOutputType
VOICE_PROVIDER_UNSPECIFIED: VoiceProvider
VOICE_PROVIDER_CARTESIA: VoiceProvider
VOICE_PROVIDER_ELEVENLABS: VoiceProvider
VOICE_PROVIDER_GRADIUM: VoiceProvider
FAQ_SOURCE_UNSPECIFIED: FaqSource
FAQ_SOURCE_HUMAN: FaqSource
FAQ_SOURCE_AI: FaqSource

class Assistant(_message.Message):
    __slots__ = ("id", "background_sound", "background_sound_raw", "calendly", "call_retry_config", "created_at", "end_of_call_sentence", "first_sentence", "first_sentence_delay_ms", "first_sentence_mode", "first_sentence_mode_raw", "ivr_navigation_enabled", "llm_model", "max_call_duration_secs", "name", "organization_id", "prompt", "structured_output_config", "transfer_phone_number", "updated_at", "voice", "voicemail_message", "webhook_url", "faq_items", "pending_faq_count", "extra_fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_SOUND_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_SOUND_RAW_FIELD_NUMBER: _ClassVar[int]
    CALENDLY_FIELD_NUMBER: _ClassVar[int]
    CALL_RETRY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    END_OF_CALL_SENTENCE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENTENCE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENTENCE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENTENCE_MODE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SENTENCE_MODE_RAW_FIELD_NUMBER: _ClassVar[int]
    IVR_NAVIGATION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_CALL_DURATION_SECS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    STRUCTURED_OUTPUT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    VOICEMAIL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    FAQ_ITEMS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FAQ_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    background_sound: BackgroundSound
    background_sound_raw: str
    calendly: Calendly
    call_retry_config: CallRetryConfig
    created_at: _timestamp_pb2.Timestamp
    end_of_call_sentence: str
    first_sentence: str
    first_sentence_delay_ms: int
    first_sentence_mode: FirstSentenceMode
    first_sentence_mode_raw: str
    ivr_navigation_enabled: bool
    llm_model: LlmModel
    max_call_duration_secs: float
    name: str
    organization_id: str
    prompt: str
    structured_output_config: _containers.RepeatedCompositeFieldContainer[StructuredOutputField]
    transfer_phone_number: str
    updated_at: _timestamp_pb2.Timestamp
    voice: Voice
    voicemail_message: str
    webhook_url: str
    faq_items: _containers.RepeatedCompositeFieldContainer[FaqItem]
    pending_faq_count: int
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., background_sound: _Optional[_Union[BackgroundSound, str]] = ..., background_sound_raw: _Optional[str] = ..., calendly: _Optional[_Union[Calendly, _Mapping]] = ..., call_retry_config: _Optional[_Union[CallRetryConfig, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_of_call_sentence: _Optional[str] = ..., first_sentence: _Optional[str] = ..., first_sentence_delay_ms: _Optional[int] = ..., first_sentence_mode: _Optional[_Union[FirstSentenceMode, str]] = ..., first_sentence_mode_raw: _Optional[str] = ..., ivr_navigation_enabled: _Optional[bool] = ..., llm_model: _Optional[_Union[LlmModel, _Mapping]] = ..., max_call_duration_secs: _Optional[float] = ..., name: _Optional[str] = ..., organization_id: _Optional[str] = ..., prompt: _Optional[str] = ..., structured_output_config: _Optional[_Iterable[_Union[StructuredOutputField, _Mapping]]] = ..., transfer_phone_number: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., voice: _Optional[_Union[Voice, _Mapping]] = ..., voicemail_message: _Optional[str] = ..., webhook_url: _Optional[str] = ..., faq_items: _Optional[_Iterable[_Union[FaqItem, _Mapping]]] = ..., pending_faq_count: _Optional[int] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Calendly(_message.Message):
    __slots__ = ("connection_id", "event_type_id", "extra_fields")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    event_type_id: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, connection_id: _Optional[str] = ..., event_type_id: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CallRetryConfig(_message.Message):
    __slots__ = ("calling_windows", "max_retry_attempts", "timezone", "extra_fields")
    CALLING_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRY_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    calling_windows: _containers.RepeatedCompositeFieldContainer[CallingWindow]
    max_retry_attempts: int
    timezone: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, calling_windows: _Optional[_Iterable[_Union[CallingWindow, _Mapping]]] = ..., max_retry_attempts: _Optional[int] = ..., timezone: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CallingWindow(_message.Message):
    __slots__ = ("calling_window_end_time", "calling_window_start_time", "retry_delay_seconds", "extra_fields")
    CALLING_WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    CALLING_WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    RETRY_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    calling_window_end_time: str
    calling_window_start_time: str
    retry_delay_seconds: int
    extra_fields: _struct_pb2.Struct
    def __init__(self, calling_window_end_time: _Optional[str] = ..., calling_window_start_time: _Optional[str] = ..., retry_delay_seconds: _Optional[int] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class LlmModel(_message.Message):
    __slots__ = ("type", "dedicated_instance", "openrouter", "extra_fields")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_INSTANCE_FIELD_NUMBER: _ClassVar[int]
    OPENROUTER_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    type: str
    dedicated_instance: DedicatedInstanceModel
    openrouter: OpenRouterModel
    extra_fields: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., dedicated_instance: _Optional[_Union[DedicatedInstanceModel, _Mapping]] = ..., openrouter: _Optional[_Union[OpenRouterModel, _Mapping]] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DedicatedInstanceModel(_message.Message):
    __slots__ = ("name", "name_raw")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_RAW_FIELD_NUMBER: _ClassVar[int]
    name: LlmModelName
    name_raw: str
    def __init__(self, name: _Optional[_Union[LlmModelName, str]] = ..., name_raw: _Optional[str] = ...) -> None: ...

class OpenRouterModel(_message.Message):
    __slots__ = ("openrouter_model_id", "openrouter_provider")
    OPENROUTER_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    OPENROUTER_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    openrouter_model_id: str
    openrouter_provider: str
    def __init__(self, openrouter_model_id: _Optional[str] = ..., openrouter_provider: _Optional[str] = ...) -> None: ...

class StructuredOutputField(_message.Message):
    __slots__ = ("name", "required", "type", "type_raw", "description", "enum_options", "extra_fields")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_RAW_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENUM_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    required: bool
    type: StructuredOutputType
    type_raw: str
    description: str
    enum_options: _containers.RepeatedScalarFieldContainer[str]
    extra_fields: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., required: _Optional[bool] = ..., type: _Optional[_Union[StructuredOutputType, str]] = ..., type_raw: _Optional[str] = ..., description: _Optional[str] = ..., enum_options: _Optional[_Iterable[str]] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Voice(_message.Message):
    __slots__ = ("id", "provider", "provider_raw", "speed", "extra_fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_RAW_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: VoiceProvider
    provider_raw: str
    speed: float
    extra_fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[_Union[VoiceProvider, str]] = ..., provider_raw: _Optional[str] = ..., speed: _Optional[float] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class FaqItem(_message.Message):
    __slots__ = ("answer", "question", "id", "needs_human_answer", "source", "source_raw", "extra_fields")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NEEDS_HUMAN_ANSWER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RAW_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELDS_FIELD_NUMBER: _ClassVar[int]
    answer: str
    question: str
    id: str
    needs_human_answer: bool
    source: FaqSource
    source_raw: str
    extra_fields: _struct_pb2.Struct
    def __init__(self, answer: _Optional[str] = ..., question: _Optional[str] = ..., id: _Optional[str] = ..., needs_human_answer: _Optional[bool] = ..., source: _Optional[_Union[FaqSource, str]] = ..., source_raw: _Optional[str] = ..., extra_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
