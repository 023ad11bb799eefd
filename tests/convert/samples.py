"""Upstream JSON in the seed's shapes with every documented field populated,
and the same objects as a newer API (SDK 0.5.0) would send them."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["assistant", "campaign", "row", "rows_page", "drifted_campaign", "drifted_row"]

T0 = "2026-11-27T08:10:44.123Z"
T1 = "2026-11-27T09:00:00Z"


def retry_config() -> dict[str, Any]:
    return {
        "calling_windows": [
            {"calling_window_start_time": "09:00", "calling_window_end_time": "6pm", "retry_delay_seconds": 7200},
            {"calling_window_start_time": "10am", "calling_window_end_time": "12:30", "retry_delay_seconds": 600},
        ],
        "max_retry_attempts": 3,
        "timezone": "Europe/Paris",
    }


def assistant(openrouter: bool = False) -> dict[str, Any]:
    llm = (
        {"type": "openrouter", "openrouter_model_id": "openai/gpt-4.1", "openrouter_provider": "azure"}
        if openrouter
        else {"type": "dedicated-instance", "name": "ministral-3-8b-instruct"}
    )
    return {
        "id": "asst_1",
        "background_sound": "audio/office.ogg",
        "calendly": {"connection_id": "conn_1", "event_type_id": "https://api.calendly.com/event_types/b2"},
        "call_retry_config": retry_config(),
        "created_at": T0,
        "end_of_call_sentence": "Goodbye!",
        "first_sentence": "Hello, this is Ada.",
        "first_sentence_delay_ms": 400,
        "first_sentence_mode": "static",
        "ivr_navigation_enabled": True,
        "llm_model": llm,
        "max_call_duration_secs": 600.5,
        "name": "Ada",
        "organization_id": "org_1",
        "prompt": "You are Ada.",
        "structured_output_config": [
            {"name": "email", "required": True, "type": "string", "description": "Email", "enum_options": []},
            {"name": "tier", "required": False, "type": "enum", "description": "Tier", "enum_options": ["a", "b"]},
        ],
        "transfer_phone_number": "+14155550100",
        "updated_at": T1,
        "voice": {"id": "voice_1", "provider": "cartesia", "speed": 1.25},
        "voicemail_message": "Please call back.",
        "webhook_url": "https://example.com/hook",
        "faq_items": [
            {"answer": "Yes", "question": "Open?", "id": "faq_1", "needs_human_answer": False, "source": "ai"}
        ],
        "pending_faq_count": 2,
    }


def campaign() -> dict[str, Any]:
    return {
        "id": "cmp_1",
        "assistant_id": "asst_1",
        "created_at": T0,
        "is_cancelled": False,
        "name": "Spring outreach",
        "organization_id": "org_1",
        "status": "running",
        "updated_at": T1,
        "assistant": assistant(),
        "call_retry_config": retry_config(),
        "from_phone_number": "+14155550199",
        "max_concurrent_calls": 5,
        "row_stats": {"calling": 1, "completed": 2, "failed": 3, "pending": 4, "retry": 5, "total": 15},
        "scheduled_at": T1,
    }


def attempt(n: int) -> dict[str, Any]:
    return {
        "id": f"att_{n}",
        "answered_at": T0,
        "dial_error": "no_answer",
        "ended_at": T1,
        "phone_number": "+33612345678",
        "recording_url": "https://example.com/rec.mp3",
        "result": "ios-screening-filter",
        "started_at": T0,
        "status": "completed",
        "end_reason": "tool_end_call",
        "ended_by": "agent",
        "structured_output": {"email": "a@b.c", "score": 3, "nested": {"ok": True, "list": [1, "x", None]}},
        "transcript": [
            {"content": "Hi", "role": "assistant"},
            {"content": "Who?", "role": "user"},
            {"content": "{}", "role": "tool", "tool_arguments": {"q": "x"}, "tool_is_error": False, "tool_name": "lookup"},
            {"content": "ok", "role": "tool", "tool_arguments": "raw-args", "tool_is_error": True, "tool_name": "end"},
        ],
    }


def row(index: int = 0) -> dict[str, Any]:
    return {
        "id": f"row_{index}",
        "input_data": {"first_name": "Zoë", "note": 'says "hi", twice\nnew line'},
        "phone_number": "+33612345678",
        "row_index": index,
        "call": {
            "id": "call_1",
            "assistant": assistant(openrouter=True),
            "call_attempts": [attempt(2), attempt(1)],
            "call_retry_config": retry_config(),
            "calls_count": 2,
            "campaign": {"id": "cmp_1", "name": "Spring outreach"},
            "created_at": T0,
            "direction": "outbound",
            "first_sentence_delay_ms": 400,
            "from_phone_number": "+14155550199",
            "is_cancelled": False,
            "is_completed": True,
            "last_call_attempt": attempt(2),
            "llm_model": {"type": "dedicated-instance", "name": "gpt-4.1"},
            "metadata": {"source": "crm"},
            "organization_id": "org_1",
            "scheduled_at": T1,
            "status": "completed",
            "to_phone_number": "+33612345678",
        },
    }


def rows_page() -> dict[str, Any]:
    return {"page": 0, "page_size": 50, "rows": [row(0), row(1)], "total": 2}


def drifted_campaign() -> dict[str, Any]:
    c = copy.deepcopy(campaign())
    c["status"] = "archived"  # a literal newer than the contract
    c["funnel_stats"] = {"reached": 3, "converted": 1.5}
    c["assignee"] = None
    c["created_at"] = 1764230000  # a time that is not ISO 8601 any more
    a = c["assistant"]
    a["voice"]["provider"] = "gradium"
    a["voice"]["model"] = "sonic-3"
    a["llm_model"] = {"type": "realtime", "provider": "openai", "realtime_model_id": "gpt-rt", "realtime_voice_id": None}
    a["prompt_flow"] = {"edges": [], "nodes": [{"id": "n1", "type": "promptBlock"}]}
    a["max_call_duration_secs"] = "600"  # a number sent as a string
    c["row_stats"]["post_processing"] = 7
    return c


def drifted_row() -> dict[str, Any]:
    r = copy.deepcopy(row())
    r["call"]["status"] = "post_processing"
    r["call"]["outcome"] = "interested"
    r["call"]["last_call_attempt"]["result"] = "fax-machine"
    r["call"]["metadata"] = {"count": 3}  # no longer map[string]
    r["call"]["llm_model"] = {"type": "custom", "api_url": "https://llm", "model_name": "m"}
    r["call"]["call_attempts"][0]["transcript"][0]["role"] = "system"
    r["call"]["call_attempts"][0]["sentiment"] = 0.8
    r["row_index"] = 1.5
    return r
