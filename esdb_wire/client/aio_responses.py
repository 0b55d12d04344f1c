"""What the asyncio clients' reads and catch-up subscriptions return: async iterators of
recorded events over one call's response messages."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

from esdb_wire.client.aio_backend import async_done, async_sleep
from esdb_wire.codec.errors import ended_locally, map_error
from esdb_wire.codec.responses import read_item
from esdb_wire.events import RecordedEvent
from esdb_wire.exceptions import ServiceUnavailable
from esdb_wire.protos import streams_pb2
from esdb_wire.transport.aio import AsyncCall
from esdb_wire.transport.status import GrpcError as TransportError
from esdb_wire.transport.status import StatusCode

_parse_read = streams_pb2.ReadResp.FromString
# How long an auto-resubscribing subscription keeps trying to get its call back.
RESUBSCRIBE_FOR = 30.0


class AsyncReadResponse:
    """The events of one read, as an async iterator; ``stop()`` (or ``async with``) ends
    it early. Nothing is read until it is iterated."""

    def __init__(self, call: AsyncCall, stream_name: str | None) -> None:
        self._call = call
        self._stream_name = stream_name
        self._stopped = False
        self._pending: deque[bytes] = deque()

    def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        return self

    async def __anext__(self) -> RecordedEvent:
        pending = self._pending
        while True:
            if self._stopped:
                raise StopAsyncIteration
            if not pending:
                try:
                    batch = await self._call.receive_many()
                except TransportError as error:
                    if ended_locally(error):
                        self._stopped = True
                        raise StopAsyncIteration from None
                    raise map_error(error) from error
                if not batch:
                    raise StopAsyncIteration
                pending.extend(batch)
            item = read_item(_parse_read(pending.popleft()), self._stream_name)
            if item is not None:
                return item

    def stop(self) -> Awaitable[None]:
        """End the read; iteration stops. Stopping twice is harmless (asyncio: it is done
        at once, so awaiting the result is optional, as in esdbclient's
        ``await response.stop()``)."""
        self._stopped = True
        self._call.cancel()
        return async_done()

    async def __aenter__(self) -> AsyncReadResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AsyncCatchupSubscription:
    """Recorded events, then live ones, as an async iterator (also ``Checkpoint`` and
    ``CaughtUp`` items when asked for). ``stop()`` or ``async with`` ends it.

    ``start(position)`` opens the call (after ``position``, or where the subscription
    began when None) and returns it with its confirmed subscription id; ``call`` and
    ``subscription_id`` are the first such call's.
    """

    def __init__(
        self,
        start: Callable[[int | None], Awaitable[tuple[AsyncCall, str]]],
        call: AsyncCall,
        subscription_id: str,
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        auto_resubscribe: bool,
    ) -> None:
        self._start = start
        self._call = call
        self.subscription_id = subscription_id
        self._all_positions = all_positions
        self._include_checkpoints = include_checkpoints
        self._include_caught_up = include_caught_up
        self._auto_resubscribe = auto_resubscribe
        self._last_position: int | None = None
        self._stopped = False
        self._pending: deque[bytes] = deque()

    def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        return self

    async def __anext__(self) -> RecordedEvent:
        while True:
            if self._stopped:
                raise StopAsyncIteration
            pending = self._pending
            if not pending:
                try:
                    batch = await self._call.receive_many()
                except TransportError as error:
                    if await self._resubscribe_after(error):
                        continue
                    if ended_locally(error):
                        self._stopped = True
                        raise StopAsyncIteration from None
                    raise map_error(error) from error
                if not batch:
                    raise StopAsyncIteration
                pending.extend(batch)
            response = _parse_read(pending.popleft())
            item = read_item(
                response, include_checkpoints=True, include_caught_up=self._include_caught_up
            )
            if item is None:
                continue
            self._remember(response, item)
            if item.is_checkpoint and not self._include_checkpoints:
                continue
            return item

    def _remember(self, response: streams_pb2.ReadResp, item: RecordedEvent) -> None:
        """Track where to resume: the $all position (of the link, if resolved), or the
        revision in the subscribed stream."""
        if item.is_caught_up:
            return
        if self._all_positions:
            event = response.event
            if response.WhichOneof("content") == "event" and event.HasField("commit_position"):
                self._last_position = int(event.commit_position)
            elif item.commit_position is not None:
                self._last_position = int(item.commit_position)
        elif not item.is_checkpoint:
            self._last_position = (
                item.link.stream_position if item.link is not None else item.stream_position
            )

    async def _resubscribe_after(self, error: TransportError) -> bool:
        if not self._auto_resubscribe or self._stopped or error.code is not StatusCode.UNAVAILABLE:
            return False
        deadline = time.monotonic() + RESUBSCRIBE_FOR
        while time.monotonic() < deadline:
            try:
                self._call, self.subscription_id = await self._start(self._last_position)
                return True
            except ServiceUnavailable:
                await async_sleep(0.2)
        return False

    def stop(self) -> Awaitable[None]:
        """End the subscription (cancels its call); iteration stops. Stopping twice is
        harmless (asyncio: it is done at once, so awaiting the result is optional)."""
        self._stopped = True
        self._call.cancel()
        return async_done()

    async def aclose(self) -> None:
        """The same as :meth:`stop`."""
        self.stop()

    async def __aenter__(self) -> AsyncCatchupSubscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
