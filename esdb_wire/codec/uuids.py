"""UUIDs on the wire: ``event_store.client.UUID`` (structured int64 pair or string)."""

from __future__ import annotations

from uuid import UUID

from esdb_wire.protos import shared_pb2

_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63


def uuid_from_proto(message: shared_pb2.UUID) -> UUID:
    """Decode either form (the server answers in the form the request asked for)."""
    if message.HasField("structured"):
        structured = message.structured
        high = structured.most_significant_bits & _MASK64
        low = structured.least_significant_bits & _MASK64
        return UUID(int=(high << 64) | low)
    return UUID(message.string) if message.string else UUID(int=0)


def uuid_to_proto(value: UUID, target: shared_pb2.UUID) -> None:
    """Write ``value`` into ``target`` in the structured form (Java UUID layout)."""
    number = value.int
    high = number >> 64
    low = number & _MASK64
    target.structured.most_significant_bits = high - (1 << 64) if high & _SIGN64 else high
    target.structured.least_significant_bits = low - (1 << 64) if low & _SIGN64 else low
