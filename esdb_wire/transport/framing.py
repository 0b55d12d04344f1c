"""gRPC length-prefixed message framing: where a byte stream becomes messages.

Each message on the wire is a 5-byte prefix (1-byte compressed flag, 4-byte big-endian
length) and the payload. :class:`MessageDecoder` is incremental: feed it DATA payloads as
they arrive, in any chunking, and it returns the messages completed so far.
"""

from __future__ import annotations

import struct
import zlib
from typing import Callable

from esdb_wire.transport.status import StatusCode, StatusError

PREFIX = struct.Struct(">BI")
PREFIX_SIZE = PREFIX.size
MAX_WIRE_LENGTH = 2**32 - 1
_unpack_prefix = PREFIX.unpack_from
_pack_prefix = PREFIX.pack


class FramingError(StatusError):
    """The peer sent bytes that are not a valid gRPC message stream."""


def encode_message(payload: bytes) -> bytes:
    """Prefix ``payload`` for the wire (uncompressed)."""
    if len(payload) > MAX_WIRE_LENGTH:
        raise FramingError(
            StatusCode.RESOURCE_EXHAUSTED, f"message of {len(payload)} bytes cannot be framed"
        )
    return _pack_prefix(0, len(payload)) + payload


def _inflater(wbits: int) -> Callable[[bytes, int], bytes]:
    def inflate(data: bytes, limit: int) -> bytes:
        """Decompress at most ``limit`` + 1 bytes, so a bomb cannot exhaust memory."""
        decompressor = zlib.decompressobj(wbits)
        output = decompressor.decompress(data, limit + 1)
        if len(output) <= limit and not decompressor.eof:
            raise zlib.error("truncated compressed message")
        return output

    return inflate


# Decoders for the grpc-encoding values we accept (and advertise in grpc-accept-encoding).
DECOMPRESSORS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _inflater(16 + zlib.MAX_WBITS),
    "deflate": _inflater(zlib.MAX_WBITS),
}


class MessageDecoder:
    """Incremental decoder of one direction of one call.

    :meth:`feed` returns the messages completed by a chunk and records in
    :attr:`held` how many bytes of that chunk belong to them (the rest belongs to an
    unfinished message). Flow control uses it: bytes of a complete message are handed
    back to the peer when the application consumes it; bytes of an unfinished message
    at once, so a message larger than the window can never deadlock.
    """

    __slots__ = ("_buffer", "_decompress", "held", "max_message_size")

    def __init__(self, max_message_size: int, encoding: str | None = None) -> None:
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._decompress = self._decompressor(encoding)
        self.held = 0

    @staticmethod
    def _decompressor(encoding: str | None) -> Callable[[bytes, int], bytes] | None:
        if encoding is None or encoding == "identity":
            return None
        if encoding not in DECOMPRESSORS:
            raise FramingError(StatusCode.UNIMPLEMENTED, f"unsupported grpc-encoding {encoding!r}")
        return DECOMPRESSORS[encoding]

    def set_encoding(self, encoding: str | None) -> None:
        """Use the ``grpc-encoding`` the peer announced in its headers."""
        self._decompress = self._decompressor(encoding)

    @property
    def pending(self) -> bool:
        """Whether an unfinished message is buffered."""
        return bool(self._buffer)

    @property
    def pending_prefix(self) -> bytes:
        """The buffered bytes of the unfinished message's 5-byte prefix (up to all five)."""
        return bytes(self._buffer[:PREFIX_SIZE])

    def feed(self, data: bytes) -> list[bytes]:
        """Decode the messages completed by ``data``."""
        messages: list[bytes] = []
        size = len(data)
        position = 0
        if self._buffer:
            position = self._continue(data, messages)
            if not messages:
                self.held = 0
                return messages
        while size - position >= PREFIX_SIZE:
            flag, length = _unpack_prefix(data, position)
            if flag or length > self.max_message_size:
                self._check_prefix(flag, length)
            end = position + PREFIX_SIZE + length
            if end > size:
                break
            payload = data[position + PREFIX_SIZE : end]
            messages.append(self._decompressed(payload) if flag else payload)
            position = end
        if position < size:
            self._buffer += data[position:]
        self.held = position
        return messages

    def _continue(self, data: bytes, messages: list[bytes]) -> int:
        """Extend the buffered message from the front of ``data``; return bytes used."""
        buffer = self._buffer
        used = 0
        if len(buffer) < PREFIX_SIZE:
            used = min(PREFIX_SIZE - len(buffer), len(data))
            buffer += data[:used]
            if len(buffer) < PREFIX_SIZE:
                return used
        flag, length = _unpack_prefix(buffer, 0)
        if used:
            self._check_prefix(flag, length)
        chunk = data[used : used + PREFIX_SIZE + length - len(buffer)]
        buffer += chunk
        used += len(chunk)
        if len(buffer) == PREFIX_SIZE + length:
            payload = bytes(buffer[PREFIX_SIZE:])
            buffer.clear()
            messages.append(self._decompressed(payload) if flag else payload)
        return used

    def _check_prefix(self, flag: int, length: int) -> None:
        if flag > 1:
            raise FramingError(StatusCode.INTERNAL, f"invalid gRPC message flags 0x{flag:02x}")
        if flag and self._decompress is None:
            raise FramingError(
                StatusCode.INTERNAL, "compressed gRPC message without a grpc-encoding"
            )
        if length > self.max_message_size:
            raise FramingError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"received message larger than max ({length} vs. {self.max_message_size})",
            )

    def _decompressed(self, payload: bytes) -> bytes:
        assert self._decompress is not None  # checked with the prefix
        try:
            message = self._decompress(payload, self.max_message_size)
        except zlib.error as exc:
            raise FramingError(StatusCode.INTERNAL, f"cannot decompress message: {exc}") from None
        if len(message) > self.max_message_size:
            raise FramingError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"decompressed message larger than max ({len(message)} vs. "
                f"{self.max_message_size})",
            )
        return message
