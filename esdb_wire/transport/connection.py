"""The sans-IO client side of gRPC over HTTP/2: bytes in, call state out, bytes to send.

:class:`ClientConnection` owns an HTTP/2 engine (``h2`` by default, or the native one:
:mod:`~esdb_wire.transport.http2.engine`) and the :class:`ClientCall` objects
multiplexed on it. It does no I/O and reads no clock: drivers
feed it received bytes (:meth:`receive_data`) and the time (:meth:`handle_timers`), send what
:meth:`data_to_send` returns, and wake whoever waits on the calls listed in
:attr:`touched`. Not thread-safe: a driver serialises access.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Callable

from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import DEFAULT_CONFIG, ConnectionConfig
from esdb_wire.transport.framing import FramingError, encode_message
from esdb_wire.transport.http2 import events as h2e
from esdb_wire.transport.http2.engine import Http2Engine, create_engine
from esdb_wire.transport.http2.errors import (
    ErrorCode,
    Http2ProtocolError,
    StreamClosedError,
    error_name,
)
from esdb_wire.transport.http2.header_block import Headers
from esdb_wire.transport.metadata import MetadataError
from esdb_wire.transport.request_headers import RequestHeaderBlocks
from esdb_wire.transport.response_status import (
    MetadataMemo,
    not_grpc_error,
    protocol_mismatch,
    scan_response_headers,
    scan_trailers,
    trailers_error,
)
from esdb_wire.transport.status import StatusCode, StatusError, status_for_h2_error

# Connection events only (GOAWAY, keepalive failures): never a call's data or metadata.
_log = logging.getLogger("esdb_wire.transport")

_PING_PAYLOAD = b"esdbwire"
MAX_TRANSPARENT_RETRIES = 10
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
# Requests given as a list or tuple of at most this many bytes leave in one write with
# the call's headers (ClientConnection.start_call).
ONE_WRITE_LIMIT = 65536


def small_batch(requests: Iterable[bytes]) -> Sequence[bytes] | None:
    """``requests`` if they may leave in one write with the call's headers (a list or
    tuple of at most ONE_WRITE_LIMIT bytes); None if they are to be sent one by one."""
    if isinstance(requests, (list, tuple)) and sum(map(len, requests)) <= ONE_WRITE_LIMIT:
        return requests
    return None


def _has_pending_output(call: ClientCall) -> bool:
    """Request data, or the request's end, still waiting for send window."""
    return call.status is None and (
        call.outbound.size > 0 or (call.end_requested and not call.request_ended)
    )


class ClientConnection:
    """gRPC client protocol state for one HTTP/2 connection."""

    def __init__(
        self,
        authority: str,
        *,
        scheme: str = "http",
        config: ConnectionConfig = DEFAULT_CONFIG,
    ) -> None:
        self.config = config
        self._http2: Http2Engine = create_engine(
            config.http2_engine,
            stream_window_size=config.stream_window_size,
            connection_window_size=config.connection_window_size,
            max_frame_size=config.max_frame_size,
        )
        self._request_headers = RequestHeaderBlocks(authority, scheme, config.user_agent)
        self.calls: dict[int, ClientCall] = {}
        self.queued: deque[ClientCall] = deque()
        self.touched: set[ClientCall] = set()
        # Calls with a deadline (finished ones are dropped as timers are checked).
        self._timed_calls: set[ClientCall] = set()
        self._metadata = MetadataMemo()
        self.error: StatusError | None = None
        self.accepting = True
        # Whether the server has sent anything at all yet.
        self.answered = False
        # Frames waiting to be sent; empty when there is nothing to send.
        self.pending_output = self._http2.output
        self._peer_max_streams = config.max_concurrent_streams_default
        # A stream was refused since the last one closed: start no more until one closes.
        self._refused = False
        self._last_received: float | None = None
        self._ping_sent_at: float | None = None
        self._handlers: dict[type, Callable[..., None]] = {
            h2e.DataReceived: self._on_data,
            h2e.ResponseReceived: self._on_response,
            h2e.TrailersReceived: self._on_trailers,
            h2e.StreamReset: self._on_stream_reset,
            h2e.WindowUpdated: self._on_window_updated,
            h2e.SettingsChanged: self._on_settings,
            h2e.GoAwayReceived: self._on_goaway,
        }

    # -- setup and output ----------------------------------------------------------

    def initiate(self) -> None:
        """Queue the connection preface, our SETTINGS and the connection window."""
        self._http2.initiate()

    def data_to_send(self) -> bytes:
        """Bytes the driver must write to the socket, in order."""
        return self._http2.data_to_send()

    @property
    def idle(self) -> bool:
        """No call is open or waiting for a stream."""
        return not self.calls and not self.queued

    # -- calls ---------------------------------------------------------------------

    def open_call(
        self,
        path: str,
        metadata: list[tuple[bytes, bytes]],
        *,
        timeout: float | None = None,
        now: float = 0.0,
    ) -> ClientCall:
        """Start a call (or queue it until a stream slot frees). ``metadata`` is encoded.

        A ``timeout`` that has already run out (zero or negative) sends nothing: the call
        is returned finished with DEADLINE_EXCEEDED, so the server never sees it.
        """
        if timeout is not None and timeout <= 0:
            expired = ClientCall(path, b"", None, self.config.max_receive_message_size)
            expired.finish(
                StatusError(
                    StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded before the call was sent"
                )
            )
            return expired
        block = self._request_headers.block(path, metadata, timeout)
        deadline = None if timeout is None else now + timeout
        call = ClientCall(path, block, deadline, self.config.max_receive_message_size)
        if deadline is not None:
            self._timed_calls.add(call)
        if self.idle:
            self._last_received = now
        if self.error is not None or not self.accepting:
            reason = self.error.message if self.error is not None else "connection is closing"
            call.finish(StatusError(StatusCode.UNAVAILABLE, reason, retryable=True))
            return call
        self.queued.append(call)
        self._start_queued()
        return call

    def start_call(
        self,
        path: str,
        metadata: list[tuple[bytes, bytes]],
        requests: Sequence[bytes],
        *,
        end: bool,
        timeout: float | None = None,
        now: float = 0.0,
    ) -> ClientCall:
        """:meth:`open_call`, with ``requests`` queued at once (then the end of the request,
        if ``end``): the driver's next write carries the headers and the messages
        together. Both drivers' path for a :func:`small_batch`."""
        for request in requests:
            self._check_send_size(request)
        call = self.open_call(path, metadata, timeout=timeout, now=now)
        if call.status is None:
            # Every message queued before the first flush: they share DATA frames.
            for request in requests:
                call.outbound.push(encode_message(request))
            call.end_requested = end
            if call.stream_id is not None:
                self._flush(call)
        return call

    def send_message(self, call: ClientCall, payload: bytes, *, end: bool = False) -> None:
        """Queue one request message (and optionally the end of the request)."""
        if call.end_requested:
            raise RuntimeError("the request side of this call is already closed")
        self._check_send_size(payload)
        if call.status is not None:
            return  # finished (e.g. failed): the driver reports the status
        call.outbound.push(encode_message(payload))
        call.end_requested = end
        if call.stream_id is not None:
            self._flush(call)

    def _check_send_size(self, payload: bytes) -> None:
        limit = self.config.max_send_message_size
        if limit is not None and len(payload) > limit:
            raise StatusError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"sent message larger than max ({len(payload)} vs. {limit})",
            )

    def end_request(self, call: ClientCall) -> None:
        """Half-close: no more request messages."""
        if call.end_requested:
            return
        call.end_requested = True
        if call.stream_id is not None and call.status is None:
            self._flush(call)

    def take_message(self, call: ClientCall) -> bytes | None:
        """The next received message of ``call``, or None if none is queued."""
        inbound = call.inbound
        message = inbound.take()
        if inbound.ack_due and call.stream_id is not None:
            self._http2.acknowledge_received_data(inbound.unacked, call.stream_id)
            inbound.unacked = 0
        return message

    def take_messages(self, call: ClientCall, limit: int) -> list[bytes]:
        """Up to ``limit`` received messages of ``call`` (empty if none is queued)."""
        inbound = call.inbound
        messages = inbound.take_many(limit)
        if inbound.ack_due and call.stream_id is not None:
            self._http2.acknowledge_received_data(inbound.unacked, call.stream_id)
            inbound.unacked = 0
        return messages

    def take_single_response(self, call: ClientCall) -> bytes:
        """The one response message of a finished call with a single response (unary or
        client-streaming): both drivers' only way to it. Raises the call's error, or
        UNIMPLEMENTED if the server sent no message or more than one."""
        response = self.take_message(call)
        extra = self.take_message(call)
        if response is None:
            if call.error is not None:
                raise call.error
            raise StatusError(StatusCode.UNIMPLEMENTED, "the server sent no response message")
        if extra is not None:
            raise StatusError(
                StatusCode.UNIMPLEMENTED, "the server sent more than one response message"
            )
        if call.error is not None:
            raise call.error
        return response

    def cancel(
        self,
        call: ClientCall,
        code: StatusCode = StatusCode.CANCELLED,
        message: str = "Cancelled by the client",
    ) -> None:
        """End a call locally with ``code``; an open stream is reset with CANCEL."""
        if call.status is None:
            call.finish(StatusError(code, message, retryable=call.stream_id is None))
            self.touched.add(call)
        if call.stream_id is None:
            if call in self.queued:
                self.queued.remove(call)
            return
        if self.calls.pop(call.stream_id, None) is not None:
            self._http2.reset_stream(call.stream_id, ErrorCode.CANCEL)
            self._release(call)
            self._start_queued()

    # -- input ---------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Process bytes read from the socket."""
        self._last_received = now
        self._ping_sent_at = None
        if not self.answered:
            self.answered = True
            mismatch = protocol_mismatch(data)
            if mismatch is not None:
                self.connection_lost(mismatch)
                return
        try:
            events = self._http2.receive_data(data)
        except Http2ProtocolError as exc:
            self.connection_lost(
                f"HTTP/2 protocol error from the server: {exc}", StatusCode.INTERNAL
            )
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)

    def connection_lost(self, reason: str, code: StatusCode = StatusCode.UNAVAILABLE) -> None:
        """The transport is gone (or unusable): fail every call."""
        if self.error is None:
            self.error = StatusError(code, reason)
        self.accepting = False
        for call in self.calls.values():
            call.finish(StatusError(code, reason))
            call.inbound.release()
            self.touched.add(call)
        self.calls.clear()
        self._fail_queued(reason)

    def close(self) -> None:
        """Say GOAWAY (NO_ERROR) and cancel whatever is still open or waiting."""
        for call in [*self.calls.values(), *self.queued]:
            self.cancel(call, StatusCode.CANCELLED, "channel closed")
        if self.error is None:
            self._http2.close_connection()
        self.connection_lost("channel closed", StatusCode.CANCELLED)

    # -- timers ----------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """When :meth:`handle_timers` next has work (monotonic seconds), or None."""
        due: float | None = None
        timed = self._timed_calls
        if timed:
            for call in list(timed):
                deadline = call.deadline
                if call.status is not None or deadline is None:
                    timed.discard(call)  # finished: its deadline no longer matters
                elif due is None or deadline < due:
                    due = deadline
        keepalive = self._keepalive_due()
        if keepalive is not None and (due is None or keepalive < due):
            due = keepalive
        return due

    def handle_timers(self, now: float) -> None:
        """Expire deadlines and run keepalive."""
        for call in list(self._timed_calls):
            if call.status is not None:
                self._timed_calls.discard(call)
            elif call.deadline is not None and call.deadline <= now:
                self._timed_calls.discard(call)
                self.cancel(call, StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        interval = self.config.keepalive_interval
        if interval is None or self.idle or self.error is not None:
            return
        if self._last_received is None:
            self._last_received = now
        if self._ping_sent_at is not None:
            if now - self._ping_sent_at >= self.config.keepalive_timeout:
                reason = (
                    f"keepalive: no answer from the server within "
                    f"{self.config.keepalive_timeout:g}s of a PING"
                )
                _log.warning("%s; the connection is dropped", reason)
                self.connection_lost(reason)
        elif now - self._last_received >= interval:
            self._http2.ping(_PING_PAYLOAD)
            self._ping_sent_at = now

    def _keepalive_due(self) -> float | None:
        interval = self.config.keepalive_interval
        if interval is None or self.idle or self.error is not None:
            return None
        if self._ping_sent_at is not None:
            return self._ping_sent_at + self.config.keepalive_timeout
        if self._last_received is None:
            return None  # handle_timers starts the clock
        return self._last_received + interval

    # -- internals -----------------------------------------------------------------

    def _start_queued(self) -> None:
        limit = self._peer_max_streams
        if self._refused and self.calls:
            # The server refused a stream: it still counts a finished one. Start the next
            # only when one of ours closes (or none is left open).
            limit = min(limit, len(self.calls))
        while self.queued and len(self.calls) < limit and self.accepting:
            if not self._http2.stream_ids_left:
                self.accepting = False
                self._fail_queued("the connection has used up its stream ids")
                if not self.calls:
                    self.connection_lost("the connection has used up its stream ids")
                return
            call = self.queued.popleft()
            stream_id = self._http2.start_stream(call.request_block)
            call.stream_id = stream_id
            self.calls[stream_id] = call
            if call.outbound.size or call.end_requested:
                self._flush(call)

    def _flush(self, call: ClientCall) -> None:
        """Send as much of the call's pending request data as flow control allows."""
        assert call.stream_id is not None
        if call.request_ended:
            return
        try:
            drained = call.outbound.send(self._http2, call.stream_id, call.end_requested)
        except StreamClosedError:
            # The server closed the stream in this same batch of frames; its status or
            # reset is among the events still to handle. Nothing more to send.
            call.outbound.clear()
            call.request_ended = True
            return
        if drained and call.end_requested:
            call.request_ended = True

    def _release(self, call: ClientCall) -> None:
        """The stream is closed: hand back every byte it still holds."""
        amount = call.inbound.release()
        if amount and call.stream_id is not None:
            self._http2.acknowledge_received_data(amount, call.stream_id)
        call.outbound.clear()

    def _close_stream(self, call: ClientCall) -> None:
        if call.stream_id is not None and self.calls.pop(call.stream_id, None) is not None:
            self._release(call)
            self._refused = False
            if self.queued:
                self._start_queued()
            if not self.accepting and not self.calls:
                self.connection_lost("the server closed the connection (GOAWAY)")

    def _fail_and_reset(self, call: ClientCall, error: StatusError) -> None:
        call.finish(error)
        self.touched.add(call)
        if call.stream_id is not None and call.stream_id in self.calls:
            self._http2.reset_stream(call.stream_id, ErrorCode.CANCEL)
            self._close_stream(call)

    # -- HTTP/2 event handlers ----------------------------------------------------------

    def _on_data(self, event: h2e.DataReceived) -> None:
        call = self.calls.get(event.stream_id)
        size = event.flow_controlled_length
        if call is None or call.status is not None:
            if size:
                self._http2.acknowledge_received_data(size, event.stream_id)
            if call is not None and event.end_stream:
                self._on_stream_ended(call)
            return
        inbound = call.inbound
        queued = len(inbound.messages)
        try:
            ack_now = inbound.feed(event.data, size)
        except FramingError as exc:
            self._http2.acknowledge_received_data(size, event.stream_id)
            self._fail_and_reset(call, exc)
            return
        if len(inbound.messages) != queued:
            self.touched.add(call)
        if ack_now:
            # Padding and bytes of an unfinished message: hand back at once.
            self._http2.acknowledge_received_data(ack_now, event.stream_id)
        if event.end_stream:
            self._on_stream_ended(call)

    def _on_response(self, event: h2e.ResponseReceived) -> None:
        call = self.calls.get(event.stream_id)
        if call is None:
            return
        headers = event.headers
        status, content_type, encoding = scan_response_headers(headers)
        if event.end_stream:
            # Trailers-Only: one HEADERS frame that ends the stream.
            self._finish_from_trailers(call, headers, http_status=status)
            self._on_stream_ended(call)
            return
        error = not_grpc_error(status, content_type)
        if error is not None:
            self._fail_and_reset(call, error)
            return
        call.outbound.forget_replay()
        try:
            call.initial_metadata = self._metadata.decode(headers)
            if encoding is not None:
                call.inbound.decoder.set_encoding(encoding)
        except StatusError as exc:
            self._fail_and_reset(call, exc)
            return
        self.touched.add(call)

    def _on_trailers(self, event: h2e.TrailersReceived) -> None:
        call = self.calls.get(event.stream_id)
        if call is not None:
            self._finish_from_trailers(call, event.headers)
            self._on_stream_ended(call)

    def _finish_from_trailers(
        self,
        call: ClientCall,
        headers: Headers,
        http_status: bytes | None = None,
    ) -> None:
        try:
            fields = scan_trailers(headers)
            trailing = self._metadata.decode(headers)
        except MetadataError as exc:
            call.finish(exc)
            self.touched.add(call)
            return
        if call.initial_metadata is None:
            call.initial_metadata = ()
        error = trailers_error(
            fields,
            trailing,
            http_status=http_status,
            message_pending=call.inbound.decoder.pending,
        )
        call.finish(error, trailing)
        self.touched.add(call)

    def _on_stream_ended(self, call: ClientCall) -> None:
        """The server ended its side of the call's stream."""
        if call.status is None:
            call.finish(StatusError(StatusCode.INTERNAL, "response ended without trailers"))
            self.touched.add(call)
        if call.request_ended or call.status is not None:
            # The stream closes once both sides ended; a finished call needs nothing more.
            if not call.request_ended and call.stream_id is not None:
                self._http2.reset_stream(call.stream_id, ErrorCode.NO_ERROR)
            self._close_stream(call)

    def _on_stream_reset(self, event: h2e.StreamReset) -> None:
        call = self.calls.get(event.stream_id)
        if call is None:
            return
        refused = event.remote and event.error_code == ErrorCode.REFUSED_STREAM
        if refused and self._retry_refused(call):
            return
        if call.status is None:
            if event.remote:
                code = status_for_h2_error(event.error_code)
                message = (
                    f"stream reset by the server (HTTP/2 error {event.error_code}, "
                    f"{error_name(event.error_code)})"
                )
            else:
                code = StatusCode.INTERNAL
                message = f"HTTP/2 protocol error from the server on the stream: {event.reason}"
            call.finish(StatusError(code, message, retryable=refused))
        self.touched.add(call)
        self._close_stream(call)

    def _retry_refused(self, call: ClientCall) -> bool:
        """A refused stream was never processed: send the call again on a new stream."""
        if call.status is not None or call.retries >= MAX_TRANSPARENT_RETRIES:
            return False
        if not call.outbound.rewind():
            return False
        assert call.stream_id is not None
        del self.calls[call.stream_id]
        call.stream_id = None
        call.request_ended = False
        call.retries += 1
        self.queued.appendleft(call)
        self._refused = True
        self._start_queued()
        return True

    def _on_window_updated(self, event: h2e.WindowUpdated) -> None:
        if event.stream_id:
            call = self.calls.get(event.stream_id)
            if call is not None and _has_pending_output(call):
                self._flush(call)
                self.touched.add(call)
        else:
            self._flush_all()

    def _on_settings(self, event: h2e.SettingsChanged) -> None:
        max_streams = event.changed.get(SETTINGS_MAX_CONCURRENT_STREAMS)
        if max_streams is not None:
            self._peer_max_streams = max_streams
            self._start_queued()

    def _flush_all(self) -> None:
        for call in list(self.calls.values()):
            if _has_pending_output(call):
                self._flush(call)
                self.touched.add(call)

    def _on_goaway(self, event: h2e.GoAwayReceived) -> None:
        self.accepting = False
        last = event.last_stream_id
        detail = (
            f"server sent GOAWAY (HTTP/2 error {event.error_code}, {error_name(event.error_code)})"
        )
        if event.debug_data:
            detail += f": {event.debug_data[:200].decode('utf-8', 'replace')}"
        _log.info("%s; calls above stream %d end UNAVAILABLE (retryable)", detail, last)
        for call in list(self.calls.values()):
            if call.stream_id is not None and call.stream_id > last:
                call.finish(StatusError(StatusCode.UNAVAILABLE, detail, retryable=True))
                self.touched.add(call)
                del self.calls[call.stream_id]
                call.inbound.release()
        self._fail_queued(detail)
        if not self.calls:
            self.connection_lost(detail)

    def _fail_queued(self, reason: str) -> None:
        """Calls still waiting for a stream never reached the server: safe to retry."""
        for call in self.queued:
            call.finish(StatusError(StatusCode.UNAVAILABLE, reason, retryable=True))
            self.touched.add(call)
        self.queued.clear()
