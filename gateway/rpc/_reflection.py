"""gRPC server reflection (``grpc.reflection.v1`` and ``v1alpha``) with the contract's comments.

Why not grpcio-reflection's ``enable_server_reflection``: it speaks only v1alpha, it cannot
resolve a method (``grpcurl describe pkg.Service.Method`` says "Symbol not found",
grpc/grpc#34743), and it serves the Python descriptor pool, which keeps no comments, so
``grpcurl describe`` showed no documentation.

This servicer answers from ``descriptors.binpb``, the FileDescriptorSet that
``protos/generate.py`` writes beside the generated code with source info and every import
(well-known types, googleapis), plus the files of a few Python modules the set lacks (health,
error details, reflection itself). It indexes every symbol the proto language defines: services,
methods, messages, nested messages, fields, oneofs, enums, enum values (``pkg.VALUE``, their
proto scope, and ``pkg.Enum.VALUE``) and extensions. The file asked for is always answered,
with those of its transitive imports this stream has not received yet (as grpc-go does). v1 is
wire-identical to v1alpha apart from the package, so one handler serves both service names
with the v1alpha message classes; the v1 file is the v1alpha one renamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as pb

__all__ = [
    "DESCRIPTOR_SET",
    "REFLECTION_SERVICES",
    "DescriptorIndex",
    "FileDescriptor",
    "ReflectionServicer",
    "contract_descriptors",
    "enable_reflection",
]

_V1ALPHA = pb.DESCRIPTOR.services_by_name["ServerReflection"].full_name
_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_SERVICES = (_V1, _V1ALPHA)
DESCRIPTOR_SET = "descriptors.binpb"
_CONTRACT_PACKAGE = "generated.revox.campaigns.v1"

_File = descriptor_pb2.FileDescriptorProto
_Message = descriptor_pb2.DescriptorProto
_Enum = descriptor_pb2.EnumDescriptorProto
_Field = descriptor_pb2.FieldDescriptorProto
_Context = grpc.aio.ServicerContext[pb.ServerReflectionRequest, pb.ServerReflectionResponse]


class FileDescriptor(Protocol):
    """A Python module's ``DESCRIPTOR`` (pure-Python or upb)."""

    @property
    def name(self) -> str: ...
    @property
    def dependencies(self) -> Sequence[FileDescriptor]: ...
    def CopyToProto(self, proto: _File, /) -> None: ...


def contract_descriptors() -> descriptor_pb2.FileDescriptorSet:
    """The contract's descriptor set, with source info, as ``make generate`` wrote it."""
    data = resources.files(_CONTRACT_PACKAGE).joinpath(DESCRIPTOR_SET).read_bytes()
    return descriptor_pb2.FileDescriptorSet.FromString(data)


def _join(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def _with_dependencies(descriptor: FileDescriptor) -> Iterable[_File]:
    """``descriptor`` and its transitive imports, as FileDescriptorProtos (no comments)."""
    seen: set[str] = set()
    pending = [descriptor]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        proto = _File()
        current.CopyToProto(proto)
        yield proto
        pending.extend(current.dependencies)


def _drop_json_names(file: _File) -> None:
    """Clear the ``json_name`` protoc writes into a descriptor set (the Python pool has none):
    with it grpcurl prints lowerCamelCase names, without it the proto names it always printed
    (the README walkthrough reads ``csv_chunk``, ``resume_token``)."""
    messages = list(file.message_type)
    for extension in file.extension:
        extension.ClearField("json_name")
    while messages:
        message = messages.pop()
        for field in (*message.field, *message.extension):
            field.ClearField("json_name")
        messages.extend(message.nested_type)


def _v1_reflection_file() -> _File:
    """reflection.proto of ``grpc.reflection.v1``: the v1alpha file under the v1 package."""
    proto = _File()
    pb.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = "grpc/reflection/v1/reflection.proto", new.strip(".")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name.removeprefix(old)
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type.removeprefix(old)
            method.output_type = new + method.output_type.removeprefix(old)
    return proto


class DescriptorIndex:
    """Files by name, symbols and extensions to the file defining them; first file wins."""

    def __init__(self, files: Iterable[_File]) -> None:
        self._files: dict[str, _File] = {}
        self._encoded: dict[str, bytes] = {}
        self._symbols: dict[str, str] = {}
        self._messages: set[str] = set()
        self._extensions: dict[str, dict[int, str]] = {}
        for file in files:
            if file.name not in self._files:
                self._files[file.name] = file
                self._encoded[file.name] = file.SerializeToString()
                self._add_file(file)

    @classmethod
    def build(cls, extra: Iterable[FileDescriptor] = ()) -> DescriptorIndex:
        """The contract's set, then ``extra`` modules' files (and imports) it lacks, and the
        reflection files of both versions."""
        files: list[_File] = list(contract_descriptors().file)
        for file in files:
            _drop_json_names(file)
        for descriptor in (*extra, pb.DESCRIPTOR):
            files.extend(_with_dependencies(descriptor))
        files.append(_v1_reflection_file())
        return cls(files)

    def file_of_symbol(self, symbol: str) -> str | None:
        return self._symbols.get(symbol.removeprefix("."))

    def file_of_extension(self, extendee: str, number: int) -> str | None:
        return self._extensions.get(extendee.removeprefix("."), {}).get(number)

    def extension_numbers(self, extendee: str) -> list[int] | None:
        """The extension numbers of a known message, None for an unknown one."""
        name = extendee.removeprefix(".")
        return sorted(self._extensions.get(name, {})) if name in self._messages else None

    def has_file(self, name: str) -> bool:
        return name in self._files

    def with_dependencies(self, name: str, sent: set[str]) -> list[bytes]:
        """File ``name`` (always) and its transitive imports not yet in ``sent``, which grows."""
        answer: list[bytes] = []
        pending = [name]
        while pending:
            current = pending.pop(0)
            if (answer and current in sent) or current not in self._files:
                continue
            sent.add(current)
            answer.append(self._encoded[current])
            pending.extend(self._files[current].dependency)
        return answer

    def _symbol(self, name: str, file: str) -> None:
        self._symbols.setdefault(name, file)

    def _add_file(self, file: _File) -> None:
        package, name = file.package, file.name
        for message in file.message_type:
            self._add_message(message, package, name)
        for enum in file.enum_type:
            self._add_enum(enum, package, name)
        for extension in file.extension:
            self._add_extension(extension, package, name)
        for service in file.service:
            full = _join(package, service.name)
            self._symbol(full, name)
            for method in service.method:
                self._symbol(f"{full}.{method.name}", name)

    def _add_message(self, message: _Message, scope: str, file: str) -> None:
        full = _join(scope, message.name)
        self._symbol(full, file)
        self._messages.add(full)
        for field in message.field:
            self._symbol(f"{full}.{field.name}", file)
        for oneof in message.oneof_decl:
            self._symbol(f"{full}.{oneof.name}", file)
        for nested in message.nested_type:
            self._add_message(nested, full, file)
        for enum in message.enum_type:
            self._add_enum(enum, full, file)
        for extension in message.extension:
            self._add_extension(extension, full, file)

    def _add_enum(self, enum: _Enum, scope: str, file: str) -> None:
        full = _join(scope, enum.name)
        self._symbol(full, file)
        for value in enum.value:
            self._symbol(_join(scope, value.name), file)  # a sibling of its enum, as protoc scopes it
            self._symbol(f"{full}.{value.name}", file)

    def _add_extension(self, extension: _Field, scope: str, file: str) -> None:
        self._symbol(_join(scope, extension.name), file)
        extendee = extension.extendee.removeprefix(".")
        self._extensions.setdefault(extendee, {}).setdefault(extension.number, file)


def _error(code: grpc.StatusCode, message: str) -> pb.ErrorResponse:
    return pb.ErrorResponse(error_code=code.value[0], error_message=message)


class ReflectionServicer:
    """``ServerReflectionInfo`` over a ``DescriptorIndex``, for v1 and v1alpha alike."""

    def __init__(self, index: DescriptorIndex, service_names: Iterable[str]) -> None:
        self._index = index
        self._services = tuple(sorted(set(service_names)))

    async def ServerReflectionInfo(
        self, requests: AsyncIterator[pb.ServerReflectionRequest], context: _Context
    ) -> AsyncIterator[pb.ServerReflectionResponse]:
        sent: set[str] = set()  # files this stream has already received
        async for request in requests:
            yield self.answer(request, sent)

    def answer(
        self, request: pb.ServerReflectionRequest, sent: set[str]
    ) -> pb.ServerReflectionResponse:
        response = pb.ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.WhichOneof("message_request")
        index, file, missing = self._index, None, ""
        if kind == "list_services":
            response.list_services_response.service.extend(
                pb.ServiceResponse(name=name) for name in self._services
            )
            return response
        if kind == "all_extension_numbers_of_type":
            numbers = index.extension_numbers(request.all_extension_numbers_of_type)
            if numbers is not None:
                answer = response.all_extension_numbers_response
                answer.base_type_name = request.all_extension_numbers_of_type.removeprefix(".")
                answer.extension_number.extend(numbers)
                return response
            missing = f"message type not found: {request.all_extension_numbers_of_type}"
        elif kind == "file_by_filename":
            name = request.file_by_filename
            file = name if index.has_file(name) else None
            missing = f"file not found: {name}"
        elif kind == "file_containing_symbol":
            file = index.file_of_symbol(request.file_containing_symbol)
            missing = f"symbol not found: {request.file_containing_symbol}"
        elif kind == "file_containing_extension":
            ext = request.file_containing_extension
            file = index.file_of_extension(ext.containing_type, ext.extension_number)
            missing = f"extension not found: {ext.containing_type} {ext.extension_number}"
        else:
            response.error_response.CopyFrom(
                _error(grpc.StatusCode.INVALID_ARGUMENT, "no or unknown message_request")
            )
            return response
        if file is None:
            response.error_response.CopyFrom(_error(grpc.StatusCode.NOT_FOUND, missing))
        else:
            found = index.with_dependencies(file, sent)
            response.file_descriptor_response.file_descriptor_proto.extend(found)
        return response


def enable_reflection(
    server: grpc.aio.Server,
    service_names: Sequence[str],
    extra: Iterable[FileDescriptor] = (),
) -> ReflectionServicer:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` (give
    ``REFLECTION_SERVICES`` among them to list these too); ``extra`` are the Python
    modules' file descriptors of services or types the contract's set lacks."""
    servicer = ReflectionServicer(DescriptorIndex.build(extra), service_names)
    method: grpc.RpcMethodHandler[Any, Any] = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=pb.ServerReflectionRequest.FromString,
        response_serializer=pb.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": method})
            for name in REFLECTION_SERVICES
        )
    )
    return servicer
