"""The contract's machine-readable promises, read from the descriptors other languages get:
field behaviours (AIP-203), deprecations, and each enum value's upstream literal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.convert import LITERALS
from generated.revox.campaigns.v1 import (
    assistant_pb2,
    campaign_pb2,
    campaign_service_pb2,
    row_pb2,
)

FILES = (assistant_pb2, campaign_pb2, campaign_service_pb2, row_pb2)
FB = field_behavior_pb2.FieldBehavior
# The gateway's own enums: no upstream literal.
OWN_ENUMS = {"revox.campaigns.v1.RowChangeType", "revox.campaigns.v1.RowRemovalReason"}


def _messages(found: list[Descriptor]) -> Iterator[Descriptor]:
    for message in found:
        if message.GetOptions().map_entry:
            continue
        yield message
        yield from _messages(list(message.nested_types))


def _all_messages() -> list[Descriptor]:
    return [m for f in FILES for m in _messages(list(f.DESCRIPTOR.message_types_by_name.values()))]


def _enums() -> list[EnumDescriptor]:
    top = [e for f in FILES for e in f.DESCRIPTOR.enum_types_by_name.values()]
    return top + [e for m in _all_messages() for e in m.enum_types]


def behaviours(field: FieldDescriptor) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


@pytest.mark.parametrize("message", _all_messages(), ids=lambda m: m.full_name)
def test_every_field_states_its_behaviour(message: Descriptor) -> None:
    missing = [f.name for f in message.fields if not behaviours(f)]
    assert missing == []


def test_request_fields_the_gateway_requires_are_required() -> None:
    s = campaign_service_pb2
    required = {
        (m.name, f.name)
        for m in (s.CreateCampaignRequest.DESCRIPTOR, s.Contact.DESCRIPTOR,
                  s.GetCampaignRequest.DESCRIPTOR, s.ListCampaignRowsRequest.DESCRIPTOR,
                  s.WatchCampaignRowsRequest.DESCRIPTOR, s.ExportCampaignRowsRequest.DESCRIPTOR)
        for f in m.fields if FB.REQUIRED in behaviours(f)
    }
    assert required == {
        ("CreateCampaignRequest", "assistant_id"), ("CreateCampaignRequest", "contacts"),
        ("CreateCampaignRequest", "name"), ("Contact", "to_phone_number"),
        ("GetCampaignRequest", "id"), ("ListCampaignRowsRequest", "campaign_id"),
        ("WatchCampaignRowsRequest", "campaign_id"), ("ExportCampaignRowsRequest", "campaign_id"),
    }


def test_resources_are_output_only_and_the_fields_with_defaults_optional() -> None:
    assert all(FB.OUTPUT_ONLY in behaviours(f) for f in campaign_pb2.Campaign.DESCRIPTOR.fields)
    assert all(FB.OUTPUT_ONLY in behaviours(f) for f in row_pb2.Row.DESCRIPTOR.fields)
    window = assistant_pb2.CallingWindow.DESCRIPTOR
    assert all(FB.OPTIONAL in behaviours(f) and f.has_presence for f in window.fields
               if f.name != "extra_fields")
    retries = assistant_pb2.CallRetryConfig.DESCRIPTOR.fields_by_name["max_retry_attempts"]
    assert FB.OPTIONAL in behaviours(retries) and retries.has_presence


def test_what_the_reference_deprecates_is_deprecated() -> None:
    deprecated = {
        (m.name, f.name) for m in _all_messages() for f in m.fields if f.GetOptions().deprecated
    }
    assert deprecated == {("Call", "is_cancelled"), ("Call", "is_completed")}


@pytest.mark.parametrize("enum", _enums(), ids=lambda e: e.full_name)
def test_every_upstream_enum_value_carries_its_literal(enum: EnumDescriptor) -> None:
    table = LITERALS.get(enum.full_name, {})
    if enum.full_name in OWN_ENUMS:
        assert table == {}
        return
    named = sorted(v.number for v in enum.values if not v.name.endswith("_UNSPECIFIED"))
    assert sorted(table.values()) == named  # one literal per value, none for UNSPECIFIED


def test_the_literals_are_the_upstream_spelling() -> None:
    assert LITERALS["revox.campaigns.v1.CallResult"]["ios-screening-filter"] == (
        row_pb2.CALL_RESULT_IOS_SCREENING_FILTER
    )
    assert LITERALS["revox.campaigns.v1.LlmModelName"]["gpt-4.1"] == assistant_pb2.LLM_MODEL_NAME_GPT_4_1
    assert LITERALS["revox.campaigns.v1.CallResult"]["IVR"] == row_pb2.CALL_RESULT_IVR
