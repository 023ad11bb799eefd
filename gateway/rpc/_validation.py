"""Request validation: every rule the gateway checks before any upstream call.

Each ``check_*`` returns nothing or raises ``InvalidArgument`` naming every
offending field with its path in the request (``contacts[3].to_phone_number``),
so a caller fixes all of them in one round trip (as many as fit in an error a
client accepts: see ``_bounds.Violations``). The bounds of strings and
``extra_fields`` are in ``_bounds``, phone numbers in ``_phones``; each bound is
also stated on its field in the proto.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from functools import cache
from typing import cast

from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor

from generated.revox.campaigns.v1 import (
    assistant_pb2 as a,
)
from generated.revox.campaigns.v1 import (
    campaign_pb2,
)
from generated.revox.campaigns.v1 import (
    campaign_service_pb2 as s,
)
from generated.revox.campaigns.v1 import (
    row_pb2 as r,
)

from ..convert import mask_violations
from . import _bounds as bound
from ._bounds import Violations as _Violations
from ._phones import duplicates, is_e164

__all__ = [
    "MAX_CONTACTS",
    "MAX_PAGE_SIZE",
    "check_create",
    "check_export",
    "check_get",
    "check_id",
    "check_list_campaigns",
    "check_list_rows",
    "check_watch",
    "is_e164",
    "is_window_time",
]

CAMPAIGN = cast(Descriptor, campaign_pb2.Campaign.DESCRIPTOR)
ROW = cast(Descriptor, r.Row.DESCRIPTOR)
MAX_CONTACTS = 100_000
MAX_ID = 256
MAX_NAME = 500
MAX_QUERY = 1_000
MAX_VARIABLES = 100
MAX_VARIABLE_VALUE = 10_000
MAX_REQUEST_ID = 128
MAX_TIMEZONE = 64  # the longest IANA name is 32
MAX_PAGE_TOKEN = 512  # ours are under 64
MAX_RESUME_TOKEN = 4096
MAX_MASK_PATHS = 100
MAX_PAGE_SIZE = 1_000
MAX_PAGE = 1_000_000  # with MAX_PAGE_SIZE: a row offset of 10^9 at most, as page tokens hold

# ASCII only: ``\d`` and ``\s`` would also take other scripts' digits and any control
# whitespace (``9\x0bam``), which the upstream would receive verbatim.
_TIME_24H = re.compile(r"([01]?\d|2[0-3]):[0-5]\d", re.ASCII)
_TIME_12H = re.compile(r"(1[0-2]|0?[1-9])(:[0-5]\d)? ?[aApP][mM]", re.ASCII)
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_CALL_STATUSES = frozenset(r.CallStatus.values()) - {r.CALL_STATUS_UNSPECIFIED}
_RESULTS = frozenset(s.RowResultFilter.values())


def is_window_time(value: str) -> bool:
    """``HH:mm`` (24-hour) or ``H:mma`` (12-hour, e.g. ``6pm``, ``9:30am``)."""
    return bool(_TIME_24H.fullmatch(value) or _TIME_12H.fullmatch(value))


@cache
def _iana_zones() -> frozenset[str]:
    # Read from the tz database on disk once per process (~0.1 s), at the first create
    # that sets a timezone.
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _is_timezone(name: str) -> bool:
    """An IANA zone name. ``ZoneInfo(name)`` alone also loads what is a file of the tz
    database but no zone (``posixrules``, ``right/UTC``, ``posix/Europe/Paris``), which
    the upstream refuses after the call."""
    return name in _iana_zones()


def _id(v: _Violations, field: str, value: str) -> None:
    if not value.strip():  # blank names nothing; the upstream refuses it after the call
        v.add(field, "required")
    elif len(value) > MAX_ID:
        v.add(field, f"at most {MAX_ID} characters")
    elif not value.isprintable():  # no Cc, and no invisible separators either
        v.add(field, "must not contain control characters")


def check_id(field: str, value: str) -> None:
    v = _Violations()
    _id(v, field, value)
    v.raise_if_any()


def check_create(req: s.CreateCampaignRequest) -> None:
    v = _Violations()
    _id(v, "assistant_id", req.assistant_id)
    if not req.name.strip():
        v.add("name", "required")
    elif len(req.name) > MAX_NAME:
        v.add("name", f"at most {MAX_NAME} characters")
    elif bound.has_control(req.name):
        v.add("name", "must not contain control characters")
    _contacts(v, req)
    _campaign_options(v, req)
    if req.request_id and not (
        len(req.request_id) <= MAX_REQUEST_ID and _PRINTABLE.fullmatch(req.request_id)
    ):
        v.add("request_id", f"at most {MAX_REQUEST_ID} printable ASCII characters, e.g. a UUID")
    # Wherever a Struct sits (the request, its retry config, each window), checked
    # after the typed fields so their violations come first.
    for path, owner, extra in bound.extra_fields_of(req):
        bound.struct(v, path, extra, owner)
    v.raise_if_any()


def _contacts(v: _Violations, req: s.CreateCampaignRequest) -> None:
    if not req.contacts:
        v.add("contacts", "at least one contact is required")
    elif len(req.contacts) > MAX_CONTACTS:
        v.add("contacts", f"at most {MAX_CONTACTS} contacts per campaign")
    numbers: list[tuple[int, str]] = []
    for i, contact in enumerate(req.contacts):
        if _contact(v, i, contact):
            numbers.append((i, contact.to_phone_number))
        if v.full:
            return
    if not req.allow_duplicate_contacts:
        # One create calling a person twice is nearly always a merge mistake; the
        # number is not echoed (error messages end up in clients' logs).
        for i, first in duplicates(numbers):
            v.add(
                f"contacts[{i}].to_phone_number",
                f"same number as contacts[{first}] (in E.164); see allow_duplicate_contacts",
            )
            if v.full:
                return


def _campaign_options(v: _Violations, req: s.CreateCampaignRequest) -> None:
    """The optional settings: each is checked only when the caller set it."""
    if req.HasField("from_phone_number") and not is_e164(req.from_phone_number):
        v.add("from_phone_number", "must be an E.164 number such as +14155550100")
    if req.HasField("max_concurrent_calls") and not 1 <= req.max_concurrent_calls <= 10_000:
        v.add("max_concurrent_calls", "must be between 1 and 10000")
    if req.HasField("scheduled_at") and not _timestamp_ok(req.scheduled_at):
        v.add("scheduled_at", "must be a valid time")
    if req.HasField("call_retry_config"):
        _retry_config(v, "call_retry_config", req.call_retry_config)


def _contact(v: _Violations, i: int, contact: s.Contact) -> bool:
    """Checks ``contacts[i]``; whether its number is E.164 (worth comparing with the others)."""
    number = contact.to_phone_number
    valid = is_e164(number)
    if not valid:
        v.add(f"contacts[{i}].to_phone_number", "must be an E.164 number such as +14155550100" if number else "required")
    variables = contact.prompt_variables
    if len(variables) > MAX_VARIABLES:
        v.add(f"contacts[{i}].prompt_variables", f"at most {MAX_VARIABLES} variables")
    elif variables and not bound.plain_map(variables, MAX_VARIABLE_VALUE):
        for key, value in variables.items():
            if bound.key(v, f"contacts[{i}].prompt_variables", key, "variable names"):
                bound.text(v, f"contacts[{i}].prompt_variables[{key}]", value, MAX_VARIABLE_VALUE)
    return valid


def _retry_config(v: _Violations, path: str, config: a.CallRetryConfig) -> None:
    if not config.calling_windows:
        v.add(f"{path}.calling_windows", "at least one calling window is required")
    for i, window in enumerate(config.calling_windows):
        wpath = f"{path}.calling_windows[{i}]"
        # Unset fields mean the documented defaults (sent by convert.create_body).
        for name in ("calling_window_start_time", "calling_window_end_time"):
            if window.HasField(name) and not is_window_time(getattr(window, name)):
                v.add(f"{wpath}.{name}", "must be HH:mm (24-hour) or H:mma (12-hour), e.g. 09:00 or 6pm")
        if window.HasField("retry_delay_seconds") and window.retry_delay_seconds < 0:
            v.add(f"{wpath}.retry_delay_seconds", "must not be negative")
    if config.HasField("max_retry_attempts") and not 0 <= config.max_retry_attempts <= 100:
        v.add(f"{path}.max_retry_attempts", "must be between 0 and 100")
    if config.HasField("timezone") and not (
        len(config.timezone) <= MAX_TIMEZONE and _is_timezone(config.timezone)
    ):
        v.add(f"{path}.timezone", "must be an IANA timezone such as Europe/Paris")


def _timestamp_ok(ts: timestamp_pb2.Timestamp) -> bool:
    seconds, nanos = ts.seconds, ts.nanos
    return -62135596800 <= seconds <= 253402300799 and 0 <= nanos < 1_000_000_000


def check_get(req: s.GetCampaignRequest) -> None:
    v = _Violations()
    _id(v, "id", req.id)
    _read_mask(v, req.read_mask, CAMPAIGN)
    v.raise_if_any()


def check_list_campaigns(req: s.ListCampaignsRequest) -> None:
    v = _Violations()
    if req.page_size < 0:
        v.add("page_size", "must not be negative")
    _page_token(v, req.page_token)
    _read_mask(v, req.read_mask, CAMPAIGN)
    v.raise_if_any()


def _read_mask(v: _Violations, mask: field_mask_pb2.FieldMask, resource: Descriptor) -> None:
    # Bounded before mask_violations, which echoes each path it refuses.
    if len(mask.paths) > MAX_MASK_PATHS:
        v.add("read_mask.paths", f"at most {MAX_MASK_PATHS} paths")
        return
    for i, path in enumerate(mask.paths):
        if len(path) > bound.MAX_KEY or bound.has_control(path):
            v.add(f"read_mask.paths[{i}]", "names no field")
            return
    for i, reason in mask_violations(mask, resource):
        v.add(f"read_mask.paths[{i}]", reason)


def _page_token(v: _Violations, token: str) -> None:
    if len(token) > MAX_PAGE_TOKEN:
        v.add("page_token", "not a token this gateway issued")


def _filters(v: _Violations, statuses: Iterable[int], result: int, query: str) -> None:
    for i, status in enumerate(statuses):
        if status not in _CALL_STATUSES:
            v.add(f"statuses[{i}]", "must be a known CallStatus other than CALL_STATUS_UNSPECIFIED")
    if result not in _RESULTS:
        v.add("result", "must be a known RowResultFilter")
    bound.text(v, "query", query, MAX_QUERY)


def check_list_rows(req: s.ListCampaignRowsRequest) -> None:
    v = _Violations()
    _id(v, "campaign_id", req.campaign_id)
    if req.page < 0:
        v.add("page", "must not be negative (pages count from 0)")
    elif req.page and req.page_token:
        v.add("page", "set page or page_token, not both")
    elif req.page > MAX_PAGE:
        v.add("page", f"at most {MAX_PAGE}")
    if req.page_size < 0:
        v.add("page_size", f"must not be negative (0 = 50; above {MAX_PAGE_SIZE} means {MAX_PAGE_SIZE})")
    _page_token(v, req.page_token)
    _filters(v, req.statuses, req.result, req.query)
    _read_mask(v, req.read_mask, ROW)
    v.raise_if_any()


def check_export(req: s.ExportCampaignRowsRequest) -> None:
    v = _Violations()
    _id(v, "campaign_id", req.campaign_id)
    if req.max_chunk_bytes and not 1024 <= req.max_chunk_bytes <= 4 * 1024 * 1024:
        v.add("max_chunk_bytes", "must be between 1024 and 4194304 (0 = 1 MiB)")
    v.raise_if_any()


def _heartbeat(v: _Violations, interval: duration_pb2.Duration) -> None:
    # Read from the fields, not ToTimedelta: a Duration of 2^63 s overflows it (the caller
    # got INTERNAL), and nanos past a second or against the seconds' sign, which
    # google.protobuf.Duration forbids, would be read as a valid 7 s from 5 s + 2^31 ns.
    seconds, nanos = interval.seconds, interval.nanos
    if abs(nanos) >= 1_000_000_000 or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        v.add("heartbeat_interval", "not a valid Duration (nanos within a second, with the sign of seconds)")
    elif not 1 <= seconds + nanos / 1e9 <= 300:
        v.add("heartbeat_interval", "must be between 1s and 300s")


def check_watch(req: s.WatchCampaignRowsRequest) -> None:
    v = _Violations()
    _id(v, "campaign_id", req.campaign_id)
    _filters(v, req.statuses, req.result, req.query)
    if req.HasField("heartbeat_interval"):
        _heartbeat(v, req.heartbeat_interval)
    if len(req.resume_token) > MAX_RESUME_TOKEN:
        v.add("resume_token", "too long to be a resume token")
    _read_mask(v, req.read_mask, ROW)
    v.raise_if_any()
