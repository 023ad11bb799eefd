"""JSON rendering of campaigns, rows and CSV exports, in 0.1.1 shapes or drifted 0.5.0 ones.

Every row's call embeds the full assistant (as the real API does). Serialising the same
assistant dict 1,000 times per page would dominate paging, so rows are dumped with an
unguessable marker string in its place and the assistant's JSON (serialised once) is
spliced in with one ``str.replace``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._clock import format_ts
from ._model import Attempt, Campaign, Row
from ._store import public_status

__all__ = ["Renderer"]

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _ts(value: float | None) -> str | None:
    return None if value is None else format_ts(value)


def _drift_retry(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {**config, "allowed_days": _DAYS[:5], "call_twice_in_a_row": False}


class Renderer:
    def __init__(self) -> None:
        self._marker = f"\x00assistant-{secrets.token_hex(12)}\x00"
        self._marker_json = json.dumps(self._marker)
        self._assistant_json: dict[tuple[int, bool], str] = {}

    # -- assistant -----------------------------------------------------------------------
    def assistant(self, assistant: dict[str, Any], drift: bool) -> dict[str, Any]:
        if not drift:
            return assistant
        h = hashlib.sha256(assistant["id"].encode()).digest()
        voice = dict(assistant["voice"])
        if h[3] % 3 == 0:
            voice["provider"] = "gradium"
        voice["volume"] = 1.0
        if voice["provider"] == "cartesia":
            voice["model"] = "sonic-3"
        llm = assistant["llm_model"]
        if llm["type"] == "openrouter" and h[2] % 2:
            llm = {"type": "realtime", "provider": "openai", "realtime_model_id": "gpt-realtime",
                   "realtime_voice_id": "marin"}
        return {
            **assistant,
            "voice": voice,
            "llm_model": llm,
            "call_retry_config": _drift_retry(assistant["call_retry_config"]),
            "background_sound_volume": 0.3,
            "sms_enabled": False,
            "stt_model": "stt-rt-v5",
            "thinking_sound": "keyboard-typing.ogg",
            "thinking_sound_probability": 0.2,
            "thinking_sound_volume": 0.5,
            "type": "standalone",
            "human_transfer_mode": "warm",
            "from_phone_number": "+14155550100",
            "custom_tools": [],
            "transfer_destinations": [{"label": "Sales desk",
                                       "phone_number": assistant["transfer_phone_number"]}],
            "is_inbound_receptionist": False,
            "is_realestate_assistant": False,
        }

    def _assistant_fragment(self, assistant: dict[str, Any], drift: bool) -> str:
        key = (id(assistant), drift)
        frag = self._assistant_json.get(key)
        if frag is None:
            frag = json.dumps(self.assistant(assistant, drift), ensure_ascii=False)
            self._assistant_json[key] = frag
        return frag

    # -- campaigns -----------------------------------------------------------------------
    def campaign(self, c: Campaign, now: float, drift: bool) -> dict[str, Any]:
        status = c.status_at(now)
        stats: dict[str, Any] = c.row_stats()
        out: dict[str, Any] = {
            "id": c.id,
            "assistant_id": c.assistant["id"],
            "created_at": format_ts(c.created_at),
            "is_cancelled": c.is_cancelled,
            "name": c.name,
            "organization_id": c.org_id,
            "status": status,
            "updated_at": format_ts(c.updated_at),
            "assistant": self.assistant(c.assistant, drift),
            "call_retry_config": c.retry_config,
            "from_phone_number": c.from_phone_number,
            "max_concurrent_calls": c.max_concurrent_calls,
            "row_stats": stats,
            "scheduled_at": _ts(c.scheduled_at),
        }
        if drift:
            not_launched = c.counts.get(("cancelled", False), 0)
            stats["failed"] -= not_launched
            stats["not_launched"] = not_launched
            stats["skipped"] = 0
            human = sum(1 for r in c.rows if r.attempts and r.attempts[-1].result == "human") \
                if len(c.rows) <= 5000 else stats["completed"]
            out.update({
                "status": "running" if status == "draft" else status,
                "call_retry_config": _drift_retry(c.retry_config),
                "created_by": {"id": "usr_sim", "email": "owner@example.com",
                               "first_name": "Sim", "last_name": "Owner"},
                "funnel_stats": {"hot": 0, "talked_to_human": human, "total_leads": len(c.rows)},
                "metadata_keys": sorted(c.rows[0].vars) if c.rows else [],
                "structured_output_extraction": "completed" if status == "completed"
                else "running",
            })
        return out

    # -- rows ----------------------------------------------------------------------------
    def _attempt(self, a: Attempt, phone: str, drift: bool, assistant_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": a.id,
            "answered_at": _ts(a.answered_at),
            "dial_error": a.dial_error,
            "ended_at": _ts(a.ended_at),
            "phone_number": phone,
            "recording_url": a.recording_url,
            "result": a.result,
            "started_at": _ts(a.started_at),
            "status": a.status,
            "end_reason": a.end_reason,
            "ended_by": a.ended_by,
            "structured_output": a.structured_output,
            "transcript": a.transcript,
        }
        if drift:
            out.update({
                "handled_by_ai": a.answered_at is not None,
                "handled_by_human": False,
                "handled_by_user": None,
                "assistants_used": [assistant_id],
                "email_log": [],
                "sms_log": [],
                "speech_events": [],
                "post_call_transcript": a.transcript,
            })
        return out

    def row(self, c: Campaign, r: Row, drift: bool,
            renamed: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A row with its call; the call's assistant is the marker (see module docstring)."""
        status = public_status(r, drift, renamed)
        attempts = [self._attempt(a, r.phone, drift, c.assistant["id"])
                    for a in reversed(r.attempts)]
        call: dict[str, Any] = {
            "id": "call_" + r.suffix,
            "assistant": self._marker,
            "call_attempts": attempts,
            "call_retry_config": _drift_retry(c.effective_retry) if drift else c.effective_retry,
            "calls_count": len(r.attempts),
            "campaign": {"id": c.id, "name": c.name},
            "created_at": format_ts(c.created_at),
            "direction": "outbound",
            "first_sentence_delay_ms": c.assistant["first_sentence_delay_ms"],
            "from_phone_number": c.from_phone_number or "+14155550100",
            "is_cancelled": r.status == "cancelled",
            "is_completed": r.status == "completed",
            "last_call_attempt": attempts[0] if attempts else None,
            "llm_model": c.assistant["llm_model"],
            "metadata": {"campaign_id": c.id, "row_index": str(r.index)},
            "organization_id": c.org_id,
            "scheduled_at": _ts(r.next_at if r.next_at is not None else
                                (c.scheduled_at or c.created_at)),
            "status": status,
            "to_phone_number": r.phone,
        }
        if drift:
            last = r.attempts[-1] if r.attempts else None
            outcome = None
            if last is not None and last.structured_output is not None:
                outcome = "interested" if last.structured_output.get("interested") \
                    else "not_interested"
            call.update({
                "assignee": None,
                "contact": {"first_name": r.vars.get("first_name"),
                            "last_name": r.vars.get("last_name"),
                            "email": r.vars.get("email"), "company": r.vars.get("company"),
                            "job_title": None},
                "prompt_variables": r.vars,
                "updated_at": format_ts(r.updated_at),
                "outcome": outcome,
                "outcome_summary": None if outcome is None else f"Contact is {outcome}.",
                "follow_up_emails": [],
                "slack_channel_ids": [],
            })
        return {"id": r.id, "input_data": r.vars, "phone_number": r.phone,
                "row_index": r.index, "call": call}

    def rows_json(self, c: Campaign, rows: list[Row], total: int, page: int, page_size: int,
                  drift: bool, renamed: Mapping[str, str] | None = None) -> str:
        rendered = [self.row(c, r, drift, renamed) for r in rows]
        body: dict[str, Any] = {"rows": rendered}
        if not drift:
            body = {"page": page, "page_size": page_size, "rows": rendered, "total": total}
        text = json.dumps(body, ensure_ascii=False)
        return text.replace(self._marker_json, self._assistant_fragment(c.assistant, drift))

    def call_json(self, c: Campaign, r: Row) -> str:
        """The webhook payload for a finished call."""
        body = {"event": "call.completed", "campaign_id": c.id, "row_id": r.id,
                "call": self.row(c, r, False)["call"]}
        return json.dumps(body, ensure_ascii=False).replace(
            self._marker_json, self._assistant_fragment(c.assistant, False))

    # -- export --------------------------------------------------------------------------
    def export(self, c: Campaign, now: float) -> dict[str, str]:
        var_keys: dict[str, None] = {}
        for r in c.rows:
            for key in r.vars:
                var_keys.setdefault(key, None)
        keys = list(var_keys)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["row_index", "row_id", "phone_number", *keys, "call_id", "status",
                         "calls_count", "result", "dial_error", "last_attempt_status",
                         "started_at", "answered_at", "ended_at", "recording_url",
                         "structured_output"])
        for r in c.rows:
            last = r.attempts[-1] if r.attempts else None
            writer.writerow([
                r.index, r.id, r.phone, *[r.vars.get(k, "") for k in keys],
                "call_" + r.suffix, public_status(r, False), len(r.attempts),
                (last.result or "") if last else "", (last.dial_error or "") if last else "",
                last.status if last else "", _ts(last.started_at) or "" if last else "",
                _ts(last.answered_at) or "" if last else "",
                _ts(last.ended_at) or "" if last else "",
                (last.recording_url or "") if last else "",
                json.dumps(last.structured_output, ensure_ascii=False)
                if last and last.structured_output is not None else "",
            ])
        date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        return {"csv": buf.getvalue(), "filename": f"campaign-{c.id}-{date}.csv"}
