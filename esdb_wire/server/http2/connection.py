"""The embedded server's sans-IO gRPC over HTTP/2 (on ``h2``): where a server call's state lives.

:class:`ServerConnection` accepts streams, decodes request messages and encodes
responses and trailers; :class:`ServerStream` is one call. Like the client core it does
no I/O: a driver feeds bytes and sends :meth:`ServerConnection.data_to_send`.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from esdb_wire.server.http2.accounting import ReceiveBudget, ServerInbound, TokenBucket
from esdb_wire.server.http2.header_decoder import ServerHeaderDecoder
from esdb_wire.server.limits import ServerLimits
from esdb_wire.transport.flow import Outbound
from esdb_wire.transport.framing import FramingError, encode_message
from esdb_wire.transport.hpack_static import StaticHeaderEncoder
from esdb_wire.transport.metadata import (
    MetadataError,
    decode_metadata,
    decode_timeout,
    encode_grpc_message,
    encode_metadata,
)
from esdb_wire.transport.status import MetadataItems, MetadataValue, StatusCode

log = logging.getLogger("esdb_wire.server.transport")

RESPONSE_HEADERS = [
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-accept-encoding", b"identity,deflate,gzip"),
]


class ServerStream:
    """One call on the server: its request messages, response queue and state."""

    __slots__ = (
        "closed",
        "dispatched",
        "error",
        "handler_done",
        "headers_sent",
        "inbound",
        "metadata",
        "outbound",
        "path",
        "released",
        "request_ended",
        "stream_id",
        "timeout",
        "trailers_pending",
        "waiter",
    )

    def __init__(self, stream_id: int, path: str, max_message_size: int, window: int) -> None:
        self.stream_id = stream_id
        self.path = path
        self.metadata: MetadataItems = ()
        self.timeout: float | None = None
        self.inbound = ServerInbound(stream_id, max_message_size, window)
        self.outbound = Outbound()
        self.outbound.forget_replay()
        self.request_ended = False
        self.headers_sent = False
        # Trailers waiting for the response data ahead of them to drain.
        self.trailers_pending: list[tuple[bytes, bytes]] | None = None
        # Set when the client reset the stream or the request was malformed.
        self.error: StatusCode | None = None
        self.closed = False
        # For the driver: whatever it uses to wake this call's handler (None until the
        # call is dispatched, i.e. has a complete message or an ended request).
        self.waiter: Any = None
        self.dispatched = False
        self.handler_done = False
        # No longer counted against the connection's concurrent streams.
        self.released = False

    @property
    def readable(self) -> bool:
        """Whether reading the next request would not block."""
        return bool(self.inbound.messages) or self.request_ended or self.closed


class _LocalSettings(h2.settings.Settings):
    """The server's settings as advertised, with h2's own check of concurrent inbound
    streams switched off: h2 would fail the whole connection, the server refuses the
    extra stream alone (REFUSED_STREAM) and also counts streams whose handlers still run."""

    @property
    def max_concurrent_streams(self) -> int:
        return 2**31 - 1

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = value


class ServerConnection:
    """gRPC server protocol state for one accepted HTTP/2 connection.

    New calls appear in :attr:`new_streams` once their first request message is complete
    (or the request ended): the driver starts their handlers then, and tells
    :meth:`handler_finished` when one ends. Streams whose state changed are in
    :attr:`touched`. The bounds of :class:`ServerLimits` are enforced here: concurrent
    streams, buffered request bytes, header list size, and the reset and control-frame
    budgets whose exhaustion ends the connection with GOAWAY(ENHANCE_YOUR_CALM).
    """

    def __init__(
        self,
        limits: ServerLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = limits or ServerLimits()
        self.limits = limits
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.local_settings = _LocalSettings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: limits.initial_window_size,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            },
        )
        self._window_size = limits.initial_window_size
        # h2 encodes and decodes header blocks through its public ``encoder`` and
        # ``decoder`` attributes; replacing them on the connection this object owns is
        # the hook for a cacheable encoder and a decoder that remembers repeated blocks.
        self._h2.encoder = StaticHeaderEncoder()  # type: ignore[assignment]
        self.header_decoder = ServerHeaderDecoder(limits.max_header_list_size)
        self._h2.decoder = self.header_decoder  # type: ignore[assignment]
        self.max_receive_message_size = limits.max_receive_message_size
        self.streams: dict[int, ServerStream] = {}
        self.new_streams: deque[ServerStream] = deque()
        self.touched: set[ServerStream] = set()
        self.closed = False
        self.draining = False
        # Why the connection was ended for misbehaviour (GOAWAY ENHANCE_YOUR_CALM), if it was.
        self.calm_down_reason: str | None = None
        # True once the peer's preface and first SETTINGS frame arrived.
        self.preface_received = False
        # Streams counted against max_concurrent_streams (open, or their handler runs).
        self.active_streams = 0
        self._last_stream_id = 0
        self._budget = ReceiveBudget(limits.connection_buffer_size)
        self._resets = TokenBucket(limits.reset_burst, limits.reset_rate, clock)
        self._control = TokenBucket(limits.control_burst, limits.control_rate, clock)
        self._handlers: dict[type, Callable[[Any], None]] = {
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

    def initiate(self) -> None:
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(2**31 - 1 - 65535)

    def data_to_send(self) -> bytes:
        return self._h2.data_to_send()

    def receive_data(self, data: bytes) -> None:
        """Process bytes from the peer (nothing more once the connection is closed)."""
        if self.closed:
            return
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("HTTP/2 protocol error from the peer: %s", exc)
            self.connection_lost()
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            if self.closed:
                return

    def connection_lost(self) -> None:
        """The transport is gone: every open call is cancelled."""
        self.closed = True
        for stream in self.streams.values():
            stream.closed = True
            if stream.error is None:
                stream.error = StatusCode.CANCELLED
            self.touched.add(stream)
        self.streams.clear()
        self.new_streams.clear()
        self._budget.waiting.clear()

    def calm_down(self, reason: str) -> None:
        """End a misbehaving peer's connection: GOAWAY(ENHANCE_YOUR_CALM), then as if lost."""
        if self.closed:
            return
        log.warning("closing a connection: %s", reason)
        self.calm_down_reason = reason
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(
                error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
                last_stream_id=self._h2.highest_inbound_stream_id,
                additional_data=reason.encode("ascii", "replace")[:256],
            )
        self.connection_lost()

    def close_idle(self) -> None:
        """Graceful GOAWAY(NO_ERROR) of a connection without calls (idle timeout)."""
        if not self.closed:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.close_connection(last_stream_id=self._h2.highest_inbound_stream_id)
            self.connection_lost()

    def handler_finished(self, stream: ServerStream) -> None:
        """The driver's handler of ``stream`` ended: once closed, it no longer counts."""
        stream.handler_done = True
        if stream.closed:
            self._release(stream)

    def _release(self, stream: ServerStream) -> None:
        if not stream.released:
            stream.released = True
            self.active_streams -= 1

    @property
    def cached_header_bytes(self) -> int:
        """Bytes of remembered request header blocks (bounded)."""
        return self.header_decoder.cached_bytes

    @property
    def budget_reserved(self) -> int:
        """Bytes of unfinished request messages currently admitted on this connection."""
        return self._budget.reserved

    def _charge_reset(self, what: str) -> bool:
        """Spend one token of the reset budget; end the connection when it is empty."""
        if self._resets.take():
            return True
        self.calm_down(f"too many stream resets ({what})")
        return False

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
        if inbound.release_due:
            amount, inbound.release_due = inbound.release_due, 0
            self._grant(self._budget.release(amount))
        if inbound.ack_due and not stream.closed:
            self._acknowledge(inbound.unacked, stream.stream_id)
            inbound.unacked = 0
        return message

    def _acknowledge(self, amount: int, stream_id: int) -> None:
        if amount:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.acknowledge_received_data(amount, stream_id)

    def _grant(self, granted: list[tuple[ServerInbound, int]]) -> None:
        for inbound, amount in granted:
            self._acknowledge(inbound.grant(amount), inbound.stream_id)

    def _reserve(self, stream: ServerStream) -> None:
        """Ask the connection's budget for the unfinished message's size, if it needs it."""
        inbound = stream.inbound
        wanted = inbound.wanted_reservation()
        if wanted and self._budget.request(inbound, wanted):
            self._acknowledge(inbound.grant(wanted), stream.stream_id)

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
        *,
        details: bytes | None = None,
    ) -> None:
        """End the call with a status: trailers after the data, or Trailers-Only.
        ``details`` is sent as ``grpc-status-details-bin`` (an encoded google.rpc.Status)."""
        if stream.closed or stream.trailers_pending is not None:
            return
        fields = [(b"grpc-status", str(int(code)).encode())]
        if message:
            fields.append((b"grpc-message", encode_grpc_message(message)))
        if details is not None:
            fields.append((b"grpc-status-details-bin", base64.b64encode(details).rstrip(b"=")))
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
            owed, budget = stream.inbound.release()
            self._acknowledge(owed, stream.stream_id)
            self._budget.forget(stream.stream_id)
            if budget:
                self._grant(self._budget.release(budget))
            stream.outbound.clear()
        if not stream.dispatched or stream.handler_done:
            self._release(stream)

    def _dispatch(self, stream: ServerStream) -> None:
        """Hand the call to the driver once it is worth a handler."""
        if not stream.dispatched and not stream.closed and stream.readable:
            stream.dispatched = True
            self.new_streams.append(stream)

    # -- h2 events ---------------------------------------------------------------------

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        self._control.refund()
        refuse = self.draining and stream_id > self._last_stream_id
        if not refuse and self.active_streams >= self.limits.max_concurrent_streams:
            refuse = self._charge_reset("streams beyond SETTINGS_MAX_CONCURRENT_STREAMS")
            if self.closed:
                return
        if refuse:
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
            self._window_size,
        )
        self.streams[stream_id] = stream
        self.active_streams += 1
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
        self._dispatch(stream)

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
        if size:
            self._control.refund()
        elif event.stream_ended is None and not self._control.take():
            self.calm_down("too many empty DATA frames")
            return
        if stream is None or stream.trailers_pending is not None:
            self._acknowledge(size, event.stream_id)
            return
        inbound = stream.inbound
        queued = len(inbound.messages)
        try:
            ack_now = inbound.feed(event.data, size)
        except FramingError as exc:
            self._acknowledge(size, event.stream_id)
            stream.error = exc.code
            self.finish(stream, exc.code, exc.message)
            self.touched.add(stream)
            self._charge_reset("malformed request messages")
            return
        self._acknowledge(ack_now, event.stream_id)
        self._reserve(stream)
        if len(inbound.messages) != queued:
            self.touched.add(stream)
            self._dispatch(stream)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.request_ended = True
            if stream.inbound.decoder.pending:
                stream.error = StatusCode.INTERNAL
                self.finish(stream, StatusCode.INTERNAL, "request ended inside a message")
            self.touched.add(stream)
            self._dispatch(stream)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.error = StatusCode.CANCELLED
            self._close(stream)
        if event.remote_reset:
            self._charge_reset("RST_STREAM from the peer")

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        if event.stream_id:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self._flush(stream)
                self.touched.add(stream)
        else:
            self._flush_all()

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if not self.preface_received:
            self.preface_received = True  # the peer's first SETTINGS, part of its preface
        elif not self._control.take():
            self.calm_down("too many SETTINGS frames")
            return
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._flush_all()

    def _on_control_frame(self, event: object) -> None:
        """PING, PRIORITY and unknown frames: they cost the server and carry no request."""
        if not self._control.take():
            self.calm_down(f"too many {type(event).__name__} frames")

    def _flush_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.outbound.size or stream.trailers_pending:
                self._flush(stream)
                self.touched.add(stream)

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.connection_lost()
