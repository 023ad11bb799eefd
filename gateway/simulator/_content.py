"""Invented content: assistants, attempt outcomes, transcripts and structured output.

Everything is derived from stable hashes (assistant ids) or a seeded ``random.Random``
built from ``(seed, attempt id)``, so an attempt's outcome does not depend on the order in
which the engine happens to process rows: the same seed gives the same results.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = [
    "DEFAULT_OUTCOME_WEIGHTS",
    "DEFAULT_RETRY_CONFIG",
    "attempt_rng",
    "invent_assistant",
    "plan_attempt",
    "structured_output_for",
    "transcript_for",
]

# The seed's documented defaults, used when neither the campaign nor the assistant has one.
DEFAULT_RETRY_CONFIG: dict[str, Any] = {
    "calling_windows": [
        {
            "calling_window_start_time": "10:00",
            "calling_window_end_time": "18:00",
            "retry_delay_seconds": 7200,
        }
    ],
    "max_retry_attempts": 3,
    "timezone": None,
}

# Outcome of one attempt. Dial errors never connect; the rest are answered results.
DEFAULT_OUTCOME_WEIGHTS: dict[str, float] = {
    "human": 52,
    "voicemail": 18,
    "IVR": 6,
    "unknown": 4,
    "ios-screening-filter": 3,
    "busy": 7,
    "no_answer": 7,
    "number_non_attributed": 1.5,
    "temporarily_unavailable": 1.5,
}
DIAL_ERRORS = frozenset({
    "number_non_attributed", "too_many_calls", "busy", "temporarily_unavailable",
    "no_answer", "no_international_permission", "precondition_failed",
    "non_classified_error",
})


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def attempt_rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def invent_assistant(assistant_id: str, org_id: str, created_at: str,
                     webhook_url: str | None) -> dict[str, Any]:
    """A fully populated 0.1.1 assistant, deterministic from its id."""
    h = _h(assistant_id)
    provider = "cartesia" if h[3] % 2 == 0 else "elevenlabs"
    names = ("Ava", "Léa", "Noah", "Mila", "Hugo", "Zoe")
    persona = names[h[4] % len(names)]
    return {
        "id": assistant_id,
        "background_sound": "audio/office.ogg",
        "calendly": {
            "connection_id": f"cal_conn_{h[5:11].hex()}",
            "event_type_id": f"https://api.calendly.com/event_types/{h[11:27].hex()}",
        },
        "call_retry_config": _assistant_retry(h),
        "created_at": created_at,
        "end_of_call_sentence": "Thanks for your time, have a great day!",
        "first_sentence": f"Hi {{{{first_name}}}}, this is {persona} from Revox.",
        "first_sentence_delay_ms": 400,
        "first_sentence_mode": ("generated", "static", "none")[h[12] % 3],
        "ivr_navigation_enabled": bool(h[13] % 2),
        "llm_model": _llm_model(h),
        "max_call_duration_secs": 600.0,
        "name": f"{persona} – outbound qualification",
        "organization_id": org_id,
        "prompt": (
            f"You are {persona}, a friendly sales assistant. Qualify the lead, collect their "
            "email and book a demo if they are interested."
        ),
        "structured_output_config": [dict(item) for item in _STRUCTURED_OUTPUT],
        "transfer_phone_number": "+14155550123",
        "updated_at": created_at,
        "voice": {
            "id": f"{h[14:18].hex()}-{h[18:20].hex()}-{h[20:22].hex()}-{h[22:24].hex()}-"
                  f"{h[24:30].hex()}",
            "provider": provider,
            "speed": 1.0,
        },
        "voicemail_message": f"Hi, it's {persona} from Revox, I'll try you again later.",
        "webhook_url": webhook_url or f"https://hooks.example.com/revox/{assistant_id}",
        "faq_items": _faq_items(h),
        "pending_faq_count": float(h[16] % 3),
    }




_STRUCTURED_OUTPUT: tuple[dict[str, Any], ...] = (
    {"name": "interested", "required": True, "type": "boolean",
     "description": "Whether the contact wants a demo"},
    {"name": "email", "required": False, "type": "string",
     "description": "The contact's email address"},
    {"name": "team_size", "required": False, "type": "number"},
    {"name": "sentiment", "required": True, "type": "enum",
     "enum_options": ["positive", "neutral", "negative"]},
    {"name": "callback_date", "required": False, "type": "date"},
)


def _assistant_retry(h: bytes) -> dict[str, Any] | None:
    """One of three retry set-ups: none (the seed's defaults apply), two windows, one."""
    variant = h[0] % 3
    if variant == 0:
        return None
    if variant == 1:
        return {
            "calling_windows": [
                {"calling_window_start_time": "9am", "calling_window_end_time": "12pm",
                 "retry_delay_seconds": 3600},
                {"calling_window_start_time": "2:00pm", "calling_window_end_time": "7pm",
                 "retry_delay_seconds": 3600},
            ],
            "max_retry_attempts": 2,
            "timezone": None,
        }
    return {
        "calling_windows": [
            {"calling_window_start_time": "08:30", "calling_window_end_time": "20:00",
             "retry_delay_seconds": 5400},
        ],
        "max_retry_attempts": 4,
        "timezone": None,
    }


def _llm_model(h: bytes) -> dict[str, Any]:
    if h[1] % 2 == 0:
        return {"type": "dedicated-instance",
                "name": "gpt-4.1" if h[2] % 2 else "ministral-3-8b-instruct"}
    return {"type": "openrouter", "openrouter_model_id": "openai/gpt-4.1",
            "openrouter_provider": ("azure", "openai", "nebius")[h[2] % 3]}


def _faq_items(h: bytes) -> list[dict[str, Any]]:
    return [
        {"id": f"faq_{h[8:12].hex()}", "question": "How much does it cost?",
         "answer": "Plans start at 99 EUR per month.", "needs_human_answer": False,
         "source": "human"},
        {"id": f"faq_{h[12:16].hex()}", "question": "Is there a free trial?",
         "answer": "Yes, 14 days.", "needs_human_answer": False, "source": "ai"},
    ]


def plan_attempt(rng: random.Random, weights: dict[str, float],
                 max_call_duration: float) -> dict[str, Any]:
    """Draw an attempt's outcome and phase durations (simulated seconds)."""
    kinds = list(weights)
    kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
    plan: dict[str, Any] = {"queue_s": rng.uniform(1.0, 4.0)}
    if kind in DIAL_ERRORS:
        plan["dial_error"] = kind
        plan["ring_s"] = 30.0 if kind == "no_answer" else rng.uniform(2.0, 6.0)
        return plan
    plan["result"] = kind
    plan["ring_s"] = rng.uniform(4.0, 20.0)
    talk = {
        "human": (40.0, 180.0), "voicemail": (15.0, 30.0), "IVR": (20.0, 60.0),
        "unknown": (8.0, 25.0), "ios-screening-filter": (8.0, 20.0),
    }[kind]
    plan["talk_s"] = min(rng.uniform(*talk), max_call_duration)
    plan["max_duration"] = rng.random() < 0.02 and kind == "human"
    if plan["max_duration"]:
        plan["talk_s"] = max_call_duration
    plan["post_s"] = rng.uniform(2.0, 6.0)
    return plan


def _first_name(variables: dict[str, str]) -> str:
    for key in ("first_name", "firstname", "name", "prenom"):
        if variables.get(key):
            return variables[key].split("\n")[0][:40]
    return "there"


def transcript_for(rng: random.Random, result: str, assistant: dict[str, Any],
                   variables: dict[str, str]) -> list[dict[str, Any]]:
    name = _first_name(variables)
    first = str(assistant.get("first_sentence") or "Hello!").replace("{{first_name}}", name)
    if result == "voicemail":
        return [
            {"role": "user", "content": "You've reached the voicemail of " + name
             + ". Please leave a message after the tone."},
            {"role": "assistant", "content": str(assistant.get("voicemail_message") or "")},
        ]
    if result == "IVR":
        return [
            {"role": "user", "content": "Welcome. For sales, press 1. For support, press 2."},
            {"role": "tool", "content": "DTMF sent", "tool_name": "send_dtmf",
             "tool_arguments": {"digits": "1"}, "tool_is_error": False},
            {"role": "user", "content": "All our agents are busy, please call back later."},
        ]
    if result == "ios-screening-filter":
        return [{"role": "user", "content": "Hi, if you record your name and reason for "
                 "calling, I'll see if this person is available."},
                {"role": "assistant", "content": "This is Revox calling for " + name + "."}]
    if result == "unknown":
        return [{"role": "assistant", "content": first}, {"role": "user", "content": "..."}]
    interested = rng.random() < 0.5
    lines: list[dict[str, Any]] = [
        {"role": "assistant", "content": first},
        {"role": "user", "content": "Yes, speaking. What is it about?"},
        {"role": "assistant", "content": "We help teams automate outbound calls. "
         "Would a short demo next week be useful?"},
    ]
    if interested:
        lines += [
            {"role": "user", "content": "Sure, send me an invite."},
            {"role": "tool", "content": "Booked", "tool_name": "book_calendly_slot",
             "tool_arguments": {"date": "next tuesday", "time": "10:00"},
             "tool_is_error": False},
        ]
    else:
        lines.append({"role": "user", "content": "No thanks, not right now."})
    lines.append({"role": "assistant",
                  "content": str(assistant.get("end_of_call_sentence") or "Goodbye.")})
    lines.append({"role": "tool", "content": "Call ended", "tool_name": "end_call",
                  "tool_arguments": "{}", "tool_is_error": False})
    return lines


def structured_output_for(rng: random.Random, assistant: dict[str, Any],
                          variables: dict[str, str], transcript: list[dict[str, Any]],
                          ) -> dict[str, Any]:
    interested = any(t.get("tool_name") == "book_calendly_slot" for t in transcript)
    out: dict[str, Any] = {}
    for item in assistant.get("structured_output_config") or []:
        name, kind = item["name"], item["type"]
        if kind == "boolean":
            out[name] = interested if name == "interested" else rng.random() < 0.5
        elif kind == "number":
            out[name] = rng.randint(1, 500)
        elif kind == "enum":
            options = item.get("enum_options") or ["unknown"]
            out[name] = options[0] if interested else rng.choice(options)
        elif kind in ("date", "datetime"):
            out[name] = f"2026-03-{rng.randint(3, 27):02d}" + ("T10:00:00Z" if kind ==
                                                                 "datetime" else "")
        elif name == "email":
            first = _first_name(variables).lower().replace(" ", ".")
            out[name] = f"{first if first != 'there' else 'contact'}@example.com"
        else:
            out[name] = "n/a"
    return out
