"""The client side of one HTTP/2 connection: streams, flow-control windows, settings.

:class:`ClientHttp2Connection` is sans-IO: :meth:`receive_data` takes bytes and returns
:mod:`~esdb_wire.transport.http2.events`; the ``send_*`` methods queue frames that
:meth:`data_to_send` hands out. It answers SETTINGS and PING by itself. A peer's
connection error raises :class:`~esdb_wire.transport.http2.errors.Http2ProtocolError`
(with a GOAWAY queued); a peer's error on one stream resets that stream and reports a
:class:`~esdb_wire.transport.http2.events.StreamReset`.
"""

from __future__ import annotations

from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.http2.engine import drain
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError
from esdb_wire.transport.http2.events import (
    DataReceived,
    Event,
    GoAwayReceived,
    PingAcknowledged,
    ResponseReceived,
    SettingsChanged,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from esdb_wire.transport.http2.frames import (
    CONTINUATION,
    DATA,
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
from esdb_wire.transport.http2.header_block import HeaderBlockDecoder

MAX_STREAM_ID = 2**31 - 1
# A header block may span at most this many CONTINUATION frames.
MAX_CONTINUATIONS = 1024
_STATUS_200 = ((b":status", b"200"),)
_frame_header = f.frame_header
_END_STREAM_HEADERS = f.FLAG_END_HEADERS | f.FLAG_END_STREAM


class _Stream:
    """Per-stream state. A stream is forgotten once closed on both sides or reset."""

    __slots__ = (
        "local_closed",
        "recv_window",
        "remote_closed",
        "response_started",
        "send_window",
        "unacked",
    )

    def __init__(self, send_window: int, recv_window: int) -> None:
        self.send_window = send_window
        self.recv_window = recv_window
        self.unacked = 0
        self.local_closed = False
        self.remote_closed = False
        self.response_started = False


class _StreamError(Exception):
    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ClientHttp2Connection:
    """HTTP/2 client connection state (RFC 9113), without I/O."""

    def __init__(
        self,
        *,
        stream_window_size: int = f.DEFAULT_WINDOW_SIZE,
        connection_window_size: int = f.DEFAULT_WINDOW_SIZE,
        max_frame_size: int = f.DEFAULT_MAX_FRAME_SIZE,
        max_header_list_size: int = 2**20,
    ) -> None:
        for name, value in (
            ("stream_window_size", stream_window_size),
            ("connection_window_size", connection_window_size),
        ):
            if not f.DEFAULT_WINDOW_SIZE <= value <= f.MAX_WINDOW_SIZE:
                raise ValueError(f"{name} must be within 65535 .. 2**31-1")
        if not f.DEFAULT_MAX_FRAME_SIZE <= max_frame_size <= f.MAX_FRAME_SIZE_LIMIT:
            raise ValueError("max_frame_size must be within 16384 .. 2**24-1")
        self._output: list[bytes | memoryview] = []
        self._streams: dict[int, _Stream] = {}
        self._next_stream_id = 1
        self._reader = f.FrameReader(max_frame_size)
        self._decoder = HeaderBlockDecoder(max_header_list_size)
        # Our HPACK dynamic table stays empty; the first block says so to the peer.
        self._table_size_update = b"\x20"
        # Our settings.
        self._local_settings = [
            (f.SETTINGS_ENABLE_PUSH, 0),
            (f.SETTINGS_INITIAL_WINDOW_SIZE, stream_window_size),
            (f.SETTINGS_MAX_FRAME_SIZE, max_frame_size),
            (f.SETTINGS_MAX_HEADER_LIST_SIZE, max_header_list_size),
        ]
        self._stream_window = stream_window_size
        self._connection_window = connection_window_size
        self._recv_window = connection_window_size
        self._recv_unacked = 0
        # The peer's settings, RFC defaults until its SETTINGS frame arrives.
        self.max_outbound_frame_size = f.DEFAULT_MAX_FRAME_SIZE
        self.peer_initial_window = f.DEFAULT_WINDOW_SIZE
        self.peer_max_concurrent_streams: int | None = None
        self._send_window = f.DEFAULT_WINDOW_SIZE
        self._peer_settings_seen = False
        # A header block spread over HEADERS + CONTINUATION frames.
        self._continuing: tuple[int, int, list[bytes]] | None = None
        self._continuing_size = 0
        self.closed = False
        # The peer's connection error, once seen: later input is ignored.
        self.failure: Http2ProtocolError | None = None

    # -- output ------------------------------------------------------------------------

    def initiate(self) -> None:
        """Queue the connection preface, our SETTINGS and the connection window."""
        self._output.append(f.PREFACE)
        self._output.append(f.encode_settings(self._local_settings))
        extra = self._connection_window - f.DEFAULT_WINDOW_SIZE
        if extra > 0:
            self._output.append(f.encode_window_update(0, extra))

    @property
    def output(self) -> list[bytes | memoryview]:
        """The frames queued so far, in order (the list itself: empty means nothing to
        send, so drivers can check it cheaply). :meth:`data_to_send` drains it."""
        return self._output

    def data_to_send(self) -> bytes:
        return drain(self._output)

    # -- streams -----------------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def stream_ids_left(self) -> bool:
        """Whether another stream can still be opened on this connection."""
        return self._next_stream_id <= MAX_STREAM_ID

    def start_stream(self, block: bytes, end_stream: bool = False) -> int:
        """Open the next stream with a request's header block; returns its id.

        ``block`` is HPACK without dynamic-table use (see
        :mod:`~esdb_wire.transport.hpack_static`)."""
        if self.closed:
            raise StreamClosedError("the connection is closed")
        stream_id = self._next_stream_id
        if stream_id > MAX_STREAM_ID:
            raise StreamClosedError("no stream ids left on this connection")
        self._next_stream_id = stream_id + 2
        stream = _Stream(self.peer_initial_window, self._stream_window)
        self._streams[stream_id] = stream
        if self._table_size_update:
            block = self._table_size_update + block
            self._table_size_update = b""
        size = self.max_outbound_frame_size
        flags = _END_STREAM_HEADERS if end_stream else f.FLAG_END_HEADERS
        if len(block) <= size:
            self._output.append(_frame_header(f.HEADERS, flags, stream_id, len(block)) + block)
        else:
            self._send_split_block(stream_id, block, f.FLAG_END_STREAM if end_stream else 0)
        if end_stream:
            stream.local_closed = True
        return stream_id

    def _send_split_block(self, stream_id: int, block: bytes, flags: int) -> None:
        size = self.max_outbound_frame_size
        chunks = [block[i : i + size] for i in range(0, len(block), size)]
        for index, chunk in enumerate(chunks):
            kind = f.HEADERS if index == 0 else f.CONTINUATION
            chunk_flags = (flags if index == 0 else 0) | (
                f.FLAG_END_HEADERS if index == len(chunks) - 1 else 0
            )
            self._output.append(f.encode_frame(kind, chunk_flags, stream_id, chunk))

    def _sendable(self, stream_id: int) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed:
            raise StreamClosedError(f"stream {stream_id} is closed")
        return stream

    def local_flow_control_window(self, stream_id: int) -> int:
        """How many DATA bytes may be sent on ``stream_id`` now (may be negative)."""
        stream = self._sendable(stream_id)
        send_window = self._send_window
        return stream.send_window if stream.send_window < send_window else send_window

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """Queue one DATA frame; the caller keeps within window and frame size."""
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
        output.append(
            _frame_header(f.DATA, f.FLAG_END_STREAM if end_stream else 0, stream_id, size)
        )
        if size:
            output.append(data)
        if end_stream:
            self._close_local(stream_id, stream)

    def end_stream(self, stream_id: int) -> None:
        """Half-close ``stream_id`` with an empty DATA frame."""
        self.send_data(stream_id, b"", end_stream=True)

    def _close_local(self, stream_id: int, stream: _Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self._streams[stream_id]

    def reset_stream(self, stream_id: int, code: int = ErrorCode.CANCEL) -> None:
        """Send RST_STREAM and forget the stream (nothing happens if it is gone)."""
        if self._streams.pop(stream_id, None) is not None:
            self._output.append(f.encode_rst_stream(stream_id, code))

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """Hand ``size`` consumed bytes back to the peer (WINDOW_UPDATEs, batched)."""
        if size <= 0:
            return
        self._recv_unacked += size
        if self._recv_unacked >= self._connection_window >> 1:
            self._output.append(f.encode_window_update(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.remote_closed:
            stream.unacked += size
            if stream.unacked >= self._stream_window >> 1:
                self._output.append(f.encode_window_update(stream_id, stream.unacked))
                stream.recv_window += stream.unacked
                stream.unacked = 0

    def ping(self, payload: bytes) -> None:
        if len(payload) != 8:
            raise ValueError("a PING payload is 8 bytes")
        self._output.append(f.encode_frame(f.PING, 0, 0, payload))

    def close_connection(self, code: int = ErrorCode.NO_ERROR, debug: bytes = b"") -> None:
        """Queue GOAWAY; no stream can be opened afterwards."""
        if not self.closed:
            self.closed = True
            self._output.append(f.encode_goaway(0, code, debug))

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Process received bytes; returns what happened, in order."""
        if self.failure is not None:
            return []
        try:
            frames = self._reader.feed(data)
            events: list[Event] = []
            for frame in frames:
                self._receive_frame(frame, events)
        except Http2ProtocolError as exc:
            self._connection_error(exc)
            raise
        return events

    def _connection_error(self, exc: Http2ProtocolError) -> None:
        self.failure = exc
        if not self.closed:
            self.closed = True
            self._output.append(f.encode_goaway(0, exc.code, exc.message[:200].encode("utf-8")))
        self._streams.clear()

    def _receive_frame(self, frame: f.Frame, events: list[Event]) -> None:
        kind, flags, stream_id, payload = frame
        if self._continuing is not None:
            self._continue_headers(kind, flags, stream_id, payload, events)
            return
        if not self._peer_settings_seen and (kind != SETTINGS or flags & f.FLAG_ACK):
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, "the server's first frame is not SETTINGS"
            )
        try:
            if kind == DATA:
                self._on_data(flags, stream_id, payload, events)
            elif kind == HEADERS:
                self._on_headers(flags, stream_id, payload, events)
            elif kind == WINDOW_UPDATE:
                self._on_window_update(stream_id, payload, events)
            elif kind == SETTINGS:
                self._on_settings(flags, stream_id, payload, events)
            elif kind == PING:
                self._on_ping(flags, stream_id, payload, events)
            elif kind == RST_STREAM:
                self._on_rst_stream(stream_id, payload, events)
            elif kind == GOAWAY:
                if stream_id:
                    raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
                events.append(GoAwayReceived(*f.goaway_payload(payload)))
            elif kind == PRIORITY:
                if not stream_id:
                    raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0")
                if len(payload) != 5:
                    raise _StreamError(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY of wrong length")
            elif kind == PUSH_PROMISE:
                raise Http2ProtocolError(
                    ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled"
                )
            elif kind == CONTINUATION:
                raise Http2ProtocolError(
                    ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block"
                )
            # Unknown frame types are ignored (RFC 9113 section 4.1).
        except _StreamError as exc:
            self._stream_error(stream_id, exc, events)

    def _stream_error(self, stream_id: int, exc: _StreamError, events: list[Event]) -> None:
        if self._streams.pop(stream_id, None) is not None:
            self._output.append(f.encode_rst_stream(stream_id, exc.code))
            events.append(StreamReset(stream_id, exc.code, remote=False, reason=exc.reason))

    def _stream_for_frame(self, stream_id: int, kind: str) -> _Stream | None:
        """The open stream a frame is for; None for a stream closed earlier."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            return stream
        if not stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, f"{kind} on stream 0")
        if stream_id % 2 == 0 or stream_id >= self._next_stream_id:
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, f"{kind} on stream {stream_id}, which was never opened"
            )
        return None

    def _on_data(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        size = len(payload)
        stream = self._stream_for_frame(stream_id, "DATA")
        self._recv_window -= size
        if self._recv_window < 0:
            raise Http2ProtocolError(
                ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection's flow-control window"
            )
        if stream is None:
            self.acknowledge_received_data(size, 0)
            return
        if flags & f.FLAG_PADDED:
            payload = f.strip_padding(payload, flags)
        if stream.remote_closed:
            self.acknowledge_received_data(size, 0)
            raise _StreamError(ErrorCode.STREAM_CLOSED, "DATA after the end of the stream")
        if not stream.response_started:
            self.acknowledge_received_data(size, 0)
            raise _StreamError(ErrorCode.PROTOCOL_ERROR, "DATA before the response headers")
        stream.recv_window -= size
        if stream.recv_window < 0:
            self.acknowledge_received_data(size, 0)
            raise _StreamError(
                ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the stream's flow-control window"
            )
        end_stream = bool(flags & f.FLAG_END_STREAM)
        events.append(DataReceived(stream_id, payload, size, end_stream))
        if end_stream:
            self._close_remote(stream_id, stream)

    def _close_remote(self, stream_id: int, stream: _Stream) -> None:
        stream.remote_closed = True
        if stream.local_closed:
            del self._streams[stream_id]

    def _on_headers(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if not stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0")
        fragment = (
            f.header_block_fragment(payload, flags)
            if flags & (FLAG_PADDED | FLAG_PRIORITY)
            else payload
        )
        if not flags & FLAG_END_HEADERS:
            self._continuing = (stream_id, flags, [fragment])
            self._continuing_size = len(fragment)
            return
        self._headers_complete(stream_id, flags, fragment, events)

    def _continue_headers(
        self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[Event]
    ) -> None:
        assert self._continuing is not None
        first_stream, first_flags, fragments = self._continuing
        if kind != f.CONTINUATION or stream_id != first_stream:
            raise Http2ProtocolError(
                ErrorCode.PROTOCOL_ERROR, "header block interrupted by another frame"
            )
        fragments.append(payload)
        self._continuing_size += len(payload)
        if self._continuing_size > self._decoder.max_header_list_size * 2:
            raise Http2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
        if len(fragments) > MAX_CONTINUATIONS:
            # Many tiny (or empty) CONTINUATION frames: a known way to exhaust a peer.
            raise Http2ProtocolError(
                ErrorCode.ENHANCE_YOUR_CALM, "header block split into too many frames"
            )
        if flags & f.FLAG_END_HEADERS:
            self._continuing = None
            try:
                self._headers_complete(stream_id, first_flags, b"".join(fragments), events)
            except _StreamError as exc:
                self._stream_error(stream_id, exc, events)

    def _headers_complete(
        self, stream_id: int, flags: int, block: bytes, events: list[Event]
    ) -> None:
        # Decode even for a stream we forgot: the HPACK table must stay in step.
        headers = self._decoder.decode(block)
        stream = self._streams.get(stream_id) or self._stream_for_frame(stream_id, "HEADERS")
        if stream is None:
            return
        if stream.remote_closed:
            raise _StreamError(ErrorCode.STREAM_CLOSED, "HEADERS after the end of the stream")
        end_stream = bool(flags & FLAG_END_STREAM)
        if not stream.response_started:
            if headers[:1] != _STATUS_200 and _informational(headers):
                if end_stream:
                    raise _StreamError(
                        ErrorCode.PROTOCOL_ERROR, "informational response ends the stream"
                    )
                return
            stream.response_started = True
            events.append(ResponseReceived(stream_id, headers, end_stream))
        elif end_stream:
            events.append(TrailersReceived(stream_id, headers))
        else:
            raise _StreamError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
        if end_stream:
            self._close_remote(stream_id, stream)

    def _on_window_update(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        increment = f.u32_payload(payload, "WINDOW_UPDATE") & 0x7FFFFFFF
        if not stream_id:
            if not increment:
                raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW_SIZE:
                raise Http2ProtocolError(
                    ErrorCode.FLOW_CONTROL_ERROR, "connection window over 2**31-1"
                )
            events.append(WindowUpdated(0))
            return
        stream = self._stream_for_frame(stream_id, "WINDOW_UPDATE")
        if stream is None:
            return
        if not increment:
            raise _StreamError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        stream.send_window += increment
        if stream.send_window > f.MAX_WINDOW_SIZE:
            raise _StreamError(ErrorCode.FLOW_CONTROL_ERROR, "stream window over 2**31-1")
        events.append(WindowUpdated(stream_id))

    def _on_settings(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.FLAG_ACK:
            if payload:
                raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        self._peer_settings_seen = True
        changed: dict[int, int] = {}
        for code, value in f.settings_payload(payload):
            f.check_setting(code, value)
            if code == f.SETTINGS_INITIAL_WINDOW_SIZE:
                f.shift_send_windows(self._streams.values(), value - self.peer_initial_window)
                self.peer_initial_window = value
            elif code == f.SETTINGS_MAX_FRAME_SIZE:
                self.max_outbound_frame_size = value
            elif code == f.SETTINGS_MAX_CONCURRENT_STREAMS:
                self.peer_max_concurrent_streams = value
            changed[code] = value
        self._output.append(f.encode_settings([], ack=True))
        events.append(SettingsChanged(changed))
        if f.SETTINGS_INITIAL_WINDOW_SIZE in changed:
            events.append(WindowUpdated(0))

    def _on_ping(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id:
            raise Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, f"PING of {len(payload)} bytes")
        if flags & f.FLAG_ACK:
            events.append(PingAcknowledged(payload))
        else:
            self._output.append(f.encode_frame(f.PING, f.FLAG_ACK, 0, payload))

    def _on_rst_stream(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        code = f.u32_payload(payload, "RST_STREAM")
        stream = self._stream_for_frame(stream_id, "RST_STREAM")
        if stream is None:
            return
        del self._streams[stream_id]
        events.append(StreamReset(stream_id, code, remote=True))


def _informational(headers: tuple[tuple[bytes, bytes], ...]) -> bool:
    for name, value in headers:
        if name == b":status":
            return value[:1] == b"1"
    return False
