"""The ``h2`` engine: the client's HTTP/2 through ``h2.connection.H2Connection``.

``h2`` owns the HTTP/2 state machine, frame parsing, flow-control accounting and stream
states. This adapter gives it the :class:`~esdb_wire.transport.http2.engine.Http2Engine`
shape and translates its events into :mod:`~esdb_wire.transport.http2.events`. It
changes ``h2``'s behaviour in three measured, documented places:

* **Header blocks.** Requests are pre-encoded from the HPACK static table by the gRPC
  layer (:mod:`~esdb_wire.transport.hpack_static`); ``h2`` is handed an encoder that
  returns that block, and its outbound header validation is off (we build the headers).
  Received blocks go through a decoder that remembers repeated blocks.
* **Frame logging.** ``h2`` formats every received frame for its trace log, eagerly; for
  a DATA frame that hex-encodes the whole payload. DATA frames get a constant summary.
* **GOAWAY.** ``h2`` ends the whole connection on a received GOAWAY, although RFC 9113
  lets streams up to its ``last_stream_id`` finish. The GOAWAY frame is taken out of the
  frame stream before ``h2`` sees it and reported as
  :class:`~esdb_wire.transport.http2.events.GoAwayReceived` in its place; the gRPC layer
  opens no new stream afterwards and lets the others finish.
"""

from __future__ import annotations

from typing import Any, Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import DataFrame, Frame, GoAwayFrame

from esdb_wire.transport.hpack_static import PreencodedBlock
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
from esdb_wire.transport.http2.header_block import H2HeaderDecoder

MAX_STREAM_ID = 2**31 - 1
MAX_HEADER_LIST_SIZE = 2**20
_INITIAL_WINDOW = h2.settings.SettingCodes.INITIAL_WINDOW_SIZE
# What h2 is told a request's headers are; the block itself comes pre-encoded.
_REQUEST_HEADERS = ((b":method", b"POST"),)
_H2_CLOSED = (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError)


def _data_frame_summary() -> str:
    return "<data>"


class _FrameStream(FrameBuffer):
    """``h2``'s received-frame buffer with the two frame-by-frame changes above: DATA
    frames get a cheap summary, and a GOAWAY stops the frame stream and is held for the
    engine to report."""

    def __init__(self) -> None:
        super().__init__(server=False)
        self.goaway: GoAwayFrame | None = None

    def __next__(self) -> Frame:
        if self.goaway is not None:
            raise StopIteration  # the engine reports it, then resumes
        frame = super().__next__()
        kind = type(frame)
        if kind is DataFrame:
            frame._body_repr = _data_frame_summary  # type: ignore[method-assign]
        elif kind is GoAwayFrame:
            self.goaway = frame  # type: ignore[assignment]
            raise StopIteration
        return frame


def _error_code(value: int) -> ErrorCode:
    try:
        return ErrorCode(int(value))
    except ValueError:
        return ErrorCode.PROTOCOL_ERROR


class H2Engine:
    """An ``h2.connection.H2Connection`` behind the client's HTTP/2 engine interface."""

    def __init__(
        self,
        *,
        stream_window_size: int = 65535,
        connection_window_size: int = 65535,
        max_frame_size: int = 16384,
        max_header_list_size: int = MAX_HEADER_LIST_SIZE,
    ) -> None:
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = h2.connection.H2Connection(config=config)
        codes = h2.settings.SettingCodes
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                codes.ENABLE_PUSH: 0,
                codes.INITIAL_WINDOW_SIZE: stream_window_size,
                codes.MAX_FRAME_SIZE: max_frame_size,
                codes.MAX_HEADER_LIST_SIZE: max_header_list_size,
            },
        )
        conn.max_inbound_frame_size = max_frame_size
        self._encoder = PreencodedBlock()
        conn.encoder = self._encoder  # type: ignore[assignment]
        conn.decoder = H2HeaderDecoder(max_header_list_size)  # type: ignore[assignment]
        self._frames = _FrameStream()
        conn.incoming_buffer = self._frames
        self.connection = conn
        """The ``h2.connection.H2Connection`` this engine drives."""
        self._connection_window = connection_window_size
        # Our HPACK dynamic table stays empty; the first block says so to the peer.
        self._table_size_update = b"\x20"
        self.output: list[bytes | memoryview] = []
        self.closed = False
        """Whether we said GOAWAY (or the peer broke the protocol): no new streams."""
        self.failure: Http2ProtocolError | None = None
        """The peer's connection error, once seen: later input is ignored."""
        self._translate: dict[type, Callable[[Any, list[Event]], None]] = {
            h2.events.DataReceived: _on_data,
            h2.events.ResponseReceived: _on_response,
            h2.events.TrailersReceived: _on_trailers,
            h2.events.StreamReset: _on_reset,
            h2.events.WindowUpdated: _on_window,
            h2.events.RemoteSettingsChanged: _on_settings,
            h2.events.PingAckReceived: _on_ping_ack,
        }

    # -- output ------------------------------------------------------------------------

    def _collect(self) -> None:
        data = self.connection.data_to_send()
        if data:
            self.output.append(data)

    def initiate(self) -> None:
        conn = self.connection
        conn.initiate_connection()
        extra = self._connection_window - 65535
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self._collect()

    def data_to_send(self) -> bytes:
        return drain(self.output)

    # -- streams -----------------------------------------------------------------------

    @property
    def max_outbound_frame_size(self) -> int:
        size: int = self.connection.max_outbound_frame_size
        return size

    @property
    def peer_max_concurrent_streams(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS (h2's default until it says)."""
        value: int = self.connection.remote_settings.max_concurrent_streams
        return value

    @property
    def peer_initial_window(self) -> int:
        """The server's SETTINGS_INITIAL_WINDOW_SIZE."""
        value: int = self.connection.remote_settings.initial_window_size
        return value

    @property
    def open_streams(self) -> int:
        """Streams open in either direction (h2's count of our outbound streams)."""
        if self.failure is not None:
            return 0  # the connection is dead: nothing is open
        count: int = self.connection.open_outbound_streams
        return count

    @property
    def stream_ids_left(self) -> bool:
        highest = self.connection.highest_outbound_stream_id or -1
        return highest + 2 <= MAX_STREAM_ID

    def start_stream(self, block: bytes, end_stream: bool = False) -> int:
        if self.closed:
            raise StreamClosedError("the connection is closed")
        conn = self.connection
        try:
            stream_id = conn.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            raise StreamClosedError("no stream ids left on this connection") from None
        if self._table_size_update:
            block = self._table_size_update + block
            self._table_size_update = b""
        self._encoder.block = block
        try:
            conn.send_headers(stream_id, _REQUEST_HEADERS, end_stream=end_stream)
        except h2.exceptions.ProtocolError as exc:
            raise StreamClosedError(f"cannot open a stream: {exc}") from None
        finally:
            self._encoder.block = b""
        self._collect()
        return stream_id

    def local_flow_control_window(self, stream_id: int) -> int:
        try:
            window: int = self.connection.local_flow_control_window(stream_id)
        except _H2_CLOSED:
            raise StreamClosedError(f"stream {stream_id} is closed") from None
        return window

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        try:
            self.connection.send_data(stream_id, data, end_stream=end_stream)
        except (h2.exceptions.FlowControlError, h2.exceptions.FrameTooLargeError) as exc:
            raise ValueError(str(exc)) from None
        except h2.exceptions.ProtocolError:  # closed, or not open for sending
            raise StreamClosedError(f"stream {stream_id} is closed") from None
        self._collect()

    def end_stream(self, stream_id: int) -> None:
        try:
            self.connection.end_stream(stream_id)
        except (h2.exceptions.ProtocolError, KeyError):  # closed (h2 < 4.2: KeyError)
            raise StreamClosedError(f"stream {stream_id} is closed") from None
        self._collect()

    def reset_stream(self, stream_id: int, code: int = ErrorCode.CANCEL) -> None:
        try:
            self.connection.reset_stream(stream_id, code)
        except h2.exceptions.ProtocolError:
            return  # already closed (or the connection is): nothing to reset
        self._collect()

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        if size <= 0:
            return
        self.connection.acknowledge_received_data(size, stream_id)
        self._collect()

    def ping(self, payload: bytes) -> None:
        if len(payload) != 8:
            raise ValueError("a PING payload is 8 bytes")
        self.connection.ping(payload)
        self._collect()

    def close_connection(self, code: int = ErrorCode.NO_ERROR, debug: bytes = b"") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.connection.close_connection(code, additional_data=debug or None)
        except h2.exceptions.ProtocolError:
            return  # already closed
        self._collect()

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        if self.failure is not None:
            return []
        conn = self.connection
        frames = self._frames
        events: list[Event] = []
        translate = self._translate
        try:
            received = conn.receive_data(data)
            while True:
                for event in received:
                    handler = translate.get(type(event))
                    if handler is not None:
                        handler(event, events)
                goaway = frames.goaway
                if goaway is None:
                    break
                frames.goaway = None
                events.append(
                    GoAwayReceived(
                        goaway.last_stream_id, goaway.error_code, goaway.additional_data or b""
                    )
                )
                received = conn.receive_data(b"")  # the frames after the GOAWAY
        except h2.exceptions.ProtocolError as exc:
            self.closed = True
            self._collect()  # h2 has queued its GOAWAY
            code = _error_code(getattr(exc, "error_code", ErrorCode.PROTOCOL_ERROR))
            self.failure = Http2ProtocolError(code, str(exc) or type(exc).__name__)
            raise self.failure from None
        self._collect()
        return events


# -- h2 events to ours ----------------------------------------------------------------------


def _on_data(event: h2.events.DataReceived, events: list[Event]) -> None:
    events.append(
        DataReceived(
            event.stream_id,
            event.data,
            event.flow_controlled_length or 0,
            event.stream_ended is not None,
        )
    )


def _on_response(event: h2.events.ResponseReceived, events: list[Event]) -> None:
    events.append(
        ResponseReceived(
            event.stream_id,
            tuple(event.headers or ()),
            event.stream_ended is not None,
        )
    )


def _on_trailers(event: h2.events.TrailersReceived, events: list[Event]) -> None:
    events.append(TrailersReceived(event.stream_id, tuple(event.headers or ())))


def _on_reset(event: h2.events.StreamReset, events: list[Event]) -> None:
    remote = bool(event.remote_reset)
    reason = "" if remote else "h2 reset the stream after the server's protocol error"
    events.append(StreamReset(event.stream_id, int(event.error_code or 0), remote, reason))


def _on_window(event: h2.events.WindowUpdated, events: list[Event]) -> None:
    events.append(WindowUpdated(event.stream_id or 0))


def _on_settings(event: h2.events.RemoteSettingsChanged, events: list[Event]) -> None:
    changed = {
        int(code): int(setting.new_value) for code, setting in event.changed_settings.items()
    }
    events.append(SettingsChanged(changed))
    if _INITIAL_WINDOW in changed:
        # Every stream's send window moved: let blocked senders try again.
        events.append(WindowUpdated(0))


def _on_ping_ack(event: h2.events.PingAckReceived, events: list[Event]) -> None:
    events.append(PingAcknowledged(bytes(event.ping_data or b"")))
