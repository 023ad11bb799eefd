"""The upstream's string literals for each enum of the contract.

Enum value names cannot hold literals such as ``ios-screening-filter`` or
``gpt-4.1``, so the mapping is spelled out here once, both ways. A literal
missing from a table is newer than the contract: it decodes to the enum's
``*_UNSPECIFIED`` value while the ``*_raw`` field keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.descriptor import EnumDescriptor

from generated.revox.campaigns.v1 import (
    assistant_pb2 as a,
)
from generated.revox.campaigns.v1 import (
    campaign_pb2 as c,
)
from generated.revox.campaigns.v1 import (
    campaign_service_pb2 as s,
)
from generated.revox.campaigns.v1 import (
    row_pb2 as r,
)

__all__ = ["literal_of", "number_of", "LITERALS"]

LITERALS: Mapping[str, Mapping[str, int]] = {
    "revox.campaigns.v1.BackgroundSound": {"audio/office.ogg": a.BACKGROUND_SOUND_AUDIO_OFFICE_OGG},
    "revox.campaigns.v1.FirstSentenceMode": {
        "generated": a.FIRST_SENTENCE_MODE_GENERATED,
        "static": a.FIRST_SENTENCE_MODE_STATIC,
        "none": a.FIRST_SENTENCE_MODE_NONE,
    },
    "revox.campaigns.v1.LlmModelName": {
        "gpt-4.1": a.LLM_MODEL_NAME_GPT_4_1,
        "ministral-3-8b-instruct": a.LLM_MODEL_NAME_MINISTRAL_3_8B_INSTRUCT,
    },
    "revox.campaigns.v1.StructuredOutputType": {
        "string": a.STRUCTURED_OUTPUT_TYPE_STRING,
        "number": a.STRUCTURED_OUTPUT_TYPE_NUMBER,
        "boolean": a.STRUCTURED_OUTPUT_TYPE_BOOLEAN,
        "enum": a.STRUCTURED_OUTPUT_TYPE_ENUM,
        "date": a.STRUCTURED_OUTPUT_TYPE_DATE,
        "datetime": a.STRUCTURED_OUTPUT_TYPE_DATETIME,
    },
    "revox.campaigns.v1.VoiceProvider": {
        "cartesia": a.VOICE_PROVIDER_CARTESIA,
        "elevenlabs": a.VOICE_PROVIDER_ELEVENLABS,
        "gradium": a.VOICE_PROVIDER_GRADIUM,
    },
    "revox.campaigns.v1.FaqSource": {"human": a.FAQ_SOURCE_HUMAN, "ai": a.FAQ_SOURCE_AI},
    "revox.campaigns.v1.CampaignStatus": {
        "draft": c.CAMPAIGN_STATUS_DRAFT,
        "running": c.CAMPAIGN_STATUS_RUNNING,
        "paused": c.CAMPAIGN_STATUS_PAUSED,
        "completed": c.CAMPAIGN_STATUS_COMPLETED,
    },
    "revox.campaigns.v1.CallStatus": {
        "initializing": r.CALL_STATUS_INITIALIZING,
        "queued_for_calling": r.CALL_STATUS_QUEUED_FOR_CALLING,
        "calling": r.CALL_STATUS_CALLING,
        "scheduled": r.CALL_STATUS_SCHEDULED,
        "completed": r.CALL_STATUS_COMPLETED,
        "cancelled": r.CALL_STATUS_CANCELLED,
        "errored": r.CALL_STATUS_ERRORED,
        "post_processing": r.CALL_STATUS_POST_PROCESSING,
        "not_launched": r.CALL_STATUS_NOT_LAUNCHED,
        "paused": r.CALL_STATUS_PAUSED,
    },
    "revox.campaigns.v1.CallDirection": {
        "inbound": r.CALL_DIRECTION_INBOUND,
        "outbound": r.CALL_DIRECTION_OUTBOUND,
    },
    "revox.campaigns.v1.DialError": {
        "number_non_attributed": r.DIAL_ERROR_NUMBER_NON_ATTRIBUTED,
        "too_many_calls": r.DIAL_ERROR_TOO_MANY_CALLS,
        "busy": r.DIAL_ERROR_BUSY,
        "temporarily_unavailable": r.DIAL_ERROR_TEMPORARILY_UNAVAILABLE,
        "no_answer": r.DIAL_ERROR_NO_ANSWER,
        "no_international_permission": r.DIAL_ERROR_NO_INTERNATIONAL_PERMISSION,
        "precondition_failed": r.DIAL_ERROR_PRECONDITION_FAILED,
        "non_classified_error": r.DIAL_ERROR_NON_CLASSIFIED_ERROR,
    },
    "revox.campaigns.v1.CallResult": {
        "IVR": r.CALL_RESULT_IVR,
        "voicemail": r.CALL_RESULT_VOICEMAIL,
        "human": r.CALL_RESULT_HUMAN,
        "unknown": r.CALL_RESULT_UNKNOWN,
        "ios-screening-filter": r.CALL_RESULT_IOS_SCREENING_FILTER,
    },
    "revox.campaigns.v1.CallAttemptStatus": {
        "queued": r.CALL_ATTEMPT_STATUS_QUEUED,
        "ringing": r.CALL_ATTEMPT_STATUS_RINGING,
        "ongoing": r.CALL_ATTEMPT_STATUS_ONGOING,
        "completed": r.CALL_ATTEMPT_STATUS_COMPLETED,
        "error": r.CALL_ATTEMPT_STATUS_ERROR,
    },
    "revox.campaigns.v1.EndedBy": {
        "agent": r.ENDED_BY_AGENT,
        "user": r.ENDED_BY_USER,
        "system": r.ENDED_BY_SYSTEM,
    },
    "revox.campaigns.v1.TranscriptRole": {
        "user": r.TRANSCRIPT_ROLE_USER,
        "assistant": r.TRANSCRIPT_ROLE_ASSISTANT,
        "tool": r.TRANSCRIPT_ROLE_TOOL,
    },
    "revox.campaigns.v1.RowResultFilter": {
        "IVR": s.ROW_RESULT_FILTER_IVR,
        "voicemail": s.ROW_RESULT_FILTER_VOICEMAIL,
        "human": s.ROW_RESULT_FILTER_HUMAN,
        "unknown": s.ROW_RESULT_FILTER_UNKNOWN,
        "ios-screening-filter": s.ROW_RESULT_FILTER_IOS_SCREENING_FILTER,
        "all": s.ROW_RESULT_FILTER_ALL,
        "none": s.ROW_RESULT_FILTER_NONE,
    },
}

_BY_NUMBER: dict[str, dict[int, str]] = {
    name: {number: literal for literal, number in table.items()} for name, table in LITERALS.items()
}


def number_of(enum: EnumDescriptor, literal: str) -> int:
    """The enum number of an upstream literal; 0 (``*_UNSPECIFIED``) if unknown."""
    return LITERALS[enum.full_name].get(literal, 0)


def literal_of(enum: EnumDescriptor, number: int) -> str | None:
    """The upstream literal of an enum number; None for ``*_UNSPECIFIED``."""
    return _BY_NUMBER[enum.full_name].get(number)
