"""How services plug into a gRPC server, independent of the transport underneath.

A service is a plain object with one ``async`` method per rpc, named as in the proto
service. Its shape follows the rpc's streaming flags:

* unary: ``async def M(self, request, context) -> response``
* server streaming: ``async def M(self, request, context) -> AsyncIterator[response]``
  (an async generator)
* client streaming: ``async def M(self, requests: AsyncIterator, context) -> response``
* bidirectional: ``async def M(self, requests: AsyncIterator, context) -> AsyncIterator``

Handlers end a call with a non-OK status by raising the transport's
:class:`~esdb_wire.transport.status.StatusError` (its ``trailing_metadata`` are the
trailers, its ``details_bin`` the ``grpc-status-details-bin`` trailer). Any other
exception becomes UNKNOWN "Exception was thrown by handler." (as the real server says).
:func:`methods_of` turns a service object into :class:`Method` entries keyed by gRPC
path, which both our own server and the grpcio adapter mount.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from esdb_wire.protos.wire_names import method_path
from esdb_wire.transport.status import MetadataValue, StatusCode, StatusError

UNHANDLED_MESSAGE = "Exception was thrown by handler."


class CallContext(Protocol):
    """What a handler may know about its call."""

    @property
    def metadata(self) -> Mapping[str, str]:
        """The request's custom metadata (lower-case keys, text values; last one wins)."""

    @property
    def peer(self) -> str:
        """The client's address, e.g. ``127.0.0.1:50312``."""

    def time_remaining(self) -> float | None:
        """Seconds until the call's deadline, or None without one."""

    def set_trailers(self, trailers: Sequence[tuple[str, MetadataValue]]) -> None:
        """Custom trailers to send with an OK status."""


@dataclass(frozen=True)
class Method:
    """One mounted rpc."""

    path: str
    name: str
    request_type: type[Message]
    response_type: type[Message]
    client_streaming: bool
    server_streaming: bool
    handler: Callable[..., Any]


def methods_of(
    service: object, descriptor: ServiceDescriptor, types: Mapping[str, type[Message]]
) -> dict[str, Method]:
    """Map each rpc of ``descriptor`` implemented by ``service`` to a :class:`Method`.

    ``types`` maps message full names to classes (see :func:`message_types`). Methods the
    service object lacks are left out: the server answers them UNIMPLEMENTED.
    """
    proto = descriptor_pb2.ServiceDescriptorProto()
    descriptor.CopyToProto(proto)
    streaming = {m.name: (m.client_streaming, m.server_streaming) for m in proto.method}
    methods = {}
    for method in descriptor.methods:
        handler = getattr(service, method.name, None)
        if handler is None:
            continue
        client_streaming, server_streaming = streaming[method.name]
        path = method_path(descriptor, method.name)
        methods[path] = Method(
            path=path,
            name=method.name,
            request_type=types[method.input_type.full_name],
            response_type=types[method.output_type.full_name],
            client_streaming=client_streaming,
            server_streaming=server_streaming,
            handler=handler,
        )
    return methods


def message_types(*modules: Any) -> dict[str, type[Message]]:
    """Full name → message class, for every message (nested too) of ``*_pb2`` modules."""
    found: dict[str, type[Message]] = {}

    def walk(owner: Any, names: Any) -> None:
        for name in names:
            cls = getattr(owner, name)
            found[cls.DESCRIPTOR.full_name] = cls
            walk(cls, [nested.name for nested in cls.DESCRIPTOR.nested_types])

    for module in modules:
        # Names from the descriptors (iterating the mapping itself differs across versions).
        walk(module, [message.name for message in module.DESCRIPTOR.message_types_by_name.values()])
    # Well-known types used as rpc inputs/outputs.
    from google.protobuf import empty_pb2  # noqa: PLC0415

    found[empty_pb2.Empty.DESCRIPTOR.full_name] = empty_pb2.Empty
    return found


async def single(requests: AsyncIterator[Message]) -> Message:
    """The one request of a unary call."""
    async for request in requests:
        return request
    raise StatusError(StatusCode.INTERNAL, "no request message")
