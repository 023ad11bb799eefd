"""What the property-based fuzz (``python -m tests.reliability.fuzz``) found, one case
each, over a real port: the request the fuzz sent, now refused with INVALID_ARGUMENT
naming the field, before any upstream call (it used to answer INTERNAL or UNKNOWN, or
to reach the upstream)."""

from __future__ import annotations

from typing import Any

import grpc
import phonenumbers
import pytest
from google.protobuf import duration_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.rpc._phones import is_e164
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, violated_fields


def _create_to(number: str) -> pb.CreateCampaignRequest:
    request = create_request(1)
    request.contacts[0].to_phone_number = number
    return request


def _create_in(timezone: str) -> pb.CreateCampaignRequest:
    request = create_request(1)
    request.call_retry_config.timezone = timezone
    return request


CASES: list[tuple[str, str, Any, str]] = [
    # A blank assistant_id passed (a space is printable) and reached the upstream, whose
    # 400 came back as INVALID_ARGUMENT after a POST: a create sent for nothing.
    ("blank assistant_id", "CreateCampaign", create_request(2, assistant_id=" "), "assistant_id"),
    ("blank campaign id", "GetCampaign", pb.GetCampaignRequest(id="   "), "id"),
    # A known country code (674, Nauru) and 12 more digits passed; the upstream, which
    # asks phonenumbers whether the number is possible, refused the POST.
    ("impossible number", "CreateCampaign", _create_to("+674067490674906"), "contacts[0].to_phone_number"),
    ("impossible from number", "CreateCampaign", create_request(1, from_phone_number="+670067490674906"),
     "from_phone_number"),
    # Files of the tz database that are no zone loaded with ZoneInfo, so they passed;
    # the upstream, which takes IANA names only, refused the POST.
    ("posixrules", "CreateCampaign", _create_in("posixrules"), "call_retry_config.timezone"),
    ("right/UTC", "CreateCampaign", _create_in("right/UTC"), "call_retry_config.timezone"),
    ("posix/Europe/Paris", "CreateCampaign", _create_in("posix/Europe/Paris"), "call_retry_config.timezone"),
    # A Duration of -2^63 s overflowed timedelta: INTERNAL and a traceback in the log.
    ("heartbeat of -2^63 s", "WatchCampaignRows", pb.WatchCampaignRowsRequest(
        campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=-(2**63), nanos=-1)),
     "heartbeat_interval"),
    ("heartbeat of 2^63-1 s", "WatchCampaignRows", pb.WatchCampaignRowsRequest(
        campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=2**63 - 1)),
     "heartbeat_interval"),
    # Nanos past a second were read as more seconds: 5 s + 2^31 ns passed as 7.1 s.
    ("heartbeat nanos past a second", "WatchCampaignRows", pb.WatchCampaignRowsRequest(
        campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=5, nanos=2**31 - 1)),
     "heartbeat_interval"),
    ("heartbeat nanos against the seconds' sign", "WatchCampaignRows", pb.WatchCampaignRowsRequest(
        campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=5, nanos=-1)),
     "heartbeat_interval"),
]


async def _refusal(stub: Any, rpc: str, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        call = getattr(stub, rpc)(request, metadata=auth())
        if rpc in ("ExportCampaignRows", "WatchCampaignRows"):
            await call.read()
        else:
            await call
    return info.value


@pytest.mark.parametrize(("rpc", "request_", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_a_fuzz_finding_is_invalid_argument_before_any_upstream_call(
    stub: Any, upstream: Simulator, rpc: str, request_: Any, field: str
) -> None:
    before = upstream.request_count
    error = await _refusal(stub, rpc, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert violated_fields(error) == [field]
    assert upstream.request_count == before


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
                 st.sampled_from(["+674067490674906", "+330612345678", "+33612345678", "+8869123456789"])))
def test_a_number_is_e164_exactly_when_phonenumbers_finds_it_possible(number: str) -> None:
    try:
        possible = phonenumbers.is_possible_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        possible = False
    assert is_e164(number) == possible
