"""Protobuf's wire format read without the protobuf runtime.

For the few answers a client decodes before its first real call, so that connecting
imports no protobuf: gossip, read when the client discovers its node
(:mod:`esdb_wire.codec.gossip`). :func:`fields` walks one message's fields as protobuf
does: it skips groups, rejects what protobuf rejects (truncated data, wire types 6 and 7,
field number 0, an unmatched end of group) with protobuf's own ``DecodeError``, and leaves
the meaning of each field, and fields of a wire type other than their declared one
(protobuf keeps those as unknown fields), to its caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Union

from esdb_wire.lazy_import import lazy_module

if TYPE_CHECKING:
    from google.protobuf import message as protobuf_message
else:
    protobuf_message = lazy_module("google.protobuf.message")  # only to raise DecodeError

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
START_GROUP = 3
END_GROUP = 4
FIXED32 = 5

_MAX_FIELD_NUMBER = (1 << 29) - 1
_MAX_VARINT_BYTES = 10
_MAX_DEPTH = 100  # protobuf's default recursion limit
_MASK32 = (1 << 32) - 1
_MASK64 = (1 << 64) - 1

FieldValue = Union[int, bytes]
"""An integer (varint, fixed32, fixed64: unsigned, as on the wire) or the bytes of a
length-delimited field."""


def malformed(reason: str) -> Exception:
    """Protobuf's ``DecodeError`` for data that is no valid message."""
    return protobuf_message.DecodeError(f"Error parsing message: {reason}")


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The varint at ``offset`` (as an unsigned 64-bit value) and the offset after it."""
    result = 0
    for index in range(_MAX_VARINT_BYTES):
        if offset >= len(data):
            raise malformed("truncated varint")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return result & _MASK64, offset
    raise malformed("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, FieldValue]]:
    """``(field number, wire type, value)`` for each field of the encoded message
    ``data``, in order; groups are skipped. Raises ``DecodeError`` where protobuf would."""
    offset = 0
    end = len(data)
    while offset < end:
        number, wire_type, offset = _tag(data, offset)
        if wire_type == END_GROUP:
            raise malformed("end of group outside a group")
        if wire_type == START_GROUP:
            offset = _skip_group(data, offset, number, 1)
            continue
        value, offset = _value(data, offset, wire_type)
        yield number, wire_type, value


def int32(value: FieldValue) -> int:
    """A varint field as protobuf reads an ``int32`` or an enum: its low 32 bits, signed."""
    number = int(value) & _MASK32
    return number - (1 << 32) if number >> 31 else number


def uint32(value: FieldValue) -> int:
    """A varint field as protobuf reads a ``uint32``: its low 32 bits."""
    return int(value) & _MASK32


def text(value: bytes) -> str:
    """A length-delimited field as a ``string``: UTF-8, else ``DecodeError``."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise malformed(f"string field is not UTF-8 ({error.reason})") from error


def _tag(data: bytes, offset: int) -> tuple[int, int, int]:
    tag, offset = read_varint(data, offset)
    number, wire_type = tag >> 3, tag & 7
    if not 0 < number <= _MAX_FIELD_NUMBER:
        raise malformed(f"invalid field number {number}")
    if wire_type > FIXED32:
        raise malformed(f"invalid wire type {wire_type}")
    return number, wire_type, offset


def _value(data: bytes, offset: int, wire_type: int) -> tuple[FieldValue, int]:
    if wire_type == VARINT:
        return read_varint(data, offset)
    size = 8 if wire_type == FIXED64 else 4
    if wire_type == LENGTH_DELIMITED:
        size, offset = read_varint(data, offset)
    end = offset + size
    if end > len(data):
        raise malformed("truncated field")
    if wire_type == LENGTH_DELIMITED:
        return data[offset:end], end
    return int.from_bytes(data[offset:end], "little"), end


def _skip_group(data: bytes, offset: int, number: int, depth: int) -> int:
    """The offset after the group ``number`` whose fields start at ``offset``."""
    if depth > _MAX_DEPTH:
        raise malformed("groups nested too deeply")
    while offset < len(data):
        inner, wire_type, offset = _tag(data, offset)
        if wire_type == END_GROUP:
            if inner != number:
                raise malformed(f"group {number} ended by the end of group {inner}")
            return offset
        if wire_type == START_GROUP:
            offset = _skip_group(data, offset, inner, depth + 1)
        else:
            offset = _value(data, offset, wire_type)[1]
    raise malformed(f"group {number} not ended")
