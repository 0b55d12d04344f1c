"""Read responses assembled from bytes encoded once per record.

A record's ``RecordedEvent`` message is encoded the first time a read needs it and kept
on the record; every later read wraps those bytes in the few framing bytes of
``ReadResp.event`` instead of building and serialising messages again.
"""

from __future__ import annotations

from collections.abc import Callable

from esdb_wire.protos import streams_pb2
from esdb_wire.server.records import Record

RecordedEventProto = streams_pb2.ReadResp.ReadEvent.RecordedEvent

# Tags (field number << 3 | wire type) of the fields written here.
_READ_RESP_EVENT = b"\x0a"  # ReadResp.event = 1, length-delimited
_READ_EVENT_EVENT = b"\x0a"  # ReadEvent.event = 1
_READ_EVENT_LINK = b"\x12"  # ReadEvent.link = 2
_READ_EVENT_COMMIT_POSITION = b"\x18"  # ReadEvent.commit_position = 3, varint


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def recorded_event_bytes(
    record: Record, structured: bool, fill: Callable[[RecordedEventProto, Record, bool], None]
) -> bytes:
    """The record's encoded ``RecordedEvent`` (cached on the record, per UUID form)."""
    if structured:
        cached = record.wire_structured
        if cached is None:
            message = RecordedEventProto()
            fill(message, record, True)
            cached = record.wire_structured = message.SerializeToString()
        return cached
    cached = record.wire_string
    if cached is None:
        message = RecordedEventProto()
        fill(message, record, False)
        cached = record.wire_string = message.SerializeToString()
    return cached


def read_event_response(event: bytes | None, link: bytes | None, commit_position: int) -> bytes:
    """An encoded ``ReadResp{event: ReadEvent{event, link, commit_position}}``."""
    parts: list[bytes] = []
    if event is not None:
        parts += (_READ_EVENT_EVENT, varint(len(event)), event)
    if link is not None:
        parts += (_READ_EVENT_LINK, varint(len(link)), link)
    parts += (_READ_EVENT_COMMIT_POSITION, varint(commit_position))
    body = b"".join(parts)
    return b"".join((_READ_RESP_EVENT, varint(len(body)), body))
