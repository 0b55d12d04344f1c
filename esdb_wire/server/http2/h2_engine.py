"""The ``h2`` server engine: the embedded server's HTTP/2 through ``h2.connection.H2Connection``.

``h2`` owns the HTTP/2 state machine, frame parsing, flow-control accounting and stream
states; this adapter gives it the
:class:`~esdb_wire.server.http2.engine.ServerHttp2Engine` shape and turns its events
into :class:`~esdb_wire.server.http2.engine.ServerEvents` callbacks. It changes ``h2``'s
behaviour in four measured, documented places (each as the client's ``h2`` engine,
:mod:`esdb_wire.transport.http2.h2_engine`, does):

* **Header blocks.** Responses and trailers arrive pre-encoded from the HPACK static
  table (:mod:`esdb_wire.transport.hpack_static`); ``h2`` is handed an encoder that
  returns that block, and its header validation is off both ways (the gRPC layer checks
  what it needs: method, content type, path). Received blocks go through a decoder that
  remembers repeated blocks within a memory bound (:mod:`.header_decoder`).
* **Frame logging.** ``h2`` formats every received frame for its trace log, eagerly (a
  hex dump of a DATA or HEADERS payload); frames get a constant summary instead.
* **Concurrent streams.** ``h2``'s own check of SETTINGS_MAX_CONCURRENT_STREAMS would
  fail the whole connection; the gRPC layer refuses the extra stream alone
  (REFUSED_STREAM) and also counts streams whose handlers still run.
* **Graceful GOAWAY.** ``h2`` stops all output after its own GOAWAY; HTTP/2 lets the
  streams below the last stream id finish, so the connection is kept open for them.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import Frame

from esdb_wire.server.http2.engine import ServerEvents
from esdb_wire.server.http2.header_decoder import ServerHeaderDecoder
from esdb_wire.server.limits import ServerLimits
from esdb_wire.transport.hpack_static import PreencodedBlock
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError

_CODES = h2.settings.SettingCodes
# What h2 is told a response's headers are; the block itself comes pre-encoded.
_HEADERS_STAND_IN = ((b":status", b"200"),)
_H2_CLOSED = (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError)


def _frame_summary() -> str:
    return "<frame>"


class _FrameStream(FrameBuffer):
    """``h2``'s received-frame buffer, with a constant summary as each frame's log text."""

    def __init__(self) -> None:
        super().__init__(server=True)

    def __next__(self) -> Frame:
        frame = super().__next__()
        frame._body_repr = _frame_summary  # type: ignore[method-assign]
        return frame


class _LocalSettings(h2.settings.Settings):
    """The server's settings as advertised, with h2's own check of concurrent inbound
    streams switched off (see the module docstring)."""

    @property
    def max_concurrent_streams(self) -> int:
        return 2**31 - 1

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[_CODES.MAX_CONCURRENT_STREAMS] = value


def _error_code(value: object) -> ErrorCode:
    try:
        return ErrorCode(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return ErrorCode.PROTOCOL_ERROR


class H2ServerEngine:
    """An ``h2.connection.H2Connection`` (server side) behind the server engine seam."""

    def __init__(self, limits: ServerLimits, events: ServerEvents) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = h2.connection.H2Connection(config=config)
        conn.local_settings = _LocalSettings(
            client=False,
            initial_values={
                _CODES.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                _CODES.INITIAL_WINDOW_SIZE: limits.initial_window_size,
                _CODES.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            },
        )
        # h2 encodes and decodes header blocks through its public ``encoder`` and
        # ``decoder`` attributes, and reads frames through ``incoming_buffer``.
        self._encoder = PreencodedBlock()
        conn.encoder = self._encoder  # type: ignore[assignment]
        self.header_decoder = ServerHeaderDecoder(limits.max_header_list_size)
        """Request header blocks, decoded with bounded memory for repeated ones."""
        conn.decoder = self.header_decoder  # type: ignore[assignment]
        frames = _FrameStream()
        frames.max_frame_size = conn.max_inbound_frame_size
        conn.incoming_buffer = frames
        self.connection = conn
        """The ``h2.connection.H2Connection`` this engine drives."""
        self._events = events
        self._translate: dict[type, Callable[[Any], None]] = {
            h2.events.RequestReceived: self._on_request,
            h2.events.DataReceived: self._on_data,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window_updated,
            h2.events.RemoteSettingsChanged: self._on_settings,
            h2.events.PingReceived: self._on_control_frame,
            h2.events.PriorityUpdated: self._on_control_frame,
            h2.events.UnknownFrameReceived: self._on_control_frame,
            h2.events.ConnectionTerminated: self._on_goaway,
        }

    # -- output ------------------------------------------------------------------------

    @property
    def max_outbound_frame_size(self) -> int:
        size: int = self.connection.max_outbound_frame_size
        return size

    @property
    def highest_inbound_stream_id(self) -> int:
        value: int = self.connection.highest_inbound_stream_id
        return value

    def initiate(self) -> None:
        conn = self.connection
        conn.initiate_connection()
        conn.increment_flow_control_window(2**31 - 1 - 65535)

    def data_to_send(self) -> bytes:
        return self.connection.data_to_send()

    def send_headers(self, stream_id: int, block: bytes, end_stream: bool = False) -> None:
        self._encoder.block = block
        try:
            self.connection.send_headers(stream_id, _HEADERS_STAND_IN, end_stream=end_stream)
        except _H2_CLOSED:
            raise StreamClosedError(f"stream {stream_id} is closed") from None
        finally:
            self._encoder.block = b""

    def local_flow_control_window(self, stream_id: int) -> int:
        try:
            window: int = self.connection.local_flow_control_window(stream_id)
        except _H2_CLOSED:
            raise StreamClosedError(f"stream {stream_id} is closed") from None
        return window

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        try:
            self.connection.send_data(stream_id, data, end_stream=end_stream)
        except _H2_CLOSED:
            raise StreamClosedError(f"stream {stream_id} is closed") from None

    def end_stream(self, stream_id: int) -> None:
        try:
            self.connection.end_stream(stream_id)
        except _H2_CLOSED:
            raise StreamClosedError(f"stream {stream_id} is closed") from None

    def reset_stream(self, stream_id: int, code: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.connection.reset_stream(stream_id, code)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        if size:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.connection.acknowledge_received_data(size, stream_id)

    def close_connection(self, code: int, last_stream_id: int, debug: bytes = b"") -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.connection.close_connection(
                error_code=code, last_stream_id=last_stream_id, additional_data=debug or None
            )

    def start_draining(self, last_stream_id: int) -> None:
        conn = self.connection
        conn.close_connection(last_stream_id=last_stream_id)
        # h2 stops all output after its own GOAWAY; let the streams below it finish.
        conn.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        try:
            received = self.connection.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            code = _error_code(getattr(exc, "error_code", ErrorCode.PROTOCOL_ERROR))
            raise Http2ProtocolError(code, str(exc) or type(exc).__name__) from None
        translate = self._translate
        events = self._events
        for event in received:
            handler = translate.get(type(event))
            if handler is not None:
                handler(event)
                if events.closed:
                    return

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        self._events.on_request(event.stream_id, event.headers, event.stream_ended is not None)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        self._events.on_data(
            event.stream_id,
            event.data,
            event.flow_controlled_length or 0,
            event.stream_ended is not None,
        )

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        self._events.on_stream_ended(event.stream_id)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        self._events.on_stream_reset(event.stream_id, bool(event.remote_reset))

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        self._events.on_window_updated(event.stream_id or 0)

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._events.on_settings(_CODES.INITIAL_WINDOW_SIZE in event.changed_settings)

    def _on_control_frame(self, event: object) -> None:
        self._events.on_control_frame(type(event).__name__)

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self._events.on_goaway()
