"""A create that would call one person twice is refused, numbers compared in E.164 as
phonenumbers normalises them, unless the caller opts in with allow_duplicate_contacts."""

from __future__ import annotations

import grpc
import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from gateway.rpc._phones import is_e164
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, violated_fields


def _with_numbers(*numbers: str) -> pb.CreateCampaignRequest:
    request = create_request(len(numbers))
    for contact, number in zip(request.contacts, numbers, strict=True):
        contact.to_phone_number = number
    return request


async def test_a_repeated_number_is_refused_naming_both_indexes(stub, upstream: Simulator) -> None:
    request = create_request(5)
    request.contacts[3].to_phone_number = request.contacts[0].to_phone_number
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["contacts[3].to_phone_number"]
    assert "contacts[0]" in info.value.details()
    assert request.contacts[0].to_phone_number not in info.value.details()
    assert upstream.request_count == before


async def test_numbers_equal_once_normalised_are_duplicates(stub) -> None:
    # The French trunk prefix 0 kept after the country code: the same line.
    request = _with_numbers("+33612345678", "+33699999999", "+330612345678", "+33612345678")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert violated_fields(info.value) == ["contacts[2].to_phone_number", "contacts[3].to_phone_number"]


async def test_allow_duplicate_contacts_creates_every_row(stub, upstream: Simulator) -> None:
    request = _with_numbers("+33612345678", "+330612345678", "+33612345678")
    request.allow_duplicate_contacts = True
    created = await stub.CreateCampaign(request, metadata=auth())
    stored = upstream.campaign(created.id)
    assert stored is not None
    assert [row.phone for row in stored.rows] == ["+33612345678", "+330612345678", "+33612345678"]


def _pairs() -> list[tuple[str, str]]:
    """(number, another spelling phonenumbers normalises to it), from every region's
    example numbers with their national prefix (or a 0) kept after the country code."""
    pairs: dict[str, str] = {}  # one spelling per number: no pair repeats another's
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None or metadata is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            cc = str(example.country_code)
            national = "".join(c for c in phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL) if c.isdigit())
            for other in sorted({f"+{cc}{national}", f"+{cc}{metadata.national_prefix or '0'}{e164[1 + len(cc):]}"}):
                if other == e164 or not (is_e164(other) and is_e164(e164)):
                    continue
                if phonenumbers.format_number(phonenumbers.parse(other), PhoneNumberFormat.E164) == e164:
                    pairs.setdefault(e164, other)
    return sorted(pairs.items())


PAIRS = _pairs()


@pytest.mark.parametrize("batch", range(0, len(PAIRS), 15))
async def test_normalisation_agrees_with_phonenumbers_for_every_region(stub, batch: int) -> None:
    pairs = PAIRS[batch : batch + 15]
    request = _with_numbers(*(n for pair in pairs for n in pair))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert violated_fields(info.value) == [f"contacts[{2 * i + 1}].to_phone_number" for i in range(len(pairs))]


def test_the_region_sweep_covers_many_countries() -> None:
    assert len({phonenumbers.parse(e).country_code for e, _ in PAIRS}) > 100
