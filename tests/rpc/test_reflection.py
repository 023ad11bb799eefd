"""Server reflection over a real port: grpcurl describes every kind of symbol with its proto
comment, and a client of our own speaks v1 and v1alpha (gateway/rpc/_reflection)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as rpb

from gateway.app import Gateway
from gateway.rpc._reflection import contract_descriptors
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request

BIN = Path(sys.executable).parent
V1 = "grpc.reflection.v1.ServerReflection"
V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
SERVICE = "revox.campaigns.v1.CampaignService"
SERVICE_FILE = "revox/campaigns/v1/campaign_service.proto"
ROW_FILE = "revox/campaigns/v1/row.proto"
FileProto = descriptor_pb2.FileDescriptorProto


async def grpcurl(gateway: Gateway, *args: str, flags: tuple[str, ...] = ()) -> tuple[int, str]:
    """``grpcurl -plaintext FLAGS ADDRESS ARGS``: its exit code and output."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        "grpcurl", "-plaintext", *flags, gateway.address, *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


class Reflector:
    """One ServerReflectionInfo stream: ``ask`` sends a request and reads its answer."""

    def __init__(self, channel: grpc.aio.Channel, service: str) -> None:
        self.call: Any = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=rpb.ServerReflectionRequest.SerializeToString,
            response_deserializer=rpb.ServerReflectionResponse.FromString,
        )()

    async def ask(self, **request: Any) -> rpb.ServerReflectionResponse:
        sent = rpb.ServerReflectionRequest(host="gw", **request)
        await self.call.write(sent)
        response: rpb.ServerReflectionResponse = await asyncio.wait_for(self.call.read(), 10)
        assert response.original_request == sent and response.valid_host == "gw"
        return response

    async def files(self, **request: Any) -> list[FileProto]:
        response = await self.ask(**request)
        assert response.WhichOneof("message_response") == "file_descriptor_response", response
        return [FileProto.FromString(b) for b in response.file_descriptor_response.file_descriptor_proto]

    async def close(self) -> None:
        await self.call.done_writing()
        assert await self.call.read() is grpc.aio.EOF
        assert await self.call.code() == grpc.StatusCode.OK


@pytest.fixture(params=[V1, V1ALPHA])
async def reflector(request: pytest.FixtureRequest, channel: grpc.aio.Channel) -> AsyncIterator[Reflector]:
    r = Reflector(channel, request.param)
    yield r
    await r.close()


# -- grpcurl (speaks v1alpha) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "kind", "phrase"),
    [
        (SERVICE, "a service", "// Outbound AI phone-call campaigns"),
        (f"{SERVICE}.WatchCampaignRows", "a method", "// Streams changes to a campaign's rows"),
        ("revox.campaigns.v1.WatchCampaignRowsResponse", "a message",
         "// One message of a WatchCampaignRows stream."),
        ("revox.campaigns.v1.WatchCampaignRowsRequest.campaign_id", "a field",
         "// Required. The campaign to watch."),
        ("revox.campaigns.v1.CallStatus", "an enum", "// State of a call order."),
        # grpcurl's own descriptor library names an enum value Enum.VALUE (see the v1 tests
        # for the proto scope, pkg.VALUE, which grpcurl cannot look up in the file it gets).
        ("revox.campaigns.v1.CallStatus.CALL_STATUS_CALLING", "an enum value",
         "// `calling`: an attempt is in progress."),
    ],
)
async def test_grpcurl_describes_a_symbol_with_its_comment(
    gateway: Gateway, symbol: str, kind: str, phrase: str
) -> None:
    code, text = await grpcurl(gateway, "describe", symbol)
    assert code == 0, text
    assert f"{symbol} is {kind}:" in text
    assert phrase in text


async def test_grpcurl_lists_the_services_and_calls_through_reflection(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub
) -> None:
    code, text = await grpcurl(gateway, "list")
    assert code == 0, text
    assert text.split() == ["grpc.health.v1.Health", V1, V1ALPHA, SERVICE]
    code, text = await grpcurl(gateway, "list", SERVICE)
    assert code == 0 and f"{SERVICE}.WatchCampaignRows" in text.split(), text

    await stub.CreateCampaign(create_request(1, name="Reflected"), metadata=auth())
    code, text = await grpcurl(
        gateway, f"{SERVICE}/ListCampaigns", flags=("-H", f"authorization: Bearer {ALICE}", "-d", "{}")
    )
    assert code == 0, text
    assert '"name": "Reflected"' in text
    assert '"assistant_id"' in text  # proto field names, as grpcurl printed them before
    code, text = await grpcurl(gateway, "grpc.health.v1.Health/Check")
    assert code == 0 and '"status": "SERVING"' in text, text


async def test_grpcurl_reports_an_unknown_symbol(gateway: Gateway) -> None:
    code, text = await grpcurl(gateway, "describe", "revox.campaigns.v1.NoSuchThing")
    assert code != 0
    assert "not found" in text.lower()


# -- a client of our own: v1 and v1alpha ----------------------------------------------------


async def test_list_services_names_every_service(reflector: Reflector) -> None:
    response = await reflector.ask(list_services="")
    names = [s.name for s in response.list_services_response.service]
    assert names == ["grpc.health.v1.Health", V1, V1ALPHA, SERVICE]


async def test_a_method_resolves_to_its_file_with_comments_and_every_import(reflector: Reflector) -> None:
    files = await reflector.files(file_containing_symbol=f"{SERVICE}.WatchCampaignRows")
    first, by_name = files[0], {f.name: f for f in files}
    assert first.name == SERVICE_FILE
    assert len(by_name) == len(files), "a file sent twice in one answer"
    pending = list(first.dependency)
    while pending:  # the transitive imports, each present: grpcurl builds the file from them
        name = pending.pop()
        assert name in by_name, f"import {name} missing"
        pending.extend(by_name[name].dependency)

    service = next(i for i, s in enumerate(first.service) if s.name == "CampaignService")
    method = next(i for i, m in enumerate(first.service[service].method) if m.name == "WatchCampaignRows")
    comments = {tuple(loc.path): loc.leading_comments for loc in first.source_code_info.location}
    assert "Streams changes to a campaign's rows" in comments[(6, service, 2, method)]
    assert "Outbound AI phone-call campaigns" in comments[(6, service)]
    assert by_name["google/protobuf/timestamp.proto"].source_code_info.location  # imports too


@pytest.mark.parametrize(
    ("symbol", "file"),
    [
        (SERVICE, SERVICE_FILE),
        (f"{SERVICE}.CreateCampaign", SERVICE_FILE),
        ("revox.campaigns.v1.WatchCampaignRowsRequest", SERVICE_FILE),
        ("revox.campaigns.v1.Contact.PromptVariablesEntry", SERVICE_FILE),  # nested (map entry)
        ("revox.campaigns.v1.WatchCampaignRowsRequest.campaign_id", SERVICE_FILE),  # field
        ("revox.campaigns.v1.WatchCampaignRowsResponse.event", SERVICE_FILE),  # oneof
        ("revox.campaigns.v1.CallStatus", ROW_FILE),
        ("revox.campaigns.v1.CALL_STATUS_CALLING", ROW_FILE),  # a value is its enum's sibling
        ("revox.campaigns.v1.CallStatus.CALL_STATUS_CALLING", ROW_FILE),
        ("google.api.field_behavior", "google/api/field_behavior.proto"),  # extension
        ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),
        ("grpc.health.v1.Health.Check", "grpc_health/v1/health.proto"),
        ("google.rpc.BadRequest.FieldViolation", "google/rpc/error_details.proto"),
        (f"{V1}.ServerReflectionInfo", "grpc/reflection/v1/reflection.proto"),
        (f"{V1ALPHA}.ServerReflectionInfo", "grpc_reflection/v1alpha/reflection.proto"),
    ],
)
async def test_every_kind_of_symbol_resolves_to_its_file(
    reflector: Reflector, symbol: str, file: str
) -> None:
    files = await reflector.files(file_containing_symbol=symbol)
    assert files[0].name == file


async def test_the_v1_reflection_file_names_v1_types(reflector: Reflector) -> None:
    (file,) = await reflector.files(file_by_filename="grpc/reflection/v1/reflection.proto")
    method = file.service[0].method[0]
    assert file.package == "grpc.reflection.v1"
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest", ".grpc.reflection.v1.ServerReflectionResponse"
    )
    assert {f.type_name for m in file.message_type for f in m.field if f.type_name} <= {
        f".grpc.reflection.v1.{m.name}" for m in file.message_type
    }


async def test_unknown_names_are_not_found_and_the_stream_goes_on(reflector: Reflector) -> None:
    for request in (
        {"file_containing_symbol": "revox.campaigns.v1.NoSuchThing"},
        {"file_containing_symbol": "revox.campaigns.v1.CallStatus.NO_SUCH_VALUE"},
        {"file_by_filename": "revox/campaigns/v1/nope.proto"},
        {"file_containing_extension": rpb.ExtensionRequest(
            containing_type="google.protobuf.FieldOptions", extension_number=999_999)},
        {"all_extension_numbers_of_type": "revox.campaigns.v1.NoSuchMessage"},
    ):
        response = await reflector.ask(**request)
        assert response.WhichOneof("message_response") == "error_response", request
        assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    files = await reflector.files(file_by_filename=ROW_FILE)
    assert files[0].name == ROW_FILE


async def test_each_file_is_sent_once_per_stream(reflector: Reflector, channel: grpc.aio.Channel) -> None:
    first = [f.name for f in await reflector.files(file_containing_symbol=f"{SERVICE}.GetCampaign")]
    assert "google/protobuf/timestamp.proto" in first
    again = [f.name for f in await reflector.files(file_containing_symbol="revox.campaigns.v1.Campaign")]
    assert again == ["revox/campaigns/v1/campaign.proto"]  # asked for: sent again, its imports not
    fresh = Reflector(channel, V1)
    files = [f.name for f in await fresh.files(file_containing_symbol="revox.campaigns.v1.Campaign")]
    await fresh.close()
    assert files[0] == "revox/campaigns/v1/campaign.proto" and "google/protobuf/timestamp.proto" in files


async def test_extensions_are_answered_from_the_descriptor_set(reflector: Reflector) -> None:
    declared = sorted(
        x.number for f in contract_descriptors().file for x in f.extension
        if x.extendee == ".google.protobuf.FieldOptions"
    )
    response = await reflector.ask(all_extension_numbers_of_type="google.protobuf.FieldOptions")
    answer = response.all_extension_numbers_response
    assert answer.base_type_name == "google.protobuf.FieldOptions"
    assert list(answer.extension_number) == declared and 1052 in declared  # field_behavior
    files = await reflector.files(file_containing_extension=rpb.ExtensionRequest(
        containing_type="google.protobuf.FieldOptions", extension_number=1052))
    assert files[0].name == "google/api/field_behavior.proto"
    response = await reflector.ask(all_extension_numbers_of_type="google.protobuf.Timestamp")
    assert list(response.all_extension_numbers_response.extension_number) == []


async def test_a_request_without_a_kind_is_invalid_argument(reflector: Reflector) -> None:
    response = await reflector.ask()
    assert response.error_response.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def _normalized(file: FileProto) -> bytes:
    """The file without what protoc adds to a descriptor set only (comments, json_name)."""
    file.ClearField("source_code_info")

    def clear(message: descriptor_pb2.DescriptorProto) -> None:
        for field in (*message.field, *message.extension):
            field.ClearField("json_name")
        for nested in message.nested_type:
            clear(nested)

    for message in file.message_type:
        clear(message)
    for extension in file.extension:
        extension.ClearField("json_name")
    return file.SerializeToString(deterministic=True)


def test_the_descriptor_set_is_the_generated_contract() -> None:
    """descriptors.binpb and the generated modules come from the same `make generate`."""
    contract = [f for f in contract_descriptors().file if f.package == "revox.campaigns.v1"]
    assert SERVICE_FILE in {f.name for f in contract}
    assert pb.DESCRIPTOR.name == SERVICE_FILE
    for file in contract:
        assert file.source_code_info.location, file.name
        compiled = FileProto()
        descriptor_pool.Default().FindFileByName(file.name).CopyToProto(compiled)
        assert _normalized(file) == _normalized(compiled), f"{file.name}: run make generate"
