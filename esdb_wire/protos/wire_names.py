"""Canonical EventStoreDB wire names for our prefixed protobuf definitions.

Protobuf's binary encoding carries no names, but two places on the wire do: gRPC method
paths (``/event_store.client.streams.Streams/Read``) and ``google.protobuf.Any`` type URLs
(``type.googleapis.com/event_store.client.WrongExpectedVersion``). Both are derived here,
from the descriptors, by dropping our package prefix.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.any_pb2 import Any
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

PACKAGE_PREFIX = "esdb_wire."
TYPE_URL_PREFIX = "type.googleapis.com/"

M = TypeVar("M", bound=Message)


def canonical_name(full_name: str) -> str:
    """The upstream full name of one of our protobuf symbols."""
    if full_name.startswith(PACKAGE_PREFIX):
        return full_name[len(PACKAGE_PREFIX) :]
    return full_name


def method_path(service: ServiceDescriptor, method: str) -> str:
    """The gRPC ``:path`` of a method, e.g. ``/event_store.client.gossip.Gossip/Read``."""
    if method not in service.methods_by_name:
        raise KeyError(f"{canonical_name(service.full_name)} has no method {method!r}")
    return f"/{canonical_name(service.full_name)}/{method}"


def type_url(full_name: str) -> str:
    """The canonical ``Any`` type URL of a message type, from its full name."""
    return TYPE_URL_PREFIX + canonical_name(full_name)


def pack_any(message: Message) -> Any:
    """Wrap ``message`` in an ``Any`` with its canonical type URL."""
    return Any(type_url=type_url(message.DESCRIPTOR.full_name), value=message.SerializeToString())


def unpack_any(packed: Any, message_type: type[M]) -> M | None:
    """Decode ``packed`` as ``message_type``, or return None if it holds another type."""
    if packed.type_url.rpartition("/")[2] != canonical_name(message_type.DESCRIPTOR.full_name):
        return None
    return message_type.FromString(packed.value)
