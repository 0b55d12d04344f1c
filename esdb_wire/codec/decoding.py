"""Response bytes into protobuf messages, with one typed failure: bytes that are not the
expected message raise :class:`~esdb_wire.exceptions.UndecodableResponse`, naming the call
and the message type, instead of protobuf's ``DecodeError``."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from esdb_wire.exceptions import UndecodableResponse
from esdb_wire.protos.wire_names import canonical_name

M = TypeVar("M", bound=Message)

# What a parse of bad bytes raises: protobuf's DecodeError, or (the pure-Python backend,
# a string field that is not UTF-8) UnicodeDecodeError.
DECODE_ERRORS = (DecodeError, UnicodeDecodeError)


def decode(message_type: type[M], data: bytes, method: str) -> M:
    """``data`` as a ``message_type``, the response of the call ``method``
    (``Streams.Append``, say), or :class:`~esdb_wire.exceptions.UndecodableResponse`."""
    try:
        return message_type.FromString(data)
    except DECODE_ERRORS as error:
        raise undecodable(message_type, method, error) from error


def undecodable(message_type: type[Message], method: str, error: Exception) -> UndecodableResponse:
    """The exception for a ``message_type`` response of ``method`` that failed to decode
    with ``error`` (hot paths catch :data:`DECODE_ERRORS` themselves and raise this)."""
    name = canonical_name(message_type.DESCRIPTOR.full_name)
    return UndecodableResponse(
        f"the server's response to {method} is not a valid {name}: {error}",
        method=method,
        message_type=name,
    )
