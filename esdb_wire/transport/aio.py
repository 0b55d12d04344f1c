"""The asyncio driver: the same sans-IO core under an ``asyncio.Protocol``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Callable

from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import DEFAULT_CONFIG, ConnectionConfig
from esdb_wire.transport.connection import ClientConnection, small_batch
from esdb_wire.transport.deadline import NO_DEADLINE, Deadline
from esdb_wire.transport.http2.engine import check_engine
from esdb_wire.transport.metadata import encode_metadata
from esdb_wire.transport.status import (
    MetadataItems,
    MetadataValue,
    StatusCode,
    StatusError,
    unanswered_hint,
)

SEND_BUFFER_LIMIT = 1024 * 1024


READ_SIZE = 262144
_Metadata = Iterable[tuple[str, MetadataValue]]
# How much a server may send while it does not read our output, before we stop reading.
READ_WHILE_BLOCKED_LIMIT = 1024 * 1024


class _AioLink(asyncio.BufferedProtocol):
    """One connection: feeds the core from the event loop and wakes waiting calls.

    Reads land in one reused buffer (a fresh 256 KiB object per read makes glibc grow
    and trim the heap around it, which costs more than copying the bytes out).
    """

    def __init__(self, core: ClientConnection, loop: asyncio.AbstractEventLoop) -> None:
        self._read_buffer = bytearray(READ_SIZE)
        self._read_view = memoryview(self._read_buffer)
        self.core = core
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._writable: asyncio.Future[None] | None = None
        # Bytes read since the transport's write buffer went over its high-water mark.
        self._read_while_blocked = 0
        self._reading_paused = False

    @property
    def usable(self) -> bool:
        return not self.lost and self.core.accepting and self.core.error is None

    @property
    def _tls(self) -> bool:
        transport = self.transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() not in (None, "h2"):
            self.core.connection_lost("the server did not negotiate HTTP/2 (ALPN h2)")
            transport.close()
            return
        self.core.initiate()
        self.flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        if self._writable is not None and not self._writable.done():
            # The server is not reading what we write. Whatever it sends now may need
            # an answer (PING, SETTINGS) that would pile up unsent: after a grace
            # amount, stop reading until our output drains (a flood then stalls in
            # the server's own buffers, not in our memory).
            self._read_while_blocked += nbytes
            if self._read_while_blocked > READ_WHILE_BLOCKED_LIMIT and self.transport:
                self.transport.pause_reading()
                self._reading_paused = True
        self.data_received(self._read_view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        self.core.receive_data(data, self.loop.time())
        self.after_core_work()

    def eof_received(self) -> bool | None:
        if self.core.answered:
            self._lose("the server closed the connection")
        else:
            self._lose(
                "the server closed the connection without answering" + unanswered_hint(self._tls)
            )
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "the server closed the connection"
        if not self.core.answered:
            reason += unanswered_hint(self._tls)
        self._lose(reason)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self.loop.create_future()
            self._read_while_blocked = 0

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._reading_paused and self.transport is not None and not self.lost:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- plumbing ----------------------------------------------------------------------

    def flush(self) -> None:
        if self.core.pending_output:
            data = self.core.data_to_send()
            if self.transport is not None and not self.lost:
                self.transport.write(data)

    def after_core_work(self) -> None:
        """Write the core's output, wake touched calls, re-arm the timer."""
        self.flush()
        self._wake()
        if self.core.error is not None and not self.lost:
            self._lose(self.core.error.message)
            return
        self._arm_timer()

    async def writable(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._writable is not None and not self._writable.done():
            await self._writable

    def _wake(self) -> None:
        touched = self.core.touched
        if touched:
            for call in touched:
                waiters = call.waiter
                if waiters:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                    waiters.clear()
            touched.clear()

    def _arm_timer(self) -> None:
        """Make sure a timer fires by the core's next due time. A timer armed earlier
        than needed is left alone: when it fires, the core does what is due, if
        anything, and the timer is armed again."""
        due = self.core.next_timer()
        if due is None or (self._timer_due is not None and self._timer_due <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = None
        self.core.handle_timers(self.loop.time())
        self.after_core_work()

    def _lose(self, reason: str) -> None:
        if self.lost:
            return
        self.lost = True
        self.core.connection_lost(reason)
        self._wake()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_due = None
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        self.core.close()
        self.flush()
        self._lose("channel closed")


class AsyncCall:
    """One call on the asyncio driver: send, receive (or ``async for``), metadata, cancel."""

    def __init__(self, link: _AioLink, call: ClientCall) -> None:
        self._link = link
        self._call = call
        # Futures of the coroutines waiting on this call; the link resolves them.
        call.waiter = []

    async def _wait(self, ready: Callable[[], bool]) -> None:
        waiters: list[asyncio.Future[None]] = self._call.waiter
        loop = self._link.loop
        while not ready():
            waiter = loop.create_future()
            waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done() and waiter in waiters:
                    waiters.remove(waiter)

    async def send(self, message: bytes, *, end: bool = False) -> None:
        """Send one request message; waits while too much earlier data is still unsent."""
        link, call = self._link, self._call
        if call.error is not None:
            raise call.error
        await link.writable()
        link.core.send_message(call, message, end=end)
        link.after_core_work()
        if call.outbound.size > SEND_BUFFER_LIMIT:
            await self._wait(lambda: call.outbound.size <= SEND_BUFFER_LIMIT or call.done)
        if call.error is not None:
            raise call.error

    async def done_writing(self) -> None:
        """End the request stream (half-close)."""
        self._link.core.end_request(self._call)
        self._link.after_core_work()

    async def receive(self) -> bytes | None:
        """The next response message; None once the call ended OK. Raises StatusError."""
        link, call = self._link, self._call
        message = link.core.take_message(call)
        if message is None and call.status is None:
            await self._wait(lambda: call.readable)
            message = link.core.take_message(call)
        if message is not None:
            link.flush()
            return message
        if call.error is not None:
            raise call.error
        return None

    async def receive_many(self, limit: int = 256) -> list[bytes]:
        """Every queued response message (at most ``limit``), waiting for one if none is
        queued; an empty list once the call ended OK. Raises StatusError."""
        link, call = self._link, self._call
        messages = link.core.take_messages(call, limit)
        if not messages and call.status is None:
            await self._wait(lambda: call.readable)
            messages = link.core.take_messages(call, limit)
        if messages:
            if link.core.pending_output:
                link.flush()
            return messages
        if call.error is not None:
            raise call.error
        return messages

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        message = await self.receive()
        if message is None:
            raise StopAsyncIteration
        return message

    async def initial_metadata(self) -> MetadataItems:
        call = self._call
        await self._wait(lambda: call.initial_metadata is not None or call.done)
        return call.initial_metadata or ()

    async def wait(self) -> None:
        """Wait until the call has its final status."""
        call = self._call
        await self._wait(lambda: call.done)

    @property
    def code(self) -> StatusCode | None:
        return self._call.status

    @property
    def readable(self) -> bool:
        """Whether :meth:`receive` would return without waiting."""
        return self._call.readable

    @property
    def error(self) -> StatusError | None:
        return self._call.error

    @property
    def trailing_metadata(self) -> MetadataItems:
        return self._call.trailing_metadata

    def cancel(self) -> None:
        """Cancel the call (RST_STREAM CANCEL); a no-op once it has finished."""
        call, link = self._call, self._link
        if call.status is None or call.stream_id in link.core.calls:
            link.core.cancel(call)
            link.after_core_work()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> AsyncCall:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()

    def __del__(self) -> None:
        call = getattr(self, "_call", None)
        if call is not None and call.status is None and not self._link.lost:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to cancel
                self._link.loop.call_soon_threadsafe(_cancel_abandoned, self._link, call)


def _cancel_abandoned(link: _AioLink, call: ClientCall) -> None:
    if call.status is None and not link.lost:
        link.core.cancel(call)
        link.after_core_work()


class AsyncChannel:
    """The asyncio twin of :class:`esdb_wire.transport.blocking.Channel`."""

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
        self._link: _AioLink | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    async def _current_link(self, deadline: Deadline = NO_DEADLINE) -> _AioLink:
        """The connection, opened (within ``deadline``) if there is none or it died."""
        if self._closed:
            raise StatusError(StatusCode.CANCELLED, "channel closed")
        link = self._link
        if link is not None and link.usable:
            return link
        deadline.check("connecting")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        try:
            # Waiting for another caller's connect spends from this call's deadline too.
            return await asyncio.wait_for(self._connect_once(deadline), deadline.remaining())
        except asyncio.TimeoutError:
            raise StatusError(
                StatusCode.DEADLINE_EXCEEDED,
                f"Deadline Exceeded while connecting to {self.host}:{self.port}",
            ) from None

    async def _connect_once(self, deadline: Deadline) -> _AioLink:
        assert self._connecting is not None
        async with self._connecting:
            link = self._link
            if link is not None and link.usable:
                return link
            link = await self._connect(deadline)
            self._link = link
            return link

    async def _connect(self, deadline: Deadline = NO_DEADLINE) -> _AioLink:
        loop = asyncio.get_running_loop()
        core = ClientConnection(
            self._authority,
            scheme="https" if self._ssl_context is not None else "http",
            config=self.config,
        )
        link = _AioLink(core, loop)
        where = f"{self.host}:{self.port}"
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: link,
                    self.host,
                    self.port,
                    ssl=self._ssl_context,
                    server_hostname=(self._server_hostname or self.host)
                    if self._ssl_context is not None
                    else None,
                ),
                deadline.cap(self.config.connect_timeout),
            )
        except asyncio.TimeoutError:
            if deadline.expired:
                raise StatusError(
                    StatusCode.DEADLINE_EXCEEDED, f"Deadline Exceeded while connecting to {where}"
                ) from None
            raise StatusError(
                StatusCode.UNAVAILABLE, f"connecting to {where} timed out", retryable=True
            ) from None
        except OSError as exc:  # ssl.SSLError included
            hint = ""
            if "WRONG_VERSION_NUMBER" in str(exc):
                hint = " (the server does not speak TLS: connect without TLS)"
            raise StatusError(
                StatusCode.UNAVAILABLE, f"failed to connect to {where}: {exc}{hint}", retryable=True
            ) from exc
        if core.error is not None:
            raise core.error
        return link

    async def open_call(
        self,
        path: str,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> AsyncCall:
        encoded = encode_metadata(metadata)
        deadline = Deadline.after(timeout)
        link = await self._current_link(deadline)
        call = link.core.open_call(
            path, encoded, timeout=deadline.remaining(), now=link.loop.time()
        )
        handle = AsyncCall(link, call)
        link.after_core_work()
        return handle

    async def unary_unary(
        self,
        path: str,
        request: bytes,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> bytes:
        """One request, one response (headers and message leave in one write)."""
        return await self._single_exchange(path, (request,), metadata, timeout)

    async def _single_exchange(
        self, path: str, requests: Sequence[bytes], metadata: _Metadata, timeout: float | None
    ) -> bytes:
        """Headers and a small batch of requests in one write, then (once the call has
        ended) its one response."""
        encoded = encode_metadata(metadata) if metadata else []
        link = self._link
        if link is None or not link.usable or self._closed:
            deadline = Deadline.after(timeout)
            link = await self._current_link(deadline)
            timeout = deadline.remaining()
        now = link.loop.time()
        call = link.core.start_call(path, encoded, requests, end=True, timeout=timeout, now=now)
        link.after_core_work()
        return await _single_response(link, call)

    async def unary_stream(
        self,
        path: str,
        request: bytes,
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> AsyncCall:
        call = await self.open_call(path, metadata=metadata, timeout=timeout)
        await call.send(request, end=True)
        return call

    async def stream_unary(
        self,
        path: str,
        requests: Iterable[bytes],
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
    ) -> bytes:
        """Many requests (a finite iterable), one response; a small list or tuple leaves
        in one write with the headers."""
        batch = small_batch(requests)
        if batch is not None:
            return await self._single_exchange(path, batch, metadata, timeout)
        async with await self.open_call(path, metadata=metadata, timeout=timeout) as streaming:
            try:
                for request in requests:
                    await streaming.send(request)
            except StatusError:
                pass  # reported below with the call's status
            await streaming.done_writing()
            return await _single_response(streaming._link, streaming._call)

    async def stream_stream(
        self,
        path: str,
        requests: Iterable[bytes] = (),
        *,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
        timeout: float | None = None,
        end: bool = False,
    ) -> AsyncCall:
        """Bidirectional: sends ``requests`` now (half-closing if ``end``); keep sending with
        ``call.send`` and iterate the call for responses. A small list or tuple of requests
        leaves in one write with the headers."""
        batch = small_batch(requests)
        if batch is not None:
            encoded = encode_metadata(metadata)
            deadline = Deadline.after(timeout)
            link = await self._current_link(deadline)
            now = link.loop.time()
            state = link.core.start_call(
                path, encoded, batch, end=end, timeout=deadline.remaining(), now=now
            )
            handle = AsyncCall(link, state)
            link.after_core_work()
            return handle
        call = await self.open_call(path, metadata=metadata, timeout=timeout)
        for request in requests:
            await call.send(request)
        if end:
            await call.done_writing()
        return call

    async def close(self) -> None:
        self._closed = True
        link, self._link = self._link, None
        if link is not None:
            link.close()

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _single_response(link: _AioLink, call: ClientCall) -> bytes:
    """Wait for the end of ``call``, then take its one response."""
    core = link.core
    if call.status is None:
        waiters: list[asyncio.Future[None]] = call.waiter if call.waiter is not None else []
        call.waiter = waiters
        loop = link.loop
        try:
            while call.status is None:
                waiter = loop.create_future()
                waiters.append(waiter)
                await waiter
        finally:
            if call.status is None:  # cancelled
                core.cancel(call)
                link.after_core_work()
    response = core.take_single_response(call)
    if core.pending_output:
        link.flush()
    return response
