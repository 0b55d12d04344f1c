"""Serving :mod:`esdb_wire.server.rpc` methods over our own gRPC transport, on asyncio.

One :class:`_ServerProtocol` per accepted connection feeds the sans-IO
:class:`~esdb_wire.server.http2.connection.ServerConnection` and writes what it has to
send, once per batch of input; its calls' handlers are run by
:class:`~esdb_wire.server.host_calls.ConnectionCalls` (in a task of their own once they
wait, so a live subscription never holds up an append).

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
from collections.abc import Mapping
from typing import Any

from esdb_wire.server.host_calls import ConnectionCalls
from esdb_wire.server.http2.connection import ServerConnection
from esdb_wire.server.http2.engine import check_server_engine
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.rpc import Method
from esdb_wire.transport.http2.errors import ErrorCode

log = logging.getLogger("esdb_wire.server")

# Seconds of one connection's input processing per event loop turn (in slices of
# ServerLimits.read_slice bytes): a flood of small frames shares the loop with the others.
TURN_BUDGET = 0.002
# Bytes one read from a connection takes at most (asyncio's own default).
RECEIVE_BUFFER_SIZE = 256 * 1024
# Seconds a closing connection gets to flush its last frames to a peer that is not reading.
CLOSE_GRACE = 2.0


class _ServerProtocol(asyncio.BufferedProtocol):
    """One accepted connection. Reads land in the host's one receive buffer (see
    :meth:`get_buffer`): asyncio's plain protocols get a fresh 256 KiB bytes object per
    read, which costs more than a small call's whole HTTP/2 processing."""

    def __init__(self, host: GrpcHost) -> None:
        self.host = host
        self.loop = host.loop
        self.limits = host.limits
        self.core = ServerConnection(
            host.limits, clock=self.loop.time, http2_engine=host.http2_engine
        )
        self.transport: asyncio.Transport | None = None
        self.peer = "unknown"
        self.peer_certificate: dict[str, Any] | None = None
        self.calls = ConnectionCalls(self, host.methods, self.loop)
        # The handlers that waited, by call (see ConnectionCalls.tasks).
        self.tasks = self.calls.tasks
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

    def get_buffer(self, sizehint: int) -> memoryview:
        # The transport reads into it and calls buffer_updated at once (one thread per
        # loop), so one buffer serves every connection of the host.
        return self.host.receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.host.receive_buffer[:nbytes]))

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
            self.calls.wake()
        finally:
            # Every task this connection started ends with it.
            self.calls.cancel_all()
            self.host.connections.discard(self)
            self.host.idle.pop(self, None)
            if self._writable is not None and not self._writable.done():
                self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self.loop.create_future()

    def writable(self) -> asyncio.Future[None] | None:
        """A future done once the transport takes writes again (None: it does now)."""
        writable = self._writable
        return None if writable is None or writable.done() else writable

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
        """Start the handlers of new calls, then write what is due (one write), wake
        waiting handlers and track idleness. A handler that ends without ever waiting
        ends within this call; its own ending does not recurse."""
        calls = self.calls
        if calls.starting:
            return
        core = self.core
        new = core.new_streams
        if new and not self._lost:
            self._became_busy()
            calls.starting = True
            try:
                while new:
                    calls.start(new.popleft())
            finally:
                calls.starting = False
        self.flush()
        calls.wake()
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
            self.calls.wake()
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
        self.calls.wake()
        self._close_transport()

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
            self.core.reset(stream, ErrorCode.CANCEL)
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
        http2_engine: str | None = None,
    ) -> None:
        """``limits`` bounds what each peer may cost (see
        :class:`~esdb_wire.server.limits.ServerLimits`);
        ``max_receive_message_size``, when given, overrides its value of that name.
        ``http2_engine``: ``"h2"`` (the default, also for ``None``) or ``"native"``
        (see :mod:`esdb_wire.server.http2.engine`)."""
        limits = limits or ServerLimits()
        if max_receive_message_size is not None:
            limits = dataclasses.replace(limits, max_receive_message_size=max_receive_message_size)
        self.limits = limits
        self.http2_engine = check_server_engine(http2_engine)
        self.methods = dict(methods)
        self.ssl_context = ssl_context
        self.max_receive_message_size = limits.max_receive_message_size
        self.connections: set[_ServerProtocol] = set()
        # Connections without calls in progress, the longest idle first.
        self.idle: dict[_ServerProtocol, None] = {}
        # Where every connection's reads land (see _ServerProtocol.get_buffer).
        self.receive_buffer = memoryview(bytearray(RECEIVE_BUFFER_SIZE))
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
