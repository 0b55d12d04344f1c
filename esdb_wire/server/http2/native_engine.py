"""The native server engine: the embedded server's side of esdb_wire's own sans-IO HTTP/2.

:class:`NativeServerEngine` implements RFC 9113 for a gRPC server that never pushes and
never indexes its own header fields. Frames are split and encoded by the client engine's
:mod:`esdb_wire.transport.http2.frames`; request header blocks are decoded by
:class:`~esdb_wire.server.http2.header_decoder.ServerHeaderDecoder` (``hpack``, with a
bounded memory of repeated blocks). What it receives is reported through the
:class:`~esdb_wire.server.http2.engine.ServerEvents` callbacks as the ``h2`` engine
reports it, so the budgets that protect the server from hostile peers
(:class:`~esdb_wire.server.http2.connection.ServerConnection`) see the same frames.

Its own protections: the connection preface and a first SETTINGS frame are required;
frames over 16 KiB, header blocks over twice the advertised header list size or split
into more than :data:`MAX_CONTINUATIONS` frames, and every flow-control violation end
the connection (GOAWAY) at once. Frames for streams that are already closed are dropped
(their DATA bytes handed back), as the RFC allows for frames in flight.
"""

from __future__ import annotations

import hpack.exceptions

from esdb_wire.server.http2.engine import ServerEvents
from esdb_wire.server.http2.header_decoder import ServerHeaderDecoder
from esdb_wire.server.limits import ServerLimits
from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.http2.engine import drain
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError
from esdb_wire.transport.http2.frames import (
    CONTINUATION,
    DATA,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    FLAG_PRIORITY,
    GOAWAY,
    HEADERS,
    PING,
    PRIORITY,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
)

# As h2 does: a header block may span at most this many CONTINUATION frames.
MAX_CONTINUATIONS = 64
_frame_header = f.frame_header
_SETTINGS_ACK = f.encode_settings([], ack=True)
_END_STREAM_HEADERS = FLAG_END_HEADERS | FLAG_END_STREAM


class ReceiveWindow:
    """One inbound flow-control window (a stream's or the connection's): what the peer
    may still send, and when consumed bytes are worth a WINDOW_UPDATE.

    The rule is ``h2``'s (so both engines hand credit back alike): once half the window
    has been consumed, or when the window is empty and at least 1024 bytes (a quarter
    of a smaller window) have been consumed.
    """

    __slots__ = ("available", "maximum", "processed")

    def __init__(self, size: int) -> None:
        self.maximum = size
        self.available = size
        self.processed = 0

    def receive(self, size: int, what: str) -> None:
        """``size`` flow-controlled bytes arrived; the peer may not exceed the window."""
        self.available -= size
        if self.available < 0:
            raise Http2ProtocolError(
                ErrorCode.FLOW_CONTROL_ERROR, f"DATA beyond the {what}'s flow-control window"
            )

    def grow(self, size: int) -> None:
        """We opened the window by ``size`` (it is the new maximum if larger)."""
        self.available += size
        self.maximum = max(self.maximum, self.available)

    def consume(self, size: int) -> int:
        """``size`` bytes were consumed; the increment to send now (0: none yet)."""
        processed = self.processed + size
        maximum = self.maximum
        if processed >= maximum // 2 or (
            self.available == 0 and processed > min(1024, maximum // 4)
        ):
            increment = min(processed, maximum - self.available)
            self.processed = 0
            self.available += increment
            return increment
        self.processed = processed
        return 0


class _Stream:
    """Per-stream state; a stream is forgotten once closed on both sides or reset."""

    __slots__ = ("local_closed", "receive", "remote_closed", "send_window")

    def __init__(self, send_window: int, receive_window: int) -> None:
        self.send_window = send_window
        self.receive = ReceiveWindow(receive_window)
        self.local_closed = False
        self.remote_closed = False


class NativeServerEngine:
    """HTTP/2 server connection state (RFC 9113), without I/O."""

    def __init__(self, limits: ServerLimits, events: ServerEvents) -> None:
        self._events = events
        self._output: list[bytes | memoryview] = []
        self._reader = f.FrameReader(f.DEFAULT_MAX_FRAME_SIZE)
        self._preface = f.PREFACE  # what of the client preface is still expected
        self._settings_seen = False
        self._streams: dict[int, _Stream] = {}
        self.highest_inbound_stream_id = 0
        self.header_decoder = ServerHeaderDecoder(limits.max_header_list_size)
        """Request header blocks, decoded with bounded memory for repeated ones."""
        self._max_block_size = 2 * limits.max_header_list_size
        self._local_settings = [
            (f.SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams),
            (f.SETTINGS_INITIAL_WINDOW_SIZE, limits.initial_window_size),
            (f.SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_size),
        ]
        self._stream_window = limits.initial_window_size
        self._receive = ReceiveWindow(f.DEFAULT_WINDOW_SIZE)
        # The peer's settings and our send window, RFC defaults until its SETTINGS.
        self.max_outbound_frame_size = f.DEFAULT_MAX_FRAME_SIZE
        self._peer_initial_window = f.DEFAULT_WINDOW_SIZE
        self._send_window = f.DEFAULT_WINDOW_SIZE
        # A header block spread over HEADERS + CONTINUATION frames.
        self._continuing: tuple[int, int, list[bytes]] | None = None
        self._continuing_size = 0
        # GOAWAY sent for good (or the peer broke the protocol): nothing more happens.
        self._closed = False

    # -- output ------------------------------------------------------------------------

    def initiate(self) -> None:
        self._output.append(f.encode_settings(self._local_settings))
        extra = f.MAX_WINDOW_SIZE - f.DEFAULT_WINDOW_SIZE
        self._output.append(f.encode_window_update(0, extra))
        self._receive.grow(extra)

    def data_to_send(self) -> bytes:
        return drain(self._output)

    def _sendable(self, stream_id: int) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed:
            raise StreamClosedError(f"stream {stream_id} is closed")
        return stream

    def send_headers(self, stream_id: int, block: bytes, end_stream: bool = False) -> None:
        stream = self._sendable(stream_id)
        size = self.max_outbound_frame_size
        if len(block) <= size:
            flags = _END_STREAM_HEADERS if end_stream else FLAG_END_HEADERS
            self._output.append(_frame_header(HEADERS, flags, stream_id, len(block)) + block)
        else:
            chunks = [block[i : i + size] for i in range(0, len(block), size)]
            last = len(chunks) - 1
            for index, chunk in enumerate(chunks):
                kind = HEADERS if index == 0 else CONTINUATION
                flags = FLAG_END_STREAM if end_stream and index == 0 else 0
                if index == last:
                    flags |= FLAG_END_HEADERS
                self._output.append(f.encode_frame(kind, flags, stream_id, chunk))
        if end_stream:
            self._close_local(stream_id, stream)

    def local_flow_control_window(self, stream_id: int) -> int:
        window = self._sendable(stream_id).send_window
        return window if window < self._send_window else self._send_window

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        stream = self._sendable(stream_id)
        size = len(data)
        # An empty frame needs no window, even a negative one (RFC 9113 section 6.9.1).
        if size and (size > stream.send_window or size > self._send_window):
            raise ValueError(f"{size} bytes exceed the flow-control window")
        if size > self.max_outbound_frame_size:
            raise ValueError(f"{size} bytes exceed the peer's frame size")
        stream.send_window -= size
        self._send_window -= size
        output = self._output
        output.append(_frame_header(DATA, FLAG_END_STREAM if end_stream else 0, stream_id, size))
        if size:
            output.append(data)
        if end_stream:
            self._close_local(stream_id, stream)

    def end_stream(self, stream_id: int) -> None:
        self.send_data(stream_id, b"", end_stream=True)

    def _close_local(self, stream_id: int, stream: _Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self._streams[stream_id]

    def _close_remote(self, stream_id: int, stream: _Stream) -> None:
        stream.remote_closed = True
        if stream.local_closed:
            del self._streams[stream_id]

    def reset_stream(self, stream_id: int, code: int) -> None:
        if self._streams.pop(stream_id, None) is not None:
            self._output.append(f.encode_rst_stream(stream_id, code))

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        if size <= 0 or self._closed:
            return
        increment = self._receive.consume(size)
        if increment:
            self._output.append(f.encode_window_update(0, increment))
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.remote_closed:
            increment = stream.receive.consume(size)
            if increment:
                self._output.append(f.encode_window_update(stream_id, increment))

    def close_connection(self, code: int, last_stream_id: int, debug: bytes = b"") -> None:
        if not self._closed:
            self._closed = True
            self._output.append(f.encode_goaway(last_stream_id, code, debug))
            self._streams.clear()

    def start_draining(self, last_stream_id: int) -> None:
        if not self._closed:
            self._output.append(f.encode_goaway(last_stream_id, ErrorCode.NO_ERROR))

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            if self._preface:
                data = self._check_preface(data)
            frames = self._reader.feed(data)
            events = self._events
            receive_frame = self._receive_frame
            for frame in frames:
                receive_frame(frame)
                if events.closed or self._closed:
                    return
        except Http2ProtocolError as exc:
            self.close_connection(
                exc.code, self.highest_inbound_stream_id, exc.message[:200].encode("utf-8")
            )
            raise

    def _check_preface(self, data: bytes) -> bytes:
        expected = self._preface
        head = data[: len(expected)]
        if expected[: len(head)] != head:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "invalid HTTP/2 client preface")
        self._preface = expected[len(head) :]
        return data[len(head) :]

    def _receive_frame(self, frame: f.Frame) -> None:
        kind, flags, stream_id, payload = frame
        if self._continuing is not None:
            self._continue_headers(kind, flags, stream_id, payload)
        elif kind == DATA and self._settings_seen:
            self._on_data(flags, stream_id, payload)
        elif kind == HEADERS and self._settings_seen:
            self._on_headers(flags, stream_id, payload)
        elif not self._settings_seen and (kind != SETTINGS or flags & FLAG_ACK):
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, "the client preface is not followed by SETTINGS"
            )
        elif kind == WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif kind == RST_STREAM:
            self._on_rst_stream(stream_id, payload)
        elif kind == SETTINGS:
            self._on_settings(flags, stream_id, payload)
        elif kind == PING:
            self._on_ping(flags, stream_id, payload)
        elif kind == PRIORITY:
            if not stream_id:
                raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0")
            if len(payload) != 5:
                raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY of wrong length")
            self._events.on_control_frame("PriorityUpdated")
        elif kind == GOAWAY:
            if stream_id:
                raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
            f.goaway_payload(payload)
            self._events.on_goaway()
        elif kind == PUSH_PROMISE:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        elif kind == CONTINUATION:
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block"
            )
        else:  # unknown frame types are ignored (RFC 9113 section 4.1), at a price
            self._events.on_control_frame("UnknownFrameReceived")

    def _idle(self, stream_id: int, kind: str) -> Http2ProtocolError:
        return Http2ProtocolError(
            ErrorCode.PROTOCOL_ERROR, f"{kind} on stream {stream_id}, which was never opened"
        )

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        size = len(payload)
        self._receive.receive(size, "connection")
        stream = self._streams.get(stream_id)
        if flags & FLAG_PADDED:
            payload = f.strip_padding(payload, flags)
        end = bool(flags & FLAG_END_STREAM)
        if stream is None:
            if not stream_id or stream_id > self.highest_inbound_stream_id:
                raise self._idle(stream_id, "DATA")
            # In flight when we closed the stream: its bytes are only handed back.
            self._events.on_data(stream_id, payload, size, end)
            return
        if stream.remote_closed:
            raise Http2ProtocolError(ErrorCode.STREAM_CLOSED, "DATA after the end of the stream")
        stream.receive.receive(size, "stream")
        if end:
            self._close_remote(stream_id, stream)
        events = self._events
        events.on_data(stream_id, payload, size, end)
        if end and not events.closed:
            events.on_stream_ended(stream_id)

    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id or not stream_id & 1:
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, f"HEADERS on stream {stream_id} from a client"
            )
        fragment = (
            f.header_block_fragment(payload, flags)
            if flags & (FLAG_PADDED | FLAG_PRIORITY)
            else payload
        )
        if not flags & FLAG_END_HEADERS:
            self._continuing = (stream_id, flags, [fragment])
            self._continuing_size = len(fragment)
            self._check_block_size()
            return
        self._headers_complete(stream_id, flags, fragment)

    def _check_block_size(self) -> None:
        if self._continuing_size > self._max_block_size:
            raise Http2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")

    def _continue_headers(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        assert self._continuing is not None
        first_stream, first_flags, fragments = self._continuing
        if kind != CONTINUATION or stream_id != first_stream:
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, "header block interrupted by another frame"
            )
        fragments.append(payload)
        self._continuing_size += len(payload)
        self._check_block_size()
        if len(fragments) > MAX_CONTINUATIONS:
            # Many tiny (or empty) CONTINUATION frames: a known way to exhaust a peer.
            raise Http2ProtocolError(
                ErrorCode.ENHANCE_YOUR_CALM, "header block split into too many frames"
            )
        if flags & FLAG_END_HEADERS:
            self._continuing = None
            self._headers_complete(stream_id, first_flags, b"".join(fragments))

    def _decode(self, block: bytes) -> tuple[tuple[bytes, bytes], ...]:
        try:
            return self.header_decoder.headers_of(block)
        except hpack.exceptions.OversizedHeaderListError:
            raise Http2ProtocolError(
                ErrorCode.ENHANCE_YOUR_CALM, "header list over SETTINGS_MAX_HEADER_LIST_SIZE"
            ) from None
        except Exception as exc:  # hpack's errors, and its bugs on hostile input
            raise Http2ProtocolError(
                ErrorCode.COMPRESSION_ERROR, f"undecodable header block: {exc}"
            ) from None

    def _headers_complete(self, stream_id: int, flags: int, block: bytes) -> None:
        # Decode even for a stream we forgot: the HPACK table must stay in step.
        headers = self._decode(block)
        end = bool(flags & FLAG_END_STREAM)
        events = self._events
        stream = self._streams.get(stream_id)
        if stream is not None:  # trailers of a request
            if stream.remote_closed:
                raise Http2ProtocolError(
                    ErrorCode.STREAM_CLOSED, "HEADERS after the end of the stream"
                )
            if not end:
                raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
            self._close_remote(stream_id, stream)
            events.on_stream_ended(stream_id)
            return
        if stream_id <= self.highest_inbound_stream_id:
            if not end:
                raise Http2ProtocolError(
                    ErrorCode.STREAM_CLOSED, f"HEADERS on closed stream {stream_id}"
                )
            events.on_control_frame("TrailersOnClosedStream")  # in flight when we closed it
            return
        self.highest_inbound_stream_id = stream_id
        stream = _Stream(self._peer_initial_window, self._stream_window)
        self._streams[stream_id] = stream
        if end:
            stream.remote_closed = True
        events.on_request(stream_id, headers, end)
        if end and not events.closed:
            events.on_stream_ended(stream_id)

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        increment = f.u32_payload(payload, "WINDOW_UPDATE") & 0x7FFFFFFF
        if not increment:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        if not stream_id:
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW_SIZE:
                raise Http2ProtocolError(
                    ErrorCode.FLOW_CONTROL_ERROR, "connection window over 2**31-1"
                )
            self._events.on_window_updated(0)
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if stream_id > self.highest_inbound_stream_id:
                raise self._idle(stream_id, "WINDOW_UPDATE")
            return
        stream.send_window += increment
        if stream.send_window > f.MAX_WINDOW_SIZE:
            raise Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "stream window over 2**31-1")
        self._events.on_window_updated(stream_id)

    def _on_rst_stream(self, stream_id: int, payload: bytes) -> None:
        f.u32_payload(payload, "RST_STREAM")
        if not stream_id or stream_id > self.highest_inbound_stream_id:
            raise self._idle(stream_id, "RST_STREAM")
        if self._streams.pop(stream_id, None) is not None:
            self._events.on_stream_reset(stream_id, True)

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & FLAG_ACK:
            if payload:
                raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        initial_window_changed = False
        for code, value in f.settings_payload(payload):
            f.check_setting(code, value)
            if code == f.SETTINGS_INITIAL_WINDOW_SIZE:
                f.shift_send_windows(self._streams.values(), value - self._peer_initial_window)
                self._peer_initial_window = value
                initial_window_changed = True
            elif code == f.SETTINGS_MAX_FRAME_SIZE:
                self.max_outbound_frame_size = value
            # HEADER_TABLE_SIZE: our blocks never use the dynamic table; the others do
            # not concern a server.
        self._settings_seen = True
        self._output.append(_SETTINGS_ACK)
        self._events.on_settings(initial_window_changed)

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, f"PING of {len(payload)} bytes")
        if not flags & FLAG_ACK:
            self._output.append(f.encode_frame(PING, FLAG_ACK, 0, payload))
            self._events.on_control_frame("PingReceived")
