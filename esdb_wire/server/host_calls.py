"""The calls of one connection of the embedded server's host: each handler's run, from its
request messages to its status.

:class:`ConnectionCalls` starts a call's handler as soon as the call is worth one (see
:class:`~esdb_wire.server.http2.connection.ServerConnection`), feeds it its requests,
queues its responses and ends the call with a status. A handler runs outside any task
until it first waits: most calls never do (their request is complete and the answer
immediate), and a task, with the event loop turn it takes to start, would cost them more
than the rest of the server's work on them. A handler that waits goes on in a task of its
own, so a live subscription never holds up an append.

The host's connection protocol (:mod:`esdb_wire.server.host`) is the driver: it reads and
writes, and calls :meth:`ConnectionCalls.start` and :meth:`ConnectionCalls.wake` after
each batch of input.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator, Mapping, Sequence
from typing import Any, Protocol

from google.protobuf.message import DecodeError, Message

from esdb_wire.server.http2.connection import ServerConnection, ServerStream
from esdb_wire.server.rpc import UNHANDLED_MESSAGE, Method
from esdb_wire.transport.status import MetadataValue, StatusCode, StatusError

# A handler waits for flow control once this much of its response data is unsent
# (queued, or framed and held back by the peer's flow-control window).
SEND_BUFFER_LIMIT = 1024 * 1024
# Responses are written in batches of about this many bytes (several per DATA frame).
PACK_SIZE = 65536


class CallDriver(Protocol):
    """What :class:`ConnectionCalls` needs from the connection that drives it."""

    core: ServerConnection
    peer: str
    peer_certificate: dict[str, Any] | None

    def flush(self) -> None:
        """Write what the connection has to send."""

    def after_core_work(self) -> None:
        """Start new calls, write, wake handlers (after a call's state changed)."""

    def writable(self) -> asyncio.Future[None] | None:
        """A future done once the transport takes writes again (None: it does now)."""


class HostCallContext:
    """The :class:`~esdb_wire.server.rpc.CallContext` of one call on our transport (its
    metadata as a mapping is built when first asked for)."""

    __slots__ = (
        "_deadline",
        "_loop",
        "_metadata",
        "_pairs",
        "_peer",
        "peer_certificate",
        "trailers",
    )

    def __init__(
        self,
        stream: ServerStream,
        peer: str,
        loop: asyncio.AbstractEventLoop,
        peer_certificate: dict[str, Any] | None = None,
    ) -> None:
        self._pairs = stream.metadata
        self._metadata: dict[str, str] | None = None
        self._peer = peer
        self._deadline = None if stream.timeout is None else loop.time() + stream.timeout
        self._loop = loop
        self.trailers: Sequence[tuple[str, MetadataValue]] = ()
        # The client's verified TLS certificate (``ssl.SSLSocket.getpeercert()`` form),
        # when it sent one the server could verify; used by secure mode's user certificates.
        self.peer_certificate = peer_certificate

    @property
    def metadata(self) -> Mapping[str, str]:
        metadata = self._metadata
        if metadata is None:
            metadata = self._metadata = {
                key: value if isinstance(value, str) else value.decode("latin-1")
                for key, value in self._pairs
            }
        return metadata

    @property
    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._loop.time())

    def set_trailers(self, trailers: Sequence[tuple[str, MetadataValue]]) -> None:
        self.trailers = tuple(trailers)


def serialized(response: Message | bytes) -> bytes:
    """A response message's bytes (handlers may hand them over encoded already)."""
    return response if isinstance(response, bytes) else response.SerializeToString()


def parse_request(method: Method, data: bytes) -> Any:
    """A request message of ``method``; INTERNAL if it does not parse (as the server)."""
    try:
        return method.request_type.FromString(data)
    except (DecodeError, UnicodeDecodeError):  # the latter: pure-Python protobuf
        raise StatusError(StatusCode.INTERNAL, "Failed to deserialize request") from None


class ConnectionCalls:
    """The calls of one connection (see the module docstring)."""

    def __init__(
        self,
        driver: CallDriver,
        methods: Mapping[str, Method],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.driver = driver
        self.core = driver.core
        self.methods = methods
        self.loop = loop
        self.tasks: dict[ServerStream, asyncio.Task[None]] = {}
        """The handlers that waited, by call: they run on in these tasks."""
        # True while handlers are being started: their writes wait for the driver's one
        # write after the batch (see flush_soon).
        self.starting = False
        self._unflushed: set[ServerStream] = set()

    # -- starting and waking -----------------------------------------------------------

    def start(self, stream: ServerStream) -> None:
        """Run a new call's handler until it first waits; only then does it get a task."""
        call = self._serve(stream)
        try:
            awaited = call.send(None)
        except StopIteration:
            return
        self.tasks[stream] = self.loop.create_task(_resume(call, awaited))

    def wake(self) -> None:
        """Wake the handlers of the calls whose state changed; cancel those the client
        cancelled (reset)."""
        touched = self.core.touched
        if not touched:
            return
        current = asyncio.current_task()
        for stream in touched:
            waiter = stream.waiter
            if waiter is not None:
                waiter.set()
            if stream.error is StatusCode.CANCELLED:
                task = self.tasks.get(stream)
                if task is not None and task is not current:
                    task.cancel()
        touched.clear()

    async def wait(self, stream: ServerStream) -> None:
        """Until :meth:`wake` says the call's state changed."""
        event: asyncio.Event | None = stream.waiter
        if event is None:
            event = stream.waiter = asyncio.Event()
        else:
            event.clear()
        await event.wait()

    def cancel_all(self) -> None:
        """The connection is gone: every handler still running ends."""
        for task in list(self.tasks.values()):
            task.cancel()

    def flush_soon(self) -> None:
        """Write what is due now, unless the driver is about to (handlers are starting)."""
        if not self.starting:
            self.driver.flush()

    # -- one call ----------------------------------------------------------------------

    async def _serve(self, stream: ServerStream) -> None:
        method = self.methods.get(stream.path)
        core = self.core
        deadline_handle = None
        try:
            if method is None:
                known = any(
                    path.startswith(stream.path.rsplit("/", 1)[0] + "/") for path in self.methods
                )
                text = "Method is unimplemented." if known else "Service is unimplemented."
                raise StatusError(StatusCode.UNIMPLEMENTED, text)
            if stream.timeout is not None:
                deadline_handle = self.loop.call_later(
                    stream.timeout, self._deadline_passed, stream
                )
            driver = self.driver
            context = HostCallContext(stream, driver.peer, self.loop, driver.peer_certificate)
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
            if not self.starting:  # else the driver's pass that started it goes on
                self.driver.after_core_work()

    def _deadline_passed(self, stream: ServerStream) -> None:
        task = self.tasks.get(stream)
        if task is not None:
            task.cancel()

    async def _run(self, method: Method, stream: ServerStream, context: HostCallContext) -> None:
        argument: Any
        if method.client_streaming:
            argument = Requests(self, method, stream)
        else:
            argument = await self._single_request(method, stream)
        if method.server_streaming:
            queue = self._queue_response
            async for response in method.handler(argument, context):
                if queue(stream, response):
                    await self._drain(stream)
        else:
            response = await method.handler(argument, context)
            if stream.closed:
                raise asyncio.CancelledError
            # The status follows at once (see _serve), and writes this message with it.
            self.core.queue_message(stream, serialized(response))

    async def _single_request(self, method: Method, stream: ServerStream) -> Any:
        """The one request message of a call whose client does not stream."""
        core = self.core
        while True:
            data = core.take_request(stream)
            if data is not None:
                return parse_request(method, data)
            check_request_stream(stream)
            if stream.request_ended or stream.closed:
                raise StatusError(StatusCode.INTERNAL, "missing request message")
            await self.wait(stream)

    def _queue_response(self, stream: ServerStream, response: Message | bytes) -> bool:
        """Queue one response message; True once a batch is full (then :meth:`_drain`).
        Smaller batches are written when the handler next lets the event loop run. (What
        the peer's flow-control window holds back does not count: see :meth:`_drain`.)"""
        if stream.closed:
            raise asyncio.CancelledError
        payload = response if type(response) is bytes else serialized(response)
        if self.core.queue_message(stream, payload) < PACK_SIZE:
            unflushed = self._unflushed
            if stream not in unflushed:
                unflushed.add(stream)
                if len(unflushed) == 1:
                    self.loop.call_soon(self._flush_unflushed)
            return False
        return True

    async def _drain(self, stream: ServerStream) -> None:
        """Write a full batch, let the other calls run, and wait while the peer does
        not take what it is sent."""
        self._unflushed.discard(stream)
        self.core.flush(stream)
        self.driver.flush()
        await asyncio.sleep(0)
        writable = self.driver.writable()
        if writable is not None:
            await writable
        while stream.unsent > SEND_BUFFER_LIMIT and not stream.closed:
            await self.wait(stream)

    def _flush_unflushed(self) -> None:
        streams, self._unflushed = self._unflushed, set()
        for stream in streams:
            self.core.flush(stream)
        self.driver.flush()


def check_request_stream(stream: ServerStream) -> None:
    """Raise what a handler gets when the client reset its call (``CancelledError``) or
    broke its request stream (a ``StatusError``)."""
    if stream.error is not None:
        if stream.error is StatusCode.CANCELLED:
            raise asyncio.CancelledError
        raise StatusError(stream.error, "malformed request stream")


class Requests:
    """The request messages of a client-streaming call: its handler's async iterator."""

    __slots__ = ("_calls", "_method", "_stream")

    def __init__(self, calls: ConnectionCalls, method: Method, stream: ServerStream) -> None:
        self._calls = calls
        self._method = method
        self._stream = stream

    def __aiter__(self) -> Requests:
        return self

    async def __anext__(self) -> Any:
        calls = self._calls
        stream = self._stream
        core = calls.core
        while True:
            data = core.take_request(stream)
            if data is not None:
                calls.flush_soon()  # flow-control credit handed back
                return parse_request(self._method, data)
            check_request_stream(stream)
            if stream.request_ended or stream.closed:
                raise StopAsyncIteration
            await calls.wait(stream)


@types.coroutine
def _continue(call: Coroutine[Any, Any, None], awaited: Any) -> Generator[Any, Any, None]:
    """Drive ``call`` on from where it first waited (``awaited``: what it yielded then),
    as part of the task this runs in: what the task sends or throws goes to ``call``."""
    while True:
        try:
            sent = yield awaited
        except GeneratorExit:
            call.close()
            raise
        except BaseException as exc:  # cancellation, thrown in by the task
            try:
                awaited = call.throw(exc)
            except StopIteration:
                return
        else:
            try:
                awaited = call.send(sent)
            except StopIteration:
                return


async def _resume(call: Coroutine[Any, Any, None], awaited: Any) -> None:
    """A call's handler, started outside any task (see :meth:`ConnectionCalls.start`),
    from its first wait on, in a task."""
    await _continue(call, awaited)
