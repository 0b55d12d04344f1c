"""UUIDs on the wire: ``event_store.client.UUID``, a structured int64 pair (Java UUID
layout: signed big-endian halves) or the lowercase 8-4-4-4-12 string."""

from __future__ import annotations

from uuid import UUID

from esdb_wire.protos import shared_pb2

_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63
UNSET_MESSAGE = "Invalid argument: None (Parameter 'dto')"


def read_uuid(message: shared_pb2.UUID, default: UUID | None = None) -> UUID:
    """Decode either form. An unset UUID gives ``default``, or ValueError without one."""
    kind = message.WhichOneof("value")
    if kind == "structured":
        structured = message.structured
        high = structured.most_significant_bits & _MASK64
        low = structured.least_significant_bits & _MASK64
        return UUID(int=(high << 64) | low)
    if kind == "string":
        return UUID(message.string)
    if default is not None:
        return default
    raise ValueError(UNSET_MESSAGE)


def write_uuid(target: shared_pb2.UUID, value: UUID, *, structured: bool = True) -> None:
    """Write ``value`` into ``target`` in the structured (default) or string form."""
    if not structured:
        target.string = str(value)
        return
    number = value.int
    high = number >> 64
    low = number & _MASK64
    target.structured.most_significant_bits = high - (1 << 64) if high & _SIGN64 else high
    target.structured.least_significant_bits = low - (1 << 64) if low & _SIGN64 else low


def uuid_message(value: UUID, *, structured: bool = True) -> shared_pb2.UUID:
    """A new UUID message for ``value``."""
    message = shared_pb2.UUID()
    write_uuid(message, value, structured=structured)
    return message
