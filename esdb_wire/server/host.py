"""Serving :mod:`esdb_wire.server.rpc` methods over our own gRPC transport, on asyncio.

One :class:`_ServerProtocol` per accepted connection feeds the sans-IO
:class:`~esdb_wire.server.http2.connection.ServerConnection`; each call runs its
handler in its own task, so a live subscription never holds up an append.

The host enforces the connection-level parts of
:class:`~esdb_wire.server.limits.ServerLimits`: a cap on open connections
(room is made by closing the connection idle the longest), the handshake and idle
timeouts, reading a peer's input in slices so one connection cannot hold the event loop,
and no reading from a peer whose replies pile up unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import h2.errors
from google.protobuf.message import DecodeError, Message

from esdb_wire.server.http2.connection import ServerConnection, ServerStream
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.rpc import UNHANDLED_MESSAGE, Method
from esdb_wire.transport.status import MetadataValue, StatusCode, StatusError

log = logging.getLogger("esdb_wire.server")

# A handler waits for flow control once this much of its response data is unsent.
SEND_BUFFER_LIMIT = 1024 * 1024
# Responses are written in batches of about this many bytes (several per DATA frame).
PACK_SIZE = 65536
# Seconds of one connection's input processing per event loop turn (in slices of
# ServerLimits.read_slice bytes): a flood of small frames shares the loop with the others.
TURN_BUDGET = 0.002
# Seconds a closing connection gets to flush its last frames to a peer that is not reading.
CLOSE_GRACE = 2.0


class _Context:
    """The :class:`~esdb_wire.server.rpc.CallContext` of one call on our transport."""

    def __init__(
        self,
        stream: ServerStream,
        peer: str,
        loop: asyncio.AbstractEventLoop,
        peer_certificate: dict[str, Any] | None = None,
    ) -> None:
        self._metadata = {
            key: value if isinstance(value, str) else value.decode("latin-1")
            for key, value in stream.metadata
        }
        self._peer = peer
        self._deadline = None if stream.timeout is None else loop.time() + stream.timeout
        self._loop = loop
        self.trailers: Sequence[tuple[str, MetadataValue]] = ()
        # The client's verified TLS certificate (``ssl.SSLSocket.getpeercert()`` form),
        # when it sent one the server could verify; used by secure mode's user certificates.
        self.peer_certificate = peer_certificate

    @property
    def metadata(self) -> Mapping[str, str]:
        return self._metadata

    @property
    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._loop.time())

    def set_trailers(self, trailers: Sequence[tuple[str, MetadataValue]]) -> None:
        self.trailers = tuple(trailers)


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, host: GrpcHost) -> None:
        self.host = host
        self.loop = host.loop
        self.limits = host.limits
        self.core = ServerConnection(host.limits, clock=self.loop.time)
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.peer_certificate: dict[str, Any] | None = None
        self.tasks: dict[ServerStream, asyncio.Task[None]] = {}
        self._unflushed: set[ServerStream] = set()
        self._writable: asyncio.Future[None] | None = None
        self._lost = False
        # Ending: nothing more is read (input is dropped) or written.
        self._closing = False
        # Input not yet processed (read in slices, see ServerLimits.read_slice).
        self._backlog = bytearray()
        self._backlog_scheduled = False
        self._write_backlogged = False
        self._reading_paused = False
        # Held (a network partition): nothing is read or written until released.
        self._held = False
        # When the connection last became without calls (None: calls in progress).
        self.idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        address = transport.get_extra_info("peername")
        if isinstance(address, tuple):
            self.peer = f"{address[0]}:{address[1]}"
        if not self.host.make_room():
            log.warning(
                "refused a connection from %s: %d connections, all with calls in progress",
                self.peer,
                len(self.host.connections),
            )
            self._lost = True
            transport.abort()
            return
        if self.host.ssl_context is not None:
            self.peer_certificate = transport.get_extra_info("peercert") or None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host.connections.add(self)
        self.hold(self.host.held)  # accepted just before a partition: held too
        log.info("connection from %s", self.peer)
        self._handshake_timer = self.loop.call_later(
            self.limits.handshake_timeout, self._handshake_expired
        )
        self._became_idle()
        self.core.initiate()
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self._lost or self._closing:
            return
        if self._held:
            self._backlog += data  # arrived before reading paused: kept for the release
            return
        if not self._backlog and len(data) <= self.limits.read_slice:
            self.core.receive_data(data)
            self.after_core_work()
            return
        self._backlog += data
        if not self._backlog_scheduled:
            self._process_backlog()

    def _process_backlog(self) -> None:
        """Process pending input for up to :data:`TURN_BUDGET` seconds; the rest on a later
        loop turn, so a peer sending floods of small frames shares the event loop."""
        self._backlog_scheduled = False
        if self._lost or self._closing:
            self._backlog.clear()
            return
        if self._held:
            return
        size = self.limits.read_slice
        backlog = self._backlog
        core = self.core
        deadline = self.loop.time() + TURN_BUDGET
        while backlog and not core.closed:
            chunk = bytes(backlog[:size])
            del backlog[:size]
            core.receive_data(chunk)
            if self.loop.time() >= deadline:
                break
        self.after_core_work()
        if self._backlog and not self.core.closed and not self._lost and not self._closing:
            self._backlog_scheduled = True
            self.loop.call_soon(self._process_backlog)
        else:
            self._backlog.clear()
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.host.connections.__contains__(self):
            log.info("connection from %s closed%s", self.peer, f" ({exc})" if exc else "")
        self._lost = True
        self._backlog.clear()
        for timer in (self._idle_timer, self._handshake_timer, self._abort_timer):
            if timer is not None:
                timer.cancel()
        try:
            self.core.connection_lost()
            self._wake()
        finally:
            # Every task this connection started ends with it.
            for task in list(self.tasks.values()):
                task.cancel()
            self.host.connections.discard(self)
            self.host.idle.pop(self, None)
            if self._writable is not None and not self._writable.done():
                self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._write_backlogged:
            self._write_backlogged = False
            self._update_reading()

    # -- plumbing ----------------------------------------------------------------------

    def flush(self) -> None:
        if self._held:
            return
        data = self.core.data_to_send()
        transport = self.transport
        if data and transport is not None and not self._lost:
            transport.write(data)
            if transport.get_write_buffer_size() > self.limits.write_buffer_limit:
                # The peer is not reading what it is sent: stop reading what it sends.
                self._write_backlogged = True
                self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self._lost or transport.is_closing():
            return
        pause = not self._closing and (
            self._held or self._write_backlogged or self._backlog_scheduled
        )
        if pause and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def after_core_work(self) -> None:
        core = self.core
        if not self._lost:
            while core.new_streams:
                stream = core.new_streams.popleft()
                stream.waiter = asyncio.Event()
                self.tasks[stream] = self.loop.create_task(self._serve(stream))
        self.flush()
        self._wake()
        if core.closed:
            self._close_transport()
        elif core.active_streams or self.tasks:
            self._became_busy()
        else:
            self._became_idle()

    def _close_transport(self) -> None:
        """Close after the last frames (a GOAWAY) are sent. On TCP the write side is shut
        first and the peer's input is read and dropped until it closes too: closing with
        unread input would reset the connection and could destroy the GOAWAY in flight.
        Either way the connection is aborted after :data:`CLOSE_GRACE` seconds."""
        transport = self.transport
        if transport is None or self._closing or transport.is_closing():
            return
        self._closing = True
        self._backlog.clear()
        if transport.can_write_eof():
            transport.write_eof()
            self._update_reading()
        else:
            transport.close()
        self._abort_timer = self.loop.call_later(CLOSE_GRACE, transport.abort)

    def _wake(self) -> None:
        touched = self.core.touched
        current = asyncio.current_task()
        for stream in touched:
            waiter = stream.waiter
            if waiter is None:  # never dispatched (refused or answered up front)
                continue
            waiter.set()
            if stream.error is StatusCode.CANCELLED:
                task = self.tasks.get(stream)
                if task is not None and task is not current:
                    task.cancel()
        touched.clear()

    async def _wait(self, stream: ServerStream) -> None:
        event: asyncio.Event = stream.waiter
        event.clear()
        await event.wait()

    # -- timeouts ----------------------------------------------------------------------

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self._held and not self._lost:  # a partitioned node times nobody out
            self._handshake_timer = self.loop.call_later(
                self.limits.handshake_timeout, self._handshake_expired
            )
            return
        if not self.core.preface_received and not self._lost:
            log.info("closing a connection from %s: no HTTP/2 preface in time", self.peer)
            self.core.connection_lost()
            self._wake()
            if self.transport is not None:
                self.transport.abort()

    def _became_idle(self) -> None:
        if self.idle_since is not None or self._lost:
            return
        self.idle_since = self.loop.time()
        self.host.idle[self] = None
        timeout = self.limits.idle_timeout
        if timeout is not None and self._idle_timer is None:
            self._idle_timer = self.loop.call_later(timeout, self._idle_expired)

    def _became_busy(self) -> None:
        if self.idle_since is not None:
            self.idle_since = None
            self.host.idle.pop(self, None)

    def _idle_expired(self) -> None:
        self._idle_timer = None
        timeout = self.limits.idle_timeout
        if self.idle_since is None or self._lost or timeout is None:
            return
        remaining = self.idle_since + timeout - self.loop.time()
        if self._held:
            remaining = timeout  # a partitioned node times nobody out
        if remaining > 0.001:
            self._idle_timer = self.loop.call_later(remaining, self._idle_expired)
            return
        log.info("closing a connection from %s: idle for %.0f s", self.peer, timeout)
        self.close_idle()

    def close_idle(self) -> None:
        """GOAWAY and close a connection without calls in progress."""
        self.core.close_idle()
        self.flush()
        self._wake()
        self._close_transport()

    # -- one call ----------------------------------------------------------------------

    async def _serve(self, stream: ServerStream) -> None:
        method = self.host.methods.get(stream.path)
        core = self.core
        deadline_handle = None
        try:
            if method is None:
                known = any(
                    path.startswith(stream.path.rsplit("/", 1)[0] + "/")
                    for path in self.host.methods
                )
                text = "Method is unimplemented." if known else "Service is unimplemented."
                raise StatusError(StatusCode.UNIMPLEMENTED, text)
            if stream.timeout is not None:
                task = asyncio.current_task()
                assert task is not None
                deadline_handle = self.loop.call_later(stream.timeout, task.cancel)
            context = _Context(stream, self.peer, self.loop, self.peer_certificate)
            await self._run(method, stream, context)
            core.finish(stream, StatusCode.OK, trailers=context.trailers)
        except StatusError as error:
            core.finish(
                stream,
                error.code,
                error.message,
                error.trailing_metadata,
                details=error.details_bin,
            )
        except asyncio.CancelledError:
            if stream.error is None and not stream.closed:
                if deadline_handle is not None and self.loop.time() >= deadline_handle.when():
                    core.finish(stream, StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                else:
                    core.finish(stream, StatusCode.UNAVAILABLE, "Server is shutting down")
        except Exception:  # a handler bug: report it the way the real server does
            core.finish(stream, StatusCode.UNKNOWN, UNHANDLED_MESSAGE)
        finally:
            if deadline_handle is not None:
                deadline_handle.cancel()
            self.tasks.pop(stream, None)
            core.handler_finished(stream)
            self.after_core_work()

    async def _run(self, method: Method, stream: ServerStream, context: _Context) -> None:
        requests = self._requests(method, stream)
        argument: Any = requests
        if not method.client_streaming:
            argument = None
            async for request in requests:
                argument = request
                break
            if argument is None:
                raise StatusError(StatusCode.INTERNAL, "missing request message")
        if method.server_streaming:
            async for response in method.handler(argument, context):
                await self._send(stream, response)
        else:
            await self._send(stream, await method.handler(argument, context))

    async def _requests(self, method: Method, stream: ServerStream) -> AsyncIterator[Any]:
        core = self.core
        parse = method.request_type.FromString
        while True:
            data = core.take_request(stream)
            if data is not None:
                self.flush()
                try:
                    yield parse(data)
                except (DecodeError, UnicodeDecodeError):  # the latter: pure-Python protobuf
                    raise StatusError(
                        StatusCode.INTERNAL, "Failed to deserialize request"
                    ) from None
                continue
            if stream.error is not None:
                if stream.error is StatusCode.CANCELLED:
                    raise asyncio.CancelledError
                raise StatusError(stream.error, "malformed request stream")
            if stream.request_ended or stream.closed:
                return
            await self._wait(stream)

    async def _send(self, stream: ServerStream, response: Message | bytes) -> None:
        """Queue a response; messages are packed into shared DATA frames, written once a
        batch is full or when the handler next lets the event loop run."""
        if stream.closed:
            raise asyncio.CancelledError
        payload = response if isinstance(response, bytes) else response.SerializeToString()
        core = self.core
        core.send_message(stream, payload, flush=False)
        if stream.outbound.size < PACK_SIZE:
            if stream not in self._unflushed:
                self._unflushed.add(stream)
                if len(self._unflushed) == 1:
                    self.loop.call_soon(self._flush_unflushed)
            return
        self._unflushed.discard(stream)
        core.flush(stream)
        self.flush()
        await asyncio.sleep(0)  # a full batch went out: let other calls run
        if self._writable is not None and not self._writable.done():
            await self._writable
        while stream.outbound.size > SEND_BUFFER_LIMIT and not stream.closed:
            await self._wait(stream)

    def _flush_unflushed(self) -> None:
        streams, self._unflushed = self._unflushed, set()
        for stream in streams:
            self.core.flush(stream)
        self.flush()

    def shutdown(self) -> None:
        self.core.shutdown()
        self.flush()

    def hold(self, held: bool) -> None:
        """Hold (a network partition: nothing more is read or written, the peer hears
        nothing) or release (what was held is processed and sent)."""
        if self._lost or held == self._held:
            return
        self._held = held
        self._update_reading()
        if not held:
            self.flush()
            if self._backlog and not self._backlog_scheduled:
                self._process_backlog()

    def kill(self) -> None:
        """Close at once, as the process's end would: no GOAWAY, calls unanswered."""
        transport = self.transport
        if transport is not None and not self._lost:
            transport.abort()

    def abort(self) -> None:
        for stream in list(self.core.streams.values()):
            self.core.reset(stream, h2.errors.ErrorCodes.CANCEL)
        self.flush()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._closing = True
            transport.close()
            self._abort_timer = self.loop.call_later(CLOSE_GRACE, transport.abort)


class GrpcHost:
    """A gRPC server for :class:`~esdb_wire.server.rpc.Method` handlers, on asyncio."""

    def __init__(
        self,
        methods: Mapping[str, Method],
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_receive_message_size: int | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        """``limits`` bounds what each peer may cost (see
        :class:`~esdb_wire.server.limits.ServerLimits`);
        ``max_receive_message_size``, when given, overrides its value of that name."""
        limits = limits or ServerLimits()
        if max_receive_message_size is not None:
            limits = dataclasses.replace(limits, max_receive_message_size=max_receive_message_size)
        self.limits = limits
        self.methods = dict(methods)
        self.ssl_context = ssl_context
        self.max_receive_message_size = limits.max_receive_message_size
        self.connections: set[_ServerProtocol] = set()
        # Connections without calls in progress, the longest idle first.
        self.idle: dict[_ServerProtocol, None] = {}
        self._server: asyncio.AbstractServer | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        # New connections are held too (see hold_connections).
        self.held = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "not started"
        return self._loop

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = any free port); return the port."""
        self._loop = asyncio.get_running_loop()
        if self.ssl_context is not None:
            self.ssl_context.set_alpn_protocols(["h2"])
        self._server = await self._loop.create_server(
            lambda: _ServerProtocol(self),
            host,
            port,
            ssl=self.ssl_context,
            reuse_address=True,
            ssl_handshake_timeout=(
                self.limits.handshake_timeout if self.ssl_context is not None else None
            ),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close_listener(self) -> None:
        """Stop accepting connections (the port refuses); open connections stay.
        :meth:`start` listens again."""
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def kill(self) -> None:
        """Stop at once, as a killed process does: the port refuses and every
        connection closes without a GOAWAY; calls in progress end unanswered."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.kill()

    def hold_connections(self, held: bool) -> None:
        """Hold every open connection (``held``: nothing read or written, as across a
        network partition) or release them."""
        self.held = held
        for connection in list(self.connections):
            connection.hold(held)

    def make_room(self) -> bool:
        """Whether a new connection may be served: below the limit, or once the
        connection idle the longest is closed. False when every connection has calls."""
        if len(self.connections) < self.limits.max_connections:
            return True
        for connection in self.idle:
            log.info(
                "closing the idle connection from %s to make room (%d connections)",
                connection.peer,
                len(self.connections),
            )
            self.idle.pop(connection)
            self.connections.discard(connection)
            connection.close_idle()
            return True
        return False

    async def stop(self, grace: float = 1.0) -> None:
        """Stop accepting, GOAWAY every connection, let calls finish for ``grace`` seconds."""
        server, self._server = self._server, None
        if server is None and not self.connections:
            return
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.shutdown()
        deadline = self.loop.time() + grace
        while any(c.tasks for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            connection.abort()
        if server is not None:
            await server.wait_closed()
