"""A raw HTTP/2 peer built from hyperframe frames and hpack blocks, for hostile input."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
READ_PATH = "/event_store.client.streams.Streams/Read"
APPEND_PATH = "/event_store.client.streams.Streams/Append"
ENHANCE_YOUR_CALM = 0xB
REFUSED_STREAM = 0x7
# What the native server engine's first SETTINGS frame names (only what it changes); the
# h2 engine's names HEADER_TABLE_SIZE and ENABLE_PUSH too. A way to tell a running
# server's engine from outside.
NATIVE_SERVER_SETTINGS = frozenset(
    {
        SettingsFrame.MAX_CONCURRENT_STREAMS,
        SettingsFrame.INITIAL_WINDOW_SIZE,
        SettingsFrame.MAX_HEADER_LIST_SIZE,
    }
)

Headers = Sequence[tuple[str, str]]


def request_headers(
    path: str = APPEND_PATH,
    extra: Iterable[tuple[str, str]] = (),
    *,
    method: str = "POST",
    **overrides: str,
) -> list[tuple[str, str]]:
    """The headers of a gRPC request (``overrides``, with ``_`` for ``-``, replace
    standard ones)."""
    fields = {
        ":method": method,
        ":scheme": "http",
        ":path": path,
        ":authority": "localhost",
        "content-type": "application/grpc",
        "te": "trailers",
    }
    for name, value in overrides.items():
        fields[name.replace("_", "-")] = value
    return [*fields.items(), *extra]


def literal_field(name: bytes, value: bytes) -> bytes:
    """An HPACK literal field without indexing, with a new name (leaves the table alone)."""
    return b"\x00" + _hpack_length(name) + name + _hpack_length(value) + value


def _hpack_length(data: bytes) -> bytes:
    length = len(data)
    if length < 127:
        return bytes([length])
    out = bytearray([127])
    length -= 127
    while length >= 128:
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    out.append(length)
    return bytes(out)


def grpc_message(payload: bytes, compressed: bool = False) -> bytes:
    return bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload


class RawPeer:
    """One raw HTTP/2 client connection (blocking socket)."""

    def __init__(
        self, host: str, port: int, *, preface: bool = True, timeout: float = 10.0
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self._buffer = bytearray()
        self.closed = False
        if preface:
            self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -----------------------------------------------------------------------

    def send(self, *frames: Frame | bytes) -> bool:
        """Send frames; False if the server has closed the connection."""
        data = b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True
            return False
        return True

    def block(self, headers: Headers) -> bytes:
        return bytes(self.encoder.encode(list(headers)))

    def headers(
        self, stream_id: int, headers: Headers, *, end_stream: bool = False
    ) -> HeadersFrame:
        frame = HeadersFrame(stream_id, self.block(headers))
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    @staticmethod
    def data(stream_id: int, payload: bytes, *, end_stream: bool = False) -> DataFrame:
        frame = DataFrame(stream_id, payload)
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    @staticmethod
    def rst(stream_id: int, code: int = 0x8) -> RstStreamFrame:
        return RstStreamFrame(stream_id, error_code=code)

    @staticmethod
    def ping(payload: bytes = b"12345678") -> PingFrame:
        return PingFrame(0, opaque_data=payload)

    @staticmethod
    def window_update(stream_id: int, increment: int) -> WindowUpdateFrame:
        return WindowUpdateFrame(stream_id, window_increment=increment)

    @staticmethod
    def continuation(stream_id: int, fragment: bytes, *, end: bool = False) -> ContinuationFrame:
        frame = ContinuationFrame(stream_id, fragment)
        if end:
            frame.flags.add("END_HEADERS")
        return frame

    # -- receiving ---------------------------------------------------------------------

    def frames(self, timeout: float) -> Iterable[Frame]:
        """Frames received within ``timeout`` seconds (ends early when the peer closes)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            frame = self._parse()
            if frame is not None:
                yield frame
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self._buffer += chunk

    def _parse(self) -> Frame | None:
        if len(self._buffer) < 9:
            return None
        frame, length = Frame.parse_frame_header(memoryview(bytes(self._buffer[:9])))
        if len(self._buffer) < 9 + length:
            return None
        frame.parse_body(memoryview(bytes(self._buffer[9 : 9 + length])))
        del self._buffer[: 9 + length]
        return frame

    def goaway(self, timeout: float) -> GoAwayFrame | None:
        """Read until a GOAWAY (returned) or the end of the connection/timeout (None)."""
        for frame in self.frames(timeout):
            if isinstance(frame, GoAwayFrame):
                return frame
        return None

    def wait_closed(self, timeout: float) -> bool:
        """Read (and drop) everything until the server closes the connection."""
        for _ in self.frames(timeout):
            pass
        return self.closed

    def response(self, stream_id: int, timeout: float = 10.0) -> dict[str, Any]:
        """Headers, data and trailers of one stream until it ends (or is reset)."""
        result: dict[str, Any] = {"headers": [], "data": b"", "reset": None}
        for frame in self.frames(timeout):
            if isinstance(frame, HeadersFrame):
                decoded = self.decoder.decode(frame.data)
                if frame.stream_id == stream_id:
                    result["headers"].extend(decoded)
            if frame.stream_id != stream_id:
                continue
            if isinstance(frame, DataFrame):
                result["data"] += frame.data
            elif isinstance(frame, RstStreamFrame):
                result["reset"] = frame.error_code
                return result
            if "END_STREAM" in frame.flags:
                return result
        raise TimeoutError(f"no end of stream {stream_id} within {timeout} s")

    def ping_roundtrip(self, timeout: float = 5.0) -> bool:
        """Whether the server still answers a PING."""
        if not self.send(self.ping(b"alive?!!")):
            return False
        for frame in self.frames(timeout):
            if isinstance(frame, PingFrame) and "ACK" in frame.flags:
                return True
        return False


def header_value(headers: Sequence[tuple[Any, Any]], name: str) -> str | None:
    for key, value in headers:
        text = key.decode() if isinstance(key, bytes) else key
        if text == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def first_settings(host: str, port: int) -> frozenset[int]:
    """The settings the server at ``host:port`` names in its first SETTINGS frame."""
    with RawPeer(host, port) as raw:
        first = next(iter(raw.frames(5)))
    assert isinstance(first, SettingsFrame)
    return frozenset(first.settings)
