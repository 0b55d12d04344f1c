"""The embedded server's sans-IO gRPC over HTTP/2: where a server call's state lives.

:class:`ServerConnection` accepts streams, decodes request messages and encodes
responses and trailers; :class:`ServerStream` is one call. Like the client core it does
no I/O: a driver feeds bytes and sends :meth:`ServerConnection.data_to_send`. HTTP/2
itself is an engine's (:mod:`.engine`: ``h2`` by default, or the native one), which
reports to this class through the :class:`~.engine.ServerEvents` callbacks.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable

from esdb_wire.server.http2.accounting import ReceiveBudget, ServerInbound, TokenBucket
from esdb_wire.server.http2.engine import create_server_engine
from esdb_wire.server.http2.request_head import RequestHeads
from esdb_wire.server.limits import ServerLimits
from esdb_wire.transport.flow import Outbound
from esdb_wire.transport.framing import PREFIX, FramingError
from esdb_wire.transport.hpack_static import StaticHeaderEncoder
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError
from esdb_wire.transport.metadata import (
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
_pack_prefix = PREFIX.pack
_STATUS_FIELDS = {code: (b"grpc-status", str(int(code)).encode()) for code in StatusCode}


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
        "pending",
        "pending_size",
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
        # Framed response messages not yet handed to ``outbound`` (joined once there).
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.request_ended = False
        self.headers_sent = False
        # Encoded trailers waiting for the response data ahead of them to drain.
        self.trailers_pending: bytes | None = None
        # Set when the client reset the stream or the request was malformed.
        self.error: StatusCode | None = None
        self.closed = False
        # For the driver: whatever it uses to wake this call's handler (None until the
        # handler first waits; most never do).
        self.waiter: Any = None
        self.dispatched = False
        self.handler_done = False
        # No longer counted against the connection's concurrent streams.
        self.released = False

    @property
    def readable(self) -> bool:
        """Whether reading the next request would not block."""
        return bool(self.inbound.messages) or self.request_ended or self.closed

    @property
    def unsent(self) -> int:
        """Bytes of response messages queued and not yet written into frames."""
        return self.pending_size + self.outbound.size


class ServerConnection:
    """gRPC server protocol state for one accepted HTTP/2 connection.

    New calls appear in :attr:`new_streams` once their first request message is complete
    (or the request ended): the driver starts their handlers then, and tells
    :meth:`handler_finished` when one ends. Streams whose state changed are in
    :attr:`touched`. The bounds of :class:`ServerLimits` are enforced here, whichever
    HTTP/2 engine runs: concurrent streams, buffered request bytes, header list size,
    and the reset and control-frame budgets whose exhaustion ends the connection with
    GOAWAY(ENHANCE_YOUR_CALM).
    """

    def __init__(
        self,
        limits: ServerLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        http2_engine: str | None = None,
    ) -> None:
        """``http2_engine``: ``"h2"`` (the default, also for ``None``) or ``"native"``."""
        limits = limits or ServerLimits()
        self.limits = limits
        self.closed = False
        self._engine = create_server_engine(http2_engine, limits, self)
        self._window_size = limits.initial_window_size
        # Header fields are encoded from the static table only, so encoded fields (and
        # whole blocks) can be kept; the first block also says our table size is 0.
        self._encoder = StaticHeaderEncoder()
        self._block_prefix = b"\x20"
        self._response_block = self._encoder.encode_fields(RESPONSE_HEADERS)
        ok = _STATUS_FIELDS[StatusCode.OK]
        self._ok_trailers = self._encoder.encode_fields([ok])
        self._ok_trailers_only = self._encoder.encode_fields([*RESPONSE_HEADERS[:2], ok])
        self.max_receive_message_size = limits.max_receive_message_size
        self.streams: dict[int, ServerStream] = {}
        self.new_streams: deque[ServerStream] = deque()
        self.touched: set[ServerStream] = set()
        self.draining = False
        # Why the connection was ended for misbehaviour (GOAWAY ENHANCE_YOUR_CALM), if it was.
        self.calm_down_reason: str | None = None
        # True once the peer's preface and first SETTINGS frame arrived.
        self.preface_received = False
        # Streams counted against max_concurrent_streams (open, or their handler runs).
        self.active_streams = 0
        self._last_stream_id = 0
        self._heads = RequestHeads()
        self._budget = ReceiveBudget(limits.connection_buffer_size)
        self._resets = TokenBucket(limits.reset_burst, limits.reset_rate, clock)
        self._control = TokenBucket(limits.control_burst, limits.control_rate, clock)

    def initiate(self) -> None:
        self._engine.initiate()

    def data_to_send(self) -> bytes:
        return self._engine.data_to_send()

    def receive_data(self, data: bytes) -> None:
        """Process bytes from the peer (nothing more once the connection is closed)."""
        if self.closed:
            return
        try:
            self._engine.receive_data(data)
        except Http2ProtocolError as exc:
            log.info("HTTP/2 protocol error from the peer: %s", exc)
            self.connection_lost()

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
        engine = self._engine
        engine.close_connection(
            ErrorCode.ENHANCE_YOUR_CALM,
            engine.highest_inbound_stream_id,
            reason.encode("ascii", "replace")[:256],
        )
        self.connection_lost()

    def close_idle(self) -> None:
        """Graceful GOAWAY(NO_ERROR) of a connection without calls (idle timeout)."""
        if not self.closed:
            engine = self._engine
            engine.close_connection(ErrorCode.NO_ERROR, engine.highest_inbound_stream_id)
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
        return self._engine.header_decoder.cached_bytes

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
            self._engine.start_draining(self._last_stream_id)

    # -- requests ----------------------------------------------------------------------

    def take_request(self, stream: ServerStream) -> bytes | None:
        """The next request message, or None if none is queued."""
        inbound = stream.inbound
        message = inbound.take()
        if inbound.release_due:
            amount, inbound.release_due = inbound.release_due, 0
            self._grant(self._budget.release(amount))
        if inbound.ack_due and not stream.closed:
            self._engine.acknowledge_received_data(inbound.unacked, stream.stream_id)
            inbound.unacked = 0
        return message

    def _grant(self, granted: list[tuple[ServerInbound, int]]) -> None:
        acknowledge = self._engine.acknowledge_received_data
        for inbound, amount in granted:
            acknowledge(inbound.grant(amount), inbound.stream_id)

    def _reserve(self, stream: ServerStream) -> None:
        """Ask the connection's budget for the unfinished message's size, if it needs it."""
        inbound = stream.inbound
        wanted = inbound.wanted_reservation()
        if wanted and self._budget.request(inbound, wanted):
            self._engine.acknowledge_received_data(inbound.grant(wanted), stream.stream_id)

    # -- responses ---------------------------------------------------------------------

    def _header_block(self, fields: bytes) -> bytes:
        """A header block of encoded ``fields`` (the connection's first one announces
        our HPACK table size, 0)."""
        prefix = self._block_prefix
        if prefix:
            self._block_prefix = b""
            return prefix + fields
        return fields

    def send_message(self, stream: ServerStream, payload: bytes, *, flush: bool = True) -> None:
        """Queue one response message (response headers go first, once).

        With ``flush=False`` it only joins the stream's queue, so that several messages
        can share DATA frames; :meth:`flush` writes them.
        """
        self.queue_message(stream, payload)
        if flush:
            self._flush(stream)

    def queue_message(self, stream: ServerStream, payload: bytes) -> int:
        """Add one response message to the stream's queue without writing it (see
        :meth:`flush`); response headers go first, once. Returns the bytes of messages
        queued since the last flush (:attr:`ServerStream.pending_size`)."""
        if stream.closed:
            return 0
        if not stream.headers_sent:
            self._engine.send_headers(stream.stream_id, self._header_block(self._response_block))
            stream.headers_sent = True
        pending = stream.pending
        pending.append(_pack_prefix(0, len(payload)))
        pending.append(payload)
        size = stream.pending_size = stream.pending_size + len(payload) + 5
        return size

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
        if code is StatusCode.OK and not (message or trailers or details):
            # The usual end of a call: its trailers are always the same block.
            if stream.headers_sent:
                stream.trailers_pending = self._ok_trailers
            else:
                stream.headers_sent = True
                stream.trailers_pending = self._ok_trailers_only
            self._flush(stream)
            return
        fields = [_STATUS_FIELDS.get(code) or (b"grpc-status", str(int(code)).encode())]
        if message:
            fields.append((b"grpc-message", encode_grpc_message(message)))
        if details is not None:
            fields.append((b"grpc-status-details-bin", base64.b64encode(details).rstrip(b"=")))
        if trailers:
            fields.extend(encode_metadata(trailers))
        if not stream.headers_sent:
            stream.headers_sent = True
            fields[:0] = RESPONSE_HEADERS[:2]
        stream.trailers_pending = self._encoder.encode_fields(fields)
        self._flush(stream)

    def reset(self, stream: ServerStream, code: int) -> None:
        """Abort a call with RST_STREAM (e.g. on a request framing error)."""
        if not stream.closed:
            self._engine.reset_stream(stream.stream_id, code)
            self._close(stream)

    def _flush(self, stream: ServerStream) -> None:
        if stream.closed:
            return
        engine = self._engine
        stream_id = stream.stream_id
        trailers = stream.trailers_pending
        pending = stream.pending
        outbound = stream.outbound
        try:
            if pending:
                data = b"".join(pending)
                pending.clear()
                size = stream.pending_size
                stream.pending_size = 0
                if (
                    not outbound.size
                    and size <= engine.max_outbound_frame_size
                    and size <= engine.local_flow_control_window(stream_id)
                ):
                    # What a unary response or a small batch is: one DATA frame.
                    engine.send_data(stream_id, data)
                else:
                    outbound.push(data)
            drained = not outbound.size or outbound.send(engine, stream_id, end_stream=False)
            if drained and trailers is not None:
                engine.send_headers(stream_id, self._header_block(trailers), True)
        except StreamClosedError:
            # The client reset the stream in this same batch of frames.
            stream.error = stream.error or StatusCode.CANCELLED
            self._close(stream)
            return
        if drained and trailers is not None:
            if not stream.request_ended:
                # The client may still be sending: it has its answer, stop reading.
                engine.reset_stream(stream_id, ErrorCode.NO_ERROR)
            self._close(stream)

    def _close(self, stream: ServerStream) -> None:
        stream.closed = True
        self.touched.add(stream)
        if self.streams.pop(stream.stream_id, None) is not None:
            owed, budget = stream.inbound.release()
            self._engine.acknowledge_received_data(owed, stream.stream_id)
            self._budget.forget(stream.stream_id)
            if budget:
                self._grant(self._budget.release(budget))
            stream.outbound.clear()
            stream.pending.clear()
            stream.pending_size = 0
        if not stream.dispatched or stream.handler_done:
            self._release(stream)

    def _dispatch(self, stream: ServerStream) -> None:
        """Hand the call to the driver once it is worth a handler."""
        if not stream.dispatched and not stream.closed and stream.readable:
            stream.dispatched = True
            self.new_streams.append(stream)

    # -- what the engine reports (engine.ServerEvents) -----------------------------------

    def on_request(
        self, stream_id: int, headers: Sequence[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        control = self._control
        if control.tokens < control.burst:
            control.refund()
        refuse = self.draining and stream_id > self._last_stream_id
        if not refuse and self.active_streams >= self.limits.max_concurrent_streams:
            refuse = self._charge_reset("streams beyond SETTINGS_MAX_CONCURRENT_STREAMS")
            if self.closed:
                return
        if refuse:
            self._engine.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        head = self._heads.read(headers)
        stream = ServerStream(
            stream_id, head.path, self.max_receive_message_size, self._window_size
        )
        self.streams[stream_id] = stream
        self.active_streams += 1
        if end_stream:
            stream.request_ended = True
        problem = head.problem
        if problem is not None:
            code, text = problem
            self.finish(stream, code, text)
            return
        stream.metadata = head.metadata
        stream.timeout = head.timeout
        if head.encoding is not None:
            stream.inbound.decoder.set_encoding(head.encoding)
        self._dispatch(stream)

    def on_data(self, stream_id: int, data: bytes, flow_controlled_length: int, end: bool) -> None:
        stream = self.streams.get(stream_id)
        size = flow_controlled_length
        if size:
            control = self._control
            if control.tokens < control.burst:
                control.refund()
        elif not end and not self._control.take():
            self.calm_down("too many empty DATA frames")
            return
        if stream is None or stream.trailers_pending is not None:
            self._engine.acknowledge_received_data(size, stream_id)
            return
        inbound = stream.inbound
        queued = len(inbound.messages)
        try:
            ack_now = inbound.feed(data, size)
        except FramingError as exc:
            self._engine.acknowledge_received_data(size, stream_id)
            stream.error = exc.code
            self.finish(stream, exc.code, exc.message)
            self.touched.add(stream)
            self._charge_reset("malformed request messages")
            return
        if ack_now:
            self._engine.acknowledge_received_data(ack_now, stream_id)
        if inbound.decoder.pending:
            self._reserve(stream)
        if len(inbound.messages) != queued:
            self.touched.add(stream)
            self._dispatch(stream)

    def on_stream_ended(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.request_ended = True
            if stream.inbound.decoder.pending:
                stream.error = StatusCode.INTERNAL
                self.finish(stream, StatusCode.INTERNAL, "request ended inside a message")
            self.touched.add(stream)
            self._dispatch(stream)

    def on_stream_reset(self, stream_id: int, remote: bool) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.error = StatusCode.CANCELLED
            self._close(stream)
        if remote:
            self._charge_reset("RST_STREAM from the peer")

    def on_window_updated(self, stream_id: int) -> None:
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is not None:
                self._flush(stream)
                self.touched.add(stream)
        else:
            self._flush_all()

    def on_settings(self, initial_window_changed: bool) -> None:
        if not self.preface_received:
            self.preface_received = True  # the peer's first SETTINGS, part of its preface
        elif not self._control.take():
            self.calm_down("too many SETTINGS frames")
            return
        if initial_window_changed:
            self._flush_all()

    def on_control_frame(self, kind: str) -> None:
        """PING, PRIORITY and unknown frames: they cost the server and carry no request."""
        if not self._control.take():
            self.calm_down(f"too many {kind} frames")

    def _flush_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.outbound.size or stream.pending or stream.trailers_pending:
                self._flush(stream)
                self.touched.add(stream)

    def on_goaway(self) -> None:
        self.connection_lost()
