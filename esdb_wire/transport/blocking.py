"""The blocking driver: many calls from many threads over one connection, no background thread.

Whichever thread needs input becomes the connection's reader for a while: it reads the
socket with the lock released, feeds the bytes to the sans-IO core under the lock, and
wakes the other waiters, one of whom takes over reading once it leaves. A single-threaded
program can therefore append while it iterates a subscription: the append's wait reads the
socket and queues the subscription's messages on the way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from esdb_wire.transport.blocking_link import Link
from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import DEFAULT_CONFIG, ConnectionConfig
from esdb_wire.transport.connection import small_batch
from esdb_wire.transport.deadline import NO_DEADLINE, Deadline
from esdb_wire.transport.http2.engine import check_engine
from esdb_wire.transport.metadata import encode_metadata
from esdb_wire.transport.status import MetadataItems, MetadataValue, StatusCode, StatusError

if TYPE_CHECKING:
    import ssl

# A sender waits for flow control once this much of its request data is still unsent.
SEND_BUFFER_LIMIT = 1024 * 1024
_monotonic = time.monotonic
_Metadata = Iterable[tuple[str, MetadataValue]]


class BlockingCall:
    """One call, as seen by its user: send, receive (or iterate), metadata, status, cancel."""

    def __init__(self, link: Link, call: ClientCall) -> None:
        self._link = link
        self._call = call

    # -- request side ------------------------------------------------------------------

    def send(self, message: bytes, *, end: bool = False) -> None:
        """Send one request message; waits while too much earlier data is still unsent."""
        link, call = self._link, self._call
        with link.lock:
            if call.error is not None:
                raise call.error
            link.core.send_message(call, message, end=end)
            link.flush(call.deadline)
            if call.outbound.size > SEND_BUFFER_LIMIT:
                link.wait(
                    lambda: call.outbound.size <= SEND_BUFFER_LIMIT or call.done,
                    until=call.deadline,
                )
            if call.error is not None:
                raise call.error

    def done_writing(self) -> None:
        """End the request stream (half-close)."""
        link = self._link
        with link.lock:
            link.core.end_request(self._call)
            link.flush()

    # -- response side -----------------------------------------------------------------

    def receive(self) -> bytes | None:
        """The next response message; None once the call ended OK. Raises StatusError."""
        link, call = self._link, self._call
        with link.lock:
            core = link.core
            message = core.take_message(call)
            if message is None and call.status is None:
                link.wait(lambda: call.readable, until=call.deadline)
                message = core.take_message(call)
            if message is not None:
                if core.pending_output:
                    link.flush()
                return message
            if call.error is not None:
                raise call.error
            return None

    def receive_many(self, limit: int = 256) -> list[bytes]:
        """Every queued response message (at most ``limit``), waiting for one if none is
        queued; an empty list once the call ended OK. Raises StatusError. Cheaper per
        message than :meth:`receive` when messages arrive in bursts."""
        link, call = self._link, self._call
        with link.lock:
            core = link.core
            messages = core.take_messages(call, limit)
            if not messages and call.status is None:
                link.wait(lambda: call.readable, until=call.deadline)
                messages = core.take_messages(call, limit)
            if messages:
                if core.pending_output:
                    link.flush()
                return messages
            if call.error is not None:
                raise call.error
            return messages

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        message = self.receive()
        if message is None:
            raise StopIteration
        return message

    def initial_metadata(self) -> MetadataItems:
        """The response headers' custom metadata (waits for them)."""
        link, call = self._link, self._call
        with link.lock:
            link.wait(lambda: call.initial_metadata is not None or call.done, until=call.deadline)
            return call.initial_metadata or ()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the call has its status (messages still queued stay readable)."""
        link, call = self._link, self._call
        with link.lock:
            return link.wait(lambda: call.done, timeout, until=call.deadline)

    @property
    def code(self) -> StatusCode | None:
        """The final status code, None while the call runs."""
        return self._call.status

    @property
    def readable(self) -> bool:
        """Whether :meth:`receive` would return at once (a message is queued or the call
        is over), without reading the socket."""
        return self._call.readable

    @property
    def error(self) -> StatusError | None:
        return self._call.error

    @property
    def trailing_metadata(self) -> MetadataItems:
        return self._call.trailing_metadata

    def cancel(self) -> None:
        """Cancel the call (RST_STREAM CANCEL); a no-op once it has finished."""
        link, call = self._link, self._call
        with link.lock:
            if call.status is None or call.stream_id in link.core.calls:
                link.core.cancel(call)
                link.flush()
                link._wake()
                link.interrupt_reader()

    close = cancel

    def __enter__(self) -> BlockingCall:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()

    def __del__(self) -> None:
        call = getattr(self, "_call", None)
        link = getattr(self, "_link", None)
        if call is None or link is None:
            return
        if call.status is None or call.stream_id in link.core.calls:
            # May run inside the lock's holder (garbage collection): defer the cancel.
            link.abandoned.append(call)


class Channel:
    """A gRPC channel to one server over one HTTP/2 connection, reopened when it dies.

    Thread-safe; every call shares the connection. ``timeout`` on a call is its deadline,
    from the moment the call is made: connecting (when the connection has to be opened
    first) spends from it, ``grpc-timeout`` sends what is left, and it is enforced locally.
    A call whose deadline has already passed is never sent.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        authority: str | None = None,
        config: ConnectionConfig = DEFAULT_CONFIG,
        http2_engine: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        if http2_engine is not None:
            config = config._replace(http2_engine=check_engine(http2_engine))
        self.config = config
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname
        self._authority = authority or f"{host}:{port}"
        self._lock = threading.Lock()
        self._link: Link | None = None
        self._closed = False

    def _current_link(self, deadline: Deadline = NO_DEADLINE) -> Link:
        """The connection, opened (within ``deadline``) if there is none or it died.
        Returned with its lock HELD: the caller starts its call and releases it."""
        link = self._link
        if link is not None and link.usable and not self._closed:
            link.lock.acquire()
            link.probe_idle()
            if link.usable:
                return link  # the common case
            link.lock.release()
        with self._lock:
            if self._closed:
                raise StatusError(StatusCode.CANCELLED, "channel closed")
            link = self._link
            if link is None or not link.usable:
                deadline.check("connecting")
                link = Link.connect(
                    self.host,
                    self.port,
                    ssl_context=self._ssl_context,
                    server_hostname=self._server_hostname,
                    authority=self._authority,
                    config=self.config,
                    deadline=deadline,
                )
                self._link = link
            link.lock.acquire()
            return link

    def open_call(
        self,
        path: str,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> BlockingCall:
        """Start a call of any shape; use the returned handle to send and receive."""
        encoded = encode_metadata(metadata)
        deadline = Deadline.after(timeout)
        link = self._current_link(deadline)
        try:
            call = link.core.open_call(
                path, encoded, timeout=deadline.remaining(), now=_monotonic()
            )
            link.last_used = _monotonic()
            link.flush(deadline.at)
        finally:
            link.lock.release()
        return BlockingCall(link, call)

    def unary_unary(
        self,
        path: str,
        request: bytes,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> bytes:
        """One request, one response (headers and message leave in one write)."""
        return self._single_exchange(path, (request,), metadata, timeout)

    def _single_exchange(
        self, path: str, requests: Sequence[bytes], metadata: _Metadata, timeout: float | None
    ) -> bytes:
        """Send a small batch of requests in one write with the headers; wait for the call's
        end and return its one response."""
        encoded = encode_metadata(metadata) if metadata else []
        deadline = Deadline.after(timeout)
        link = self._current_link(deadline)
        try:
            now = link.last_used = _monotonic()
            call = link.core.start_call(
                path, encoded, requests, end=True, timeout=deadline.remaining(), now=now
            )
            link.flush(deadline.at)
            return _single_response(link, call)
        finally:
            link.lock.release()

    def unary_stream(
        self,
        path: str,
        request: bytes,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> BlockingCall:
        """One request; iterate the returned call for the responses."""
        call = self.open_call(path, metadata=metadata, timeout=timeout)
        call.send(request, end=True)
        return call

    def stream_unary(
        self,
        path: str,
        requests: Iterable[bytes],
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> bytes:
        """Many requests (a finite iterable), one response. A list or tuple of requests
        leaves in one write with the headers when it is small."""
        batch = small_batch(requests)
        if batch is not None:
            return self._single_exchange(path, batch, metadata, timeout)
        with self.open_call(path, metadata=metadata, timeout=timeout) as streaming:
            try:
                for request in requests:
                    streaming.send(request)
            except StatusError:
                pass  # the call failed early: its status is reported below
            streaming.done_writing()
            link = streaming._link
            with link.lock:
                return _single_response(link, streaming._call)

    def stream_stream(
        self,
        path: str,
        requests: Iterable[bytes] = (),
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
        end: bool = False,
    ) -> BlockingCall:
        """Bidirectional: sends ``requests`` now (half-closing if ``end``); keep sending with
        ``call.send`` and iterate the call for responses. A small list or tuple of requests
        leaves in one write with the headers."""
        batch = small_batch(requests)
        if batch is not None:
            encoded = encode_metadata(metadata)
            deadline = Deadline.after(timeout)
            link = self._current_link(deadline)
            try:
                now = link.last_used = _monotonic()
                state = link.core.start_call(
                    path, encoded, batch, end=end, timeout=deadline.remaining(), now=now
                )
                link.flush(deadline.at)
            finally:
                link.lock.release()
            return BlockingCall(link, state)
        call = self.open_call(path, metadata=metadata, timeout=timeout)
        for request in requests:
            call.send(request)
        if end:
            call.done_writing()
        return call

    def close(self) -> None:
        """Cancel open calls and close the connection."""
        with self._lock:
            self._closed = True
            link, self._link = self._link, None
        if link is not None:
            with link.lock:
                link.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _single_response(link: Link, call: ClientCall) -> bytes:
    """Wait (``link.lock`` held) for the end of ``call``, then take its one response."""
    core = link.core
    try:
        if call.status is None:
            link.wait(lambda: call.status is not None, until=call.deadline)
    finally:
        if call.status is None:  # interrupted
            core.cancel(call)
            link.flush()
    response = core.take_single_response(call)
    if core.pending_output:
        link.flush()
    return response
