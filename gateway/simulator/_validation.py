"""Request validation: every failure names the offending field.

Errors are raised as :class:`ApiError` and rendered by the app as
``{"error": {"message", "field", "code"}}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ._clock import parse_ts
from ._windows import PhoneInfo, Window, parse_window_time, valid_timezone

__all__ = [
    "MAX_PAGE_SIZE",
    "ApiError",
    "CreateRequest",
    "RowsQuery",
    "parse_create",
    "parse_rows_query",
    "windows_from_config",
]

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
RESULTS = ("IVR", "voicemail", "human", "unknown", "ios-screening-filter")
CALL_STATUSES = ("initializing", "queued_for_calling", "calling", "scheduled", "completed",
                 "cancelled", "errored")
# Accepted for drift-era clients too (0.5.0 added these literals).
CALL_STATUSES_DRIFT = CALL_STATUSES + ("post_processing", "not_launched", "paused")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message, field)


@dataclass(slots=True)
class CreateRequest:
    name: str
    assistant_id: str
    contacts: list[tuple[str, dict[str, str]]]
    call_retry_config: dict[str, Any] | None
    from_phone_number: str | None
    max_concurrent_calls: int | None
    scheduled_at: float | None


@dataclass(slots=True)
class RowsQuery:
    page: int  # as the client sent it (echoed), in the simulator's page base
    page_size: int
    query: str | None
    result: str | None
    statuses: frozenset[str] | None
    index: int = 0  # the page counted from 0; -1 when ``page`` is before the first page


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _nonempty_str(body: dict[str, Any], key: str, path: str) -> str:
    if key not in body or body[key] is None:
        raise _bad(path, f"{path} is required")
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, f"{path} must be a non-empty string")
    return value


def parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("body", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _bad("body", "request body must be a JSON object")
    return body


def parse_retry_config(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path, f"{path} must be an object")
    windows = value.get("calling_windows")
    if windows is None:
        raise _bad(f"{path}.calling_windows", f"{path}.calling_windows is required")
    if not isinstance(windows, list):
        raise _bad(f"{path}.calling_windows", f"{path}.calling_windows must be an array")
    out_windows = [_parse_window(w, f"{path}.calling_windows[{i}]") for i, w in enumerate(windows)]
    attempts = value.get("max_retry_attempts")
    if attempts is None:
        raise _bad(f"{path}.max_retry_attempts", f"{path}.max_retry_attempts is required")
    if not _is_int(attempts) or not 0 <= attempts <= 100:
        raise _bad(f"{path}.max_retry_attempts",
                   f"{path}.max_retry_attempts must be an integer between 0 and 100")
    tz = value.get("timezone")
    if tz is not None and (not isinstance(tz, str) or valid_timezone(tz) is None):
        raise _bad(f"{path}.timezone", f"{path}.timezone must be an IANA timezone, got {tz!r}")
    return {"calling_windows": out_windows, "max_retry_attempts": int(attempts), "timezone": tz}


def _parse_window(window: Any, wpath: str) -> dict[str, Any]:
    if not isinstance(window, dict):
        raise _bad(wpath, f"{wpath} must be an object")
    for key in ("calling_window_start_time", "calling_window_end_time"):
        text = window.get(key)
        if text is None:
            raise _bad(f"{wpath}.{key}", f"{wpath}.{key} is required")
        if not isinstance(text, str) or parse_window_time(text) is None:
            raise _bad(f"{wpath}.{key}",
                       f"{wpath}.{key} must be 'HH:mm' (24-hour) or 'H:mma' (12-hour), "
                       f"got {text!r}")
    delay = window.get("retry_delay_seconds")
    if delay is None:
        raise _bad(f"{wpath}.retry_delay_seconds", f"{wpath}.retry_delay_seconds is required")
    if not _is_int(delay) or delay < 0:
        raise _bad(f"{wpath}.retry_delay_seconds",
                   f"{wpath}.retry_delay_seconds must be a non-negative integer")
    return {
        "calling_window_start_time": window["calling_window_start_time"],
        "calling_window_end_time": window["calling_window_end_time"],
        "retry_delay_seconds": int(delay),
    }


def windows_from_config(config: dict[str, Any]) -> list[Window]:
    return [
        Window(
            start_min=parse_window_time(w["calling_window_start_time"]) or 0,
            end_min=parse_window_time(w["calling_window_end_time"]) or 0,
            retry_delay_seconds=int(w["retry_delay_seconds"]),
        )
        for w in config.get("calling_windows") or []
    ]


def _parse_contacts(contacts_raw: Any, phones: PhoneInfo) -> list[tuple[str, dict[str, str]]]:
    if contacts_raw is None:
        raise _bad("contacts", "contacts is required")
    if not isinstance(contacts_raw, list):
        raise _bad("contacts", "contacts must be an array")
    if not contacts_raw:
        raise _bad("contacts", "contacts must contain at least one contact")
    valid = phones.is_valid_e164
    contacts: list[tuple[str, dict[str, str]]] = []
    for i, contact in enumerate(contacts_raw):
        if not isinstance(contact, dict):
            raise _bad(f"contacts[{i}]", f"contacts[{i}] must be an object")
        number = contact.get("to_phone_number")
        if number is None:
            raise _bad(f"contacts[{i}].to_phone_number",
                       f"contacts[{i}].to_phone_number is required")
        if not isinstance(number, str) or not valid(number):
            raise _bad(f"contacts[{i}].to_phone_number",
                       f"contacts[{i}].to_phone_number must be an E.164 phone number "
                       f"(e.g. +14155550123), got {number!r}")
        contacts.append((number, _parse_variables(contact.get("prompt_variables"), i)))
    return contacts


def _parse_variables(variables: Any, i: int) -> dict[str, str]:
    if variables is None:
        raise _bad(f"contacts[{i}].prompt_variables",
                   f"contacts[{i}].prompt_variables is required (use {{}} for none)")
    if not isinstance(variables, dict):
        raise _bad(f"contacts[{i}].prompt_variables",
                   f"contacts[{i}].prompt_variables must be an object of strings")
    for key, val in variables.items():
        if not isinstance(val, str):
            raise _bad(f"contacts[{i}].prompt_variables.{key}",
                       f"contacts[{i}].prompt_variables.{key} must be a string")
    return variables


def _parse_scheduled_at(scheduled: Any) -> float | None:
    if scheduled is None:
        return None
    if not isinstance(scheduled, str):
        raise _bad("scheduled_at", "scheduled_at must be an ISO 8601 string or null")
    try:
        return parse_ts(scheduled)
    except ValueError:
        raise _bad("scheduled_at",
                   f"scheduled_at must be an ISO 8601 date-time, got {scheduled!r}") from None


def parse_create(body: dict[str, Any], phones: PhoneInfo) -> CreateRequest:
    name = _nonempty_str(body, "name", "name")
    assistant_id = _nonempty_str(body, "assistant_id", "assistant_id")
    contacts = _parse_contacts(body.get("contacts"), phones)
    valid = phones.is_valid_e164
    retry = body.get("call_retry_config")
    retry_config = None if retry is None else parse_retry_config(retry, "call_retry_config")
    from_number = body.get("from_phone_number")
    if from_number is not None and (not isinstance(from_number, str) or not valid(from_number)):
        raise _bad("from_phone_number",
                   f"from_phone_number must be an E.164 phone number, got {from_number!r}")
    cap = body.get("max_concurrent_calls")
    if cap is not None and (not _is_int(cap) or cap < 1):
        raise _bad("max_concurrent_calls", "max_concurrent_calls must be a positive integer")
    scheduled_at = _parse_scheduled_at(body.get("scheduled_at"))
    return CreateRequest(
        name=name, assistant_id=assistant_id, contacts=contacts, call_retry_config=retry_config,
        from_phone_number=from_number, max_concurrent_calls=None if cap is None else int(cap),
        scheduled_at=scheduled_at,
    )


def _int_param(params: Any, key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(key, f"{key} must be an integer, got {raw!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise _bad(key, f"{key} must be an integer, got {raw!r}")
    return int(value)


def parse_rows_query(params: Any, *, drift: bool = False,
                     extra_statuses: tuple[str, ...] = (), page_base: int = 0) -> RowsQuery:
    """Rows query string. Pages count from ``page_base``: ``page=page_base`` (the default)
    is the first page; with base 1, page 0 is accepted and empty, as some APIs answer.

    ``extra_statuses``: further literals accepted in ``statuses`` (drift renames).
    """
    page = _int_param(params, "page", page_base)
    if page < 0:
        raise _bad("page", "page must be >= 0")
    page_size = _int_param(params, "page_size", DEFAULT_PAGE_SIZE)
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise _bad("page_size", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    if page_size == 0:
        page_size = DEFAULT_PAGE_SIZE
    query = params.get("query") or None
    result = params.get("result") or None
    if result is not None and result not in RESULTS + ("all", "none"):
        raise _bad("result", f"result must be one of {', '.join(RESULTS + ('all', 'none'))}")
    if result == "all":
        result = None
    statuses: frozenset[str] | None = None
    raw_statuses = params.get("statuses")
    if raw_statuses:
        allowed = (CALL_STATUSES_DRIFT + extra_statuses) if drift else CALL_STATUSES
        items = [s.strip() for s in raw_statuses.split(",") if s.strip()]
        for item in items:
            if item not in allowed:
                raise _bad("statuses", f"unknown call status {item!r} in statuses")
        statuses = frozenset(items) or None
    return RowsQuery(page=page, page_size=page_size, query=query.lower() if query else None,
                     result=result, statuses=statuses, index=max(-1, page - page_base))
