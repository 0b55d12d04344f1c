"""Read responses assembled from bytes encoded once per record.

A record's plain read response, ``ReadResp{event: ReadEvent{event, commit_position}}``,
is encoded the first time a read needs it and kept on the record (one per UUID form):
every later read of the event sends those bytes as they are. Its ``RecordedEvent``,
for responses built around it (links, persistent subscriptions), is a slice of them.
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


Fill = Callable[[RecordedEventProto, Record, bool], None]


def read_response_bytes(record: Record, structured: bool, fill: Fill) -> bytes:
    """The record's encoded plain read response (cached on the record, per UUID form)."""
    cached = record.wire_structured if structured else record.wire_string
    if cached is None:
        message = RecordedEventProto()
        fill(message, record, structured)
        cached = read_event_response(message.SerializeToString(), None, record.position)
        if structured:
            record.wire_structured = cached
        else:
            record.wire_string = cached
    return cached


def recorded_event_bytes(record: Record, structured: bool, fill: Fill) -> bytes:
    """The record's encoded ``RecordedEvent``: the part of its read response it is."""
    response = read_response_bytes(record, structured, fill)
    # ReadResp.event's tag and length, then ReadEvent.event's tag and length.
    offset = _skip_varint(response, 1)
    start = _skip_varint(response, offset + 1)
    length = _read_varint(response, offset + 1)
    return response[start : start + length]


def _skip_varint(data: bytes, offset: int) -> int:
    """The offset just past the varint at ``offset``."""
    while data[offset] & 0x80:
        offset += 1
    return offset + 1


def _read_varint(data: bytes, offset: int) -> int:
    value = shift = 0
    while True:
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        offset += 1
        shift += 7


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
