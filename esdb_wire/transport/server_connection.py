"""The sans-IO server side of gRPC over HTTP/2: where a server call's state lives.

:class:`ServerConnection` accepts streams, decodes request messages and encodes
responses and trailers; :class:`ServerStream` is one call. Like the client core it does
no I/O: a driver feeds bytes and sends :meth:`ServerConnection.data_to_send`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from esdb_wire.transport.flow import Inbound, Outbound
from esdb_wire.transport.framing import FramingError, encode_message
from esdb_wire.transport.hpack_static import StaticHeaderEncoder
from esdb_wire.transport.http2.header_block import H2HeaderDecoder
from esdb_wire.transport.metadata import (
    MetadataError,
    decode_metadata,
    decode_timeout,
    encode_grpc_message,
    encode_metadata,
)
from esdb_wire.transport.status import MetadataItems, MetadataValue, StatusCode

RESPONSE_HEADERS = [
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-accept-encoding", b"identity,deflate,gzip"),
]


class ServerStream:
    """One call on the server: its request messages, response queue and state."""

    __slots__ = (
        "closed",
        "error",
        "headers_sent",
        "inbound",
        "metadata",
        "outbound",
        "path",
        "request_ended",
        "stream_id",
        "timeout",
        "trailers_pending",
        "waiter",
    )

    def __init__(self, stream_id: int, path: str, max_message_size: int) -> None:
        self.stream_id = stream_id
        self.path = path
        self.metadata: MetadataItems = ()
        self.timeout: float | None = None
        self.inbound = Inbound(max_message_size)
        self.outbound = Outbound()
        self.outbound.forget_replay()
        self.request_ended = False
        self.headers_sent = False
        # Trailers waiting for the response data ahead of them to drain.
        self.trailers_pending: list[tuple[bytes, bytes]] | None = None
        # Set when the client reset the stream or the request was malformed.
        self.error: StatusCode | None = None
        self.closed = False
        # For the driver: whatever it uses to wake this call's handler.
        self.waiter: Any = None

    @property
    def readable(self) -> bool:
        """Whether reading the next request would not block."""
        return bool(self.inbound.messages) or self.request_ended or self.closed


class ServerConnection:
    """gRPC server protocol state for one accepted HTTP/2 connection.

    New calls appear in :attr:`new_streams` (the driver starts their handlers);
    streams whose state changed in :attr:`touched`.
    """

    def __init__(
        self,
        *,
        max_receive_message_size: int = 16 * 1024 * 1024,
        window_size: int = 1024 * 1024,
        max_concurrent_streams: int = 1000,
    ) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window_size,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 2**20,
            },
        )
        self._window_size = window_size
        self._h2.encoder = StaticHeaderEncoder()  # type: ignore[assignment]
        self._h2.decoder = H2HeaderDecoder(2**20)  # type: ignore[assignment]
        self.max_receive_message_size = max_receive_message_size
        self.streams: dict[int, ServerStream] = {}
        self.new_streams: deque[ServerStream] = deque()
        self.touched: set[ServerStream] = set()
        self.closed = False
        self.draining = False
        self._last_stream_id = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            h2.events.RequestReceived: self._on_request,
            h2.events.DataReceived: self._on_data,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window_updated,
            h2.events.RemoteSettingsChanged: self._on_settings,
            h2.events.ConnectionTerminated: self._on_goaway,
        }

    def initiate(self) -> None:
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(2**31 - 1 - 65535)

    def data_to_send(self) -> bytes:
        return self._h2.data_to_send()

    def receive_data(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.connection_lost()
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)

    def connection_lost(self) -> None:
        """The transport is gone: every open call is cancelled."""
        self.closed = True
        for stream in self.streams.values():
            stream.closed = True
            if stream.error is None:
                stream.error = StatusCode.CANCELLED
            self.touched.add(stream)
        self.streams.clear()

    def shutdown(self) -> None:
        """Graceful GOAWAY: finish open calls, accept no new ones."""
        if not self.draining and not self.closed:
            self.draining = True
            self._last_stream_id = max(self.streams, default=0)
            self._h2.close_connection(last_stream_id=self._last_stream_id)
            # h2 stops all output after its own GOAWAY; HTTP/2 lets the streams below
            # the last stream id finish, so keep the connection open for them.
            self._h2.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN

    # -- requests ----------------------------------------------------------------------

    def take_request(self, stream: ServerStream) -> bytes | None:
        """The next request message, or None if none is queued."""
        inbound = stream.inbound
        message = inbound.take()
        if inbound.ack_due and not stream.closed:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.acknowledge_received_data(inbound.unacked, stream.stream_id)
            inbound.unacked = 0
        return message

    # -- responses ---------------------------------------------------------------------

    def send_message(self, stream: ServerStream, payload: bytes, *, flush: bool = True) -> None:
        """Queue one response message (response headers go first, once).

        With ``flush=False`` it only joins the stream's queue, so that several messages
        can share DATA frames; :meth:`flush` writes them.
        """
        if stream.closed:
            return
        if not stream.headers_sent:
            self._h2.send_headers(stream.stream_id, RESPONSE_HEADERS)
            stream.headers_sent = True
        stream.outbound.push(encode_message(payload))
        if flush:
            stream.outbound.send(self._h2, stream.stream_id, end_stream=False)

    def flush(self, stream: ServerStream) -> None:
        """Write the stream's queued messages as far as flow control allows."""
        self._flush(stream)

    def finish(
        self,
        stream: ServerStream,
        code: StatusCode,
        message: str = "",
        trailers: Sequence[tuple[str, MetadataValue]] = (),
    ) -> None:
        """End the call with a status: trailers after the data, or Trailers-Only."""
        if stream.closed or stream.trailers_pending is not None:
            return
        fields = [(b"grpc-status", str(int(code)).encode())]
        if message:
            fields.append((b"grpc-message", encode_grpc_message(message)))
        fields.extend(encode_metadata(trailers))
        if not stream.headers_sent:
            stream.headers_sent = True
            stream.trailers_pending = [*RESPONSE_HEADERS[:2], *fields]
        else:
            stream.trailers_pending = fields
        self._flush(stream)

    def reset(self, stream: ServerStream, code: h2.errors.ErrorCodes) -> None:
        """Abort a call with RST_STREAM (e.g. on a request framing error)."""
        if not stream.closed:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.reset_stream(stream.stream_id, code)
            self._close(stream)

    def _flush(self, stream: ServerStream) -> None:
        if stream.closed:
            return
        try:
            drained = stream.outbound.send(self._h2, stream.stream_id, end_stream=False)
            if drained and stream.trailers_pending is not None:
                self._h2.send_headers(stream.stream_id, stream.trailers_pending, end_stream=True)
        except h2.exceptions.StreamClosedError:
            # The client reset the stream in this same batch of frames.
            stream.error = stream.error or StatusCode.CANCELLED
            self._close(stream)
            return
        if drained and stream.trailers_pending is not None:
            stream.trailers_pending = []
            if stream.request_ended:
                self._close(stream)
            else:
                # The client may still be sending: it has its answer, stop reading.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.NO_ERROR)
                self._close(stream)

    def _close(self, stream: ServerStream) -> None:
        stream.closed = True
        self.touched.add(stream)
        if self.streams.pop(stream.stream_id, None) is not None:
            amount = stream.inbound.release()
            if amount:
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.acknowledge_received_data(amount, stream.stream_id)
            stream.outbound.clear()

    # -- h2 events ---------------------------------------------------------------------

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        if self.draining and stream_id > self._last_stream_id:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        values: dict[bytes, bytes] = {}
        for name, value in event.headers:
            values[name] = value
        stream = ServerStream(
            stream_id,
            values.get(b":path", b"").decode("ascii", "replace"),
            self.max_receive_message_size,
        )
        self.streams[stream_id] = stream
        if event.stream_ended is not None:
            stream.request_ended = True
        problem = self._check_request(values)
        if problem is not None:
            code, text = problem
            self.finish(stream, code, text)
            return
        try:
            stream.metadata = decode_metadata(event.headers)
            if b"grpc-timeout" in values:
                stream.timeout = decode_timeout(values[b"grpc-timeout"])
            encoding = values.get(b"grpc-encoding")
            if encoding is not None:
                stream.inbound.decoder.set_encoding(encoding.decode("ascii", "replace"))
        except (MetadataError, FramingError) as exc:
            self.finish(stream, exc.code, exc.message)
            return
        self.new_streams.append(stream)

    @staticmethod
    def _check_request(values: dict[bytes, bytes]) -> tuple[StatusCode, str] | None:
        if values.get(b":method") != b"POST":
            return StatusCode.UNIMPLEMENTED, "only POST is supported"
        if not values.get(b"content-type", b"").startswith(b"application/grpc"):
            return StatusCode.UNKNOWN, "content-type must be application/grpc"
        if not values.get(b":path", b"").startswith(b"/"):
            return StatusCode.UNIMPLEMENTED, "missing :path"
        return None

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        size = event.flow_controlled_length
        if stream is None or stream.trailers_pending is not None:
            if size:
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.acknowledge_received_data(size, event.stream_id)
            return
        inbound = stream.inbound
        queued = len(inbound.messages)
        try:
            ack_now = inbound.feed(event.data, size)
        except FramingError as exc:
            self._h2.acknowledge_received_data(size, event.stream_id)
            stream.error = exc.code
            self.finish(stream, exc.code, exc.message)
            self.touched.add(stream)
            return
        if ack_now:
            self._h2.acknowledge_received_data(ack_now, event.stream_id)
        if len(inbound.messages) != queued:
            self.touched.add(stream)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.request_ended = True
            if stream.inbound.decoder.pending:
                stream.error = StatusCode.INTERNAL
                self.finish(stream, StatusCode.INTERNAL, "request ended inside a message")
            self.touched.add(stream)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.error = StatusCode.CANCELLED
            self._close(stream)

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        if event.stream_id:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self._flush(stream)
                self.touched.add(stream)
        else:
            self._flush_all()

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._flush_all()

    def _flush_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.outbound.size or stream.trailers_pending:
                self._flush(stream)
                self.touched.add(stream)

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.connection_lost()
