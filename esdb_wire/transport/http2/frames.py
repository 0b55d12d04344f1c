"""HTTP/2 frames (RFC 9113 section 4 and 6): where received bytes become frames, and
frames become bytes to send.

:class:`FrameReader` splits a byte stream into ``(type, flags, stream_id, payload)``
tuples, in any chunking, buffering at most one partial frame (joined once, when it is
complete, so a large frame arriving in many reads is not copied over and over). The
``*_payload`` functions check and decode the fixed-layout frame payloads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Protocol

from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

# SETTINGS parameters (RFC 9113 section 6.5.2).
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_WINDOW_SIZE = 65535
DEFAULT_MAX_FRAME_SIZE = 16384
MAX_WINDOW_SIZE = 2**31 - 1
MAX_FRAME_SIZE_LIMIT = 2**24 - 1
HEADER_SIZE = 9

# Length (24 bits) and type packed in the first word, then flags and the stream id.
_HEADER = struct.Struct(">LBL")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
_U32 = struct.Struct(">L")
_SETTING = struct.Struct(">HL")
_GOAWAY = struct.Struct(">LL")

Frame = tuple[int, int, int, bytes]


def frame_header(kind: int, flags: int, stream_id: int, length: int) -> bytes:
    """The 9-byte header of a frame with a ``length``-byte payload."""
    return _pack_header(length << 8 | kind, flags, stream_id)


def encode_frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _pack_header(len(payload) << 8 | kind, flags, stream_id) + payload


class FrameReader:
    """Incremental frame splitter, checking each frame's length against our limit."""

    __slots__ = ("_have", "_need", "_parts", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._parts: list[bytes] = []
        self._have = 0
        self._need = HEADER_SIZE

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return self._have

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``.

        Raises :class:`Http2ProtocolError` (FRAME_SIZE_ERROR) on a frame over the limit.
        """
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            data = b"".join(self._parts)
            self._parts = []
            self._have = 0
        frames: list[Frame] = []
        size = len(data)
        pos = 0
        limit = self.max_frame_size
        while size - pos >= HEADER_SIZE:
            word, flags, stream_id = _unpack_header(data, pos)
            length = word >> 8
            if length > limit:
                raise Http2ProtocolError(
                    ErrorCode.FRAME_SIZE_ERROR,
                    f"frame of {length} bytes is over the {limit}-byte limit",
                )
            end = pos + HEADER_SIZE + length
            if end > size:
                break
            frames.append(
                (word & 0xFF, flags, stream_id & 0x7FFFFFFF, data[pos + HEADER_SIZE : end])
            )
            pos = end
        if pos < size:
            rest = data[pos:] if pos else data
            self._parts = [rest]
            self._have = len(rest)
            if len(rest) >= HEADER_SIZE:
                length = _unpack_header(rest, 0)[0] >> 8
                if length > limit:
                    raise Http2ProtocolError(
                        ErrorCode.FRAME_SIZE_ERROR,
                        f"frame of {length} bytes is over the {limit}-byte limit",
                    )
                self._need = HEADER_SIZE + length
            else:
                self._need = HEADER_SIZE
        return frames


def strip_padding(payload: bytes, flags: int) -> bytes:
    """The payload of a DATA or HEADERS frame without its padding (if PADDED)."""
    if not flags & FLAG_PADDED:
        return payload
    if not payload:
        raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "padded frame without pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]


def header_block_fragment(payload: bytes, flags: int) -> bytes:
    """The header block fragment of a HEADERS frame (padding and priority removed)."""
    payload = strip_padding(payload, flags)
    if flags & FLAG_PRIORITY:
        if len(payload) < 5:
            raise Http2ProtocolError(
                ErrorCode.FRAME_SIZE_ERROR, "HEADERS priority fields are truncated"
            )
        payload = payload[5:]
    return payload


def settings_payload(payload: bytes) -> list[tuple[int, int]]:
    """The (parameter, value) pairs of a SETTINGS frame."""
    if len(payload) % 6:
        raise Http2ProtocolError(
            ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS payload of {len(payload)} bytes"
        )
    return [_SETTING.unpack_from(payload, offset) for offset in range(0, len(payload), 6)]


def check_setting(code: int, value: int) -> None:
    """Raise the connection error RFC 9113 (§6.5.2) requires for a SETTINGS value out of
    its range (a window over 2**31-1, a frame size outside 16 KiB-16 MiB, ENABLE_PUSH
    other than 0 or 1)."""
    if code == SETTINGS_INITIAL_WINDOW_SIZE and value > MAX_WINDOW_SIZE:
        raise Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2**31-1")
    if code == SETTINGS_MAX_FRAME_SIZE and not DEFAULT_MAX_FRAME_SIZE <= value <= (
        MAX_FRAME_SIZE_LIMIT
    ):
        raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, f"MAX_FRAME_SIZE of {value}")
    if code == SETTINGS_ENABLE_PUSH and value > 1:
        raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, f"ENABLE_PUSH of {value}")


class SendWindowed(Protocol):
    """A stream with a send window (either native engine's stream state)."""

    send_window: int


def shift_send_windows(streams: Iterable[SendWindowed], delta: int) -> None:
    """Apply a change of the peer's INITIAL_WINDOW_SIZE by ``delta`` to every open
    stream's send window (RFC 9113 §6.9.2): a window pushed over 2**31-1 is a
    connection error."""
    for stream in streams:
        stream.send_window += delta
        if stream.send_window > MAX_WINDOW_SIZE:
            raise Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "stream window over 2**31-1")


def encode_settings(settings: list[tuple[int, int]], *, ack: bool = False) -> bytes:
    payload = b"".join(_SETTING.pack(code, value) for code, value in settings)
    return encode_frame(SETTINGS, FLAG_ACK if ack else 0, 0, payload)


def u32_payload(payload: bytes, kind: str) -> int:
    """The 4-byte value of a RST_STREAM or WINDOW_UPDATE frame."""
    if len(payload) != 4:
        raise Http2ProtocolError(
            ErrorCode.FRAME_SIZE_ERROR, f"{kind} payload of {len(payload)} bytes"
        )
    value: int = _U32.unpack(payload)[0]
    return value


def goaway_payload(payload: bytes) -> tuple[int, int, bytes]:
    """(last stream id, error code, debug data) of a GOAWAY frame."""
    if len(payload) < 8:
        raise Http2ProtocolError(
            ErrorCode.FRAME_SIZE_ERROR, f"GOAWAY payload of {len(payload)} bytes"
        )
    last, code = _GOAWAY.unpack_from(payload)
    return last & 0x7FFFFFFF, code, payload[8:]


def encode_goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return encode_frame(GOAWAY, 0, 0, _GOAWAY.pack(last_stream_id, code) + debug)


def encode_window_update(stream_id: int, increment: int) -> bytes:
    return _pack_header(4 << 8 | WINDOW_UPDATE, 0, stream_id) + _U32.pack(increment)


def encode_rst_stream(stream_id: int, code: int) -> bytes:
    return _pack_header(4 << 8 | RST_STREAM, 0, stream_id) + _U32.pack(code)
