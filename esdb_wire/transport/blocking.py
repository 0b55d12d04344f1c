"""The blocking driver: many calls from many threads over one connection, no background thread.

Whichever thread needs input becomes the connection's reader for a while: it reads the
socket with the lock released, feeds the bytes to the sans-IO core under the lock, and
wakes the other waiters, one of whom takes over reading once it leaves. A single-threaded
program can therefore append while it iterates a subscription: the append's wait reads the
socket and queues the subscription's messages on the way.
"""

from __future__ import annotations

import contextlib
import math
import select
import selectors
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Callable

from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import DEFAULT_CONFIG, ConnectionConfig
from esdb_wire.transport.connection import ClientConnection, small_batch
from esdb_wire.transport.http2.engine import check_engine
from esdb_wire.transport.metadata import encode_metadata
from esdb_wire.transport.status import GrpcError, MetadataItems, MetadataValue, StatusCode

if TYPE_CHECKING:
    import ssl

    from esdb_wire.transport.tls import TlsSession

READ_SIZE = 262144
# A sender waits for flow control once this much of its request data is still unsent.
SEND_BUFFER_LIMIT = 1024 * 1024
_monotonic = time.monotonic
_Metadata = Iterable[tuple[str, MetadataValue]]


class _ReadinessWaiter:
    """Waits until a socket is readable: ``poll(2)`` where there is one (cheaper per
    wait than a selector), else a selector."""

    def __init__(self, sock: socket.socket) -> None:
        self._poller: select.poll | None = None
        self._selector: selectors.BaseSelector | None = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
        else:  # pragma: no cover (Windows)
            self._selector = selectors.DefaultSelector()
            self._selector.register(sock, selectors.EVENT_READ)

    def wait(self, timeout: float | None) -> bool:
        """True when readable (or in error: the read will say), False on timeout."""
        if self._poller is not None:
            if timeout is None:
                return bool(self._poller.poll())
            return bool(self._poller.poll(math.ceil(timeout * 1000)))
        assert self._selector is not None
        return bool(self._selector.select(timeout))

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()


class _Link:
    """One socket, its sans-IO core, and the lock that serialises both."""

    def __init__(
        self,
        sock: socket.socket,
        core: ClientConnection,
        tls: TlsSession | None,
        config: ConnectionConfig,
    ) -> None:
        self.sock = sock
        self.core = core
        self.tls = tls
        self.config = config
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.reading = False
        # Threads asleep on `cond` (waiting for the reader to hand over input).
        self.sleepers = 0
        self.lost = False
        self._socket_closed = False
        self._full_read = False
        # Reads land in one reused buffer: a fresh 256 KiB object per recv() makes
        # glibc grow and trim the heap around it, which costs more than the copy out.
        self._read_buffer = bytearray(READ_SIZE)
        self._read_view = memoryview(self._read_buffer)
        self._readable = _ReadinessWaiter(sock)
        self.abandoned: list[ClientCall] = []

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        authority: str,
        config: ConnectionConfig,
    ) -> _Link:
        where = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=config.connect_timeout)
        except OSError as exc:
            raise GrpcError(
                StatusCode.UNAVAILABLE, f"failed to connect to {where}: {exc}", retryable=True
            ) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = None
            if ssl_context is not None:
                from esdb_wire.transport.tls import TlsSession  # noqa: PLC0415 (TLS only)

                tls = TlsSession(ssl_context, server_hostname or host)
                _handshake(sock, tls, config.connect_timeout, where)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        core = ClientConnection(
            authority, scheme="https" if ssl_context is not None else "http", config=config
        )
        link = cls(sock, core, tls, config)
        with link.lock:
            core.initiate()
            link.flush()
        return link

    @property
    def usable(self) -> bool:
        return not self.lost and self.core.accepting and self.core.error is None

    # Everything below runs with `lock` held.

    def flush(self) -> None:
        if self.core.pending_output:
            self._write(self.core.data_to_send())

    def _write(self, data: bytes) -> None:
        if self.lost:
            return
        if self.tls is not None:
            data = self.tls.encrypt(data)
        try:
            sent = self.sock.send(data)
        except OSError:  # BlockingIOError included: the loop below retries and reports
            sent = 0
        if sent == len(data):
            return  # the common case: all of it at once
        view = memoryview(data)[sent:]
        deadline: float | None = None
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:  # TLS is done in memory: the socket is plain
                sent = 0
            except OSError as exc:
                hint = (
                    ""
                    if self.core.answered
                    else " (the server never answered: does it expect TLS?)"
                )
                self._lose(f"connection lost while sending: {exc}{hint}")
                return
            view = view[sent:]
            if view:
                now = _monotonic()
                if deadline is None:
                    deadline = now + self.config.write_timeout
                elif now >= deadline:
                    self._lose(f"no write progress for {self.config.write_timeout:g}s")
                    return
                selectors_ = selectors.DefaultSelector()
                try:
                    selectors_.register(self.sock, selectors.EVENT_WRITE)
                    selectors_.select(deadline - now)
                finally:
                    selectors_.close()

    def _lose(self, reason: str) -> None:
        if not self.lost:
            self.lost = True
            self.core.connection_lost(reason)
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self._wake()

    def _wake(self) -> None:
        if self.core.touched:
            self.core.touched.clear()
        if self.sleepers:
            self.cond.notify_all()

    def _close_socket(self) -> None:
        if not self._socket_closed and not self.reading:
            self._socket_closed = True
            self._readable.close()
            self.sock.close()

    def _read(self, timeout: float | None) -> bytes | None:
        """Read what is there, waiting up to ``timeout``; b"" means EOF. Lock NOT held."""
        if self._full_read:
            # The last read filled the buffer: more is probably waiting, skip the poll.
            try:
                return self._recv()
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return b""
        if not self._readable.wait(timeout):
            return None
        try:
            return self._recv()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def _recv(self) -> bytes:
        size = self.sock.recv_into(self._read_buffer)
        self._full_read = size == READ_SIZE
        return self._read_view[:size].tobytes()

    def _feed(self, data: bytes | None) -> None:
        if data is None or self.lost:
            return
        if not data:
            if self.core.answered:
                self._lose("the server closed the connection")
            else:
                self._lose(
                    "the server closed the connection without answering (does it expect TLS?)"
                )
            return
        if self.tls is not None:
            try:
                data = self.tls.decrypt(data)
            except OSError as exc:  # ssl.SSLError
                self._lose(f"TLS error: {exc}")
                return
            if self.tls.closed:
                self._lose("the server closed the TLS session")
                return
        self.core.receive_data(data, _monotonic())
        self.flush()
        if self.core.error is not None:
            self._lose(self.core.error.message)

    def _cancel_abandoned(self) -> None:
        while self.abandoned:
            self.core.cancel(self.abandoned.pop())
        self.flush()

    def wait(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until ``ready()`` (True) or ``timeout`` passes (False)."""
        deadline = None if timeout is None else _monotonic() + timeout
        core = self.core
        while not ready():
            if self.abandoned:
                self._cancel_abandoned()
            now = _monotonic()
            due = core.next_timer()
            if due is not None and due <= now:
                core.handle_timers(now)
                due = core.next_timer()
            self.flush()
            if core.touched:
                self._wake()
                if ready():
                    break
            if core.error is not None and not self.lost:
                self._lose(core.error.message)
            if self.lost:
                self._close_socket()
                return ready()
            wait_for: float | None = None
            if deadline is not None:
                if now >= deadline:
                    return False
                wait_for = deadline - now
            if due is not None:
                wait_for = max(0.0, due - now) if wait_for is None else min(wait_for, due - now)
            if self.reading:
                self.sleepers += 1
                try:
                    self.cond.wait(wait_for)
                finally:
                    self.sleepers -= 1
                continue
            self.reading = True
            self.lock.release()
            try:
                data = self._read(wait_for)
            finally:
                self.lock.acquire()
                self.reading = False
            self._feed(data)
            self._wake()
        return True

    def close(self) -> None:
        self.core.close()
        self.flush()
        self._lose("channel closed")
        self._close_socket()


def _handshake(sock: socket.socket, tls: TlsSession, timeout: float, where: str) -> None:
    deadline = _monotonic() + timeout
    try:
        while True:
            done = tls.handshake()
            output = tls.pending_output()
            if output:
                sock.sendall(output)
            if done:
                return
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise GrpcError(StatusCode.UNAVAILABLE, f"TLS handshake with {where} timed out")
            sock.settimeout(remaining)
            data = sock.recv(READ_SIZE)
            if not data:
                raise GrpcError(
                    StatusCode.UNAVAILABLE,
                    f"{where} closed the connection during the TLS handshake "
                    "(is it serving plaintext?)",
                )
            tls.decrypt_handshake(data)
    except OSError as exc:  # ssl.SSLError included
        message = f"TLS handshake with {where} failed: {exc}{_tls_hint(exc)}"
        raise GrpcError(StatusCode.UNAVAILABLE, message) from exc


def _tls_hint(exc: OSError) -> str:
    if "WRONG_VERSION_NUMBER" in str(exc):
        return " (the server does not speak TLS: connect without TLS)"
    return ""


class BlockingCall:
    """One call, as seen by its user: send, receive (or iterate), metadata, status, cancel."""

    def __init__(self, link: _Link, call: ClientCall) -> None:
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
            link.flush()
            if call.outbound.size > SEND_BUFFER_LIMIT:
                link.wait(lambda: call.outbound.size <= SEND_BUFFER_LIMIT or call.done)
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
        """The next response message; None once the call ended OK. Raises GrpcError."""
        link, call = self._link, self._call
        with link.lock:
            core = link.core
            message = core.take_message(call)
            if message is None and call.status is None:
                link.wait(lambda: call.readable)
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
        queued; an empty list once the call ended OK. Raises GrpcError. Cheaper per
        message than :meth:`receive` when messages arrive in bursts."""
        link, call = self._link, self._call
        with link.lock:
            core = link.core
            messages = core.take_messages(call, limit)
            if not messages and call.status is None:
                link.wait(lambda: call.readable)
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
            link.wait(lambda: call.initial_metadata is not None or call.done)
            return call.initial_metadata or ()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the call has its status (messages still queued stay readable)."""
        link, call = self._link, self._call
        with link.lock:
            return link.wait(lambda: call.done, timeout)

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
    def error(self) -> GrpcError | None:
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

    Thread-safe; every call shares the connection. ``timeout`` on a call is its deadline
    (sent as ``grpc-timeout`` and enforced locally).
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
        self._link: _Link | None = None
        self._closed = False

    def _current_link(self) -> _Link:
        link = self._link
        if link is not None and link.usable and not self._closed:
            return link  # the common case, without taking the lock
        with self._lock:
            if self._closed:
                raise GrpcError(StatusCode.CANCELLED, "channel closed")
            link = self._link
            if link is None or not link.usable:
                link = _Link.connect(
                    self.host,
                    self.port,
                    ssl_context=self._ssl_context,
                    server_hostname=self._server_hostname,
                    authority=self._authority,
                    config=self.config,
                )
                self._link = link
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
        link = self._current_link()
        with link.lock:
            call = link.core.open_call(path, encoded, timeout=timeout, now=_monotonic())
            link.flush()
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
        link = self._current_link()
        with link.lock:
            now = _monotonic()
            call = link.core.start_call(path, encoded, requests, end=True, timeout=timeout, now=now)
            link.flush()
            return _single_response(link, call)

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
            except GrpcError:
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
            link = self._current_link()
            with link.lock:
                now = _monotonic()
                state = link.core.start_call(
                    path, encoded, batch, end=end, timeout=timeout, now=now
                )
                link.flush()
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


def _single_response(link: _Link, call: ClientCall) -> bytes:
    """Wait (``link.lock`` held) for the end of ``call``, then take its one response."""
    core = link.core
    try:
        if call.status is None:
            link.wait(lambda: call.status is not None)
    finally:
        if call.status is None:  # interrupted
            core.cancel(call)
            link.flush()
    response = core.take_single_response(call)
    if core.pending_output:
        link.flush()
    return response
