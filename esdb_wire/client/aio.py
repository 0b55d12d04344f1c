"""``AsyncEsdbClient``: the esdbclient 0.5 API as coroutines, on the asyncio driver."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType

from esdb_wire.client import paths
from esdb_wire.client.target import parse_target
from esdb_wire.codec.errors import map_error
from esdb_wire.codec.events import proposed_message
from esdb_wire.codec.requests import (
    ESDB_EVENTS_REGEX,
    append_options,
    filter_regex,
    read_all_request,
    read_stream_request,
    subscribe_all_request,
)
from esdb_wire.codec.responses import append_position, confirmation_id, read_item
from esdb_wire.events import NewEvent, RecordedEvent
from esdb_wire.exceptions import StreamNotFound, SubscriptionConfirmationError
from esdb_wire.protos import streams_pb2
from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import GrpcError as TransportError

_parse_read = streams_pb2.ReadResp.FromString


class AsyncEsdbClient:
    """The asyncio twin of :class:`esdb_wire.EsdbClient`: same methods, awaited; reads
    and subscriptions are async iterators."""

    def __init__(self, uri: str = "localhost:2113", *, config: ConnectionConfig | None = None):
        target = parse_target(uri)
        self.uri = uri
        self._channel = AsyncChannel(target.host, target.port, config=config or ConnectionConfig())

    async def append_events(
        self,
        stream_name: str,
        expected_position: int | None,
        events: Iterable[NewEvent],
        timeout: float | None = None,
    ) -> int:
        """Append ``events`` atomically; return the commit position of the last one."""
        requests = [append_options(stream_name, expected_position).SerializeToString()]
        requests.extend(
            streams_pb2.AppendReq(proposed_message=proposed_message(event)).SerializeToString()
            for event in events
        )
        try:
            data = await self._channel.stream_unary(paths.APPEND, requests, timeout=timeout)
        except TransportError as error:
            raise map_error(error) from error
        response = streams_pb2.AppendResp.FromString(data)
        return append_position(response, stream_name, expected_position)

    async def get_stream_position(
        self, stream_name: str, timeout: float | None = None
    ) -> int | None:
        """The position of the last event of the stream, or None if it does not exist."""
        try:
            async for event in self.read_stream_events(
                stream_name, backwards=True, limit=1, timeout=timeout
            ):
                return event.stream_position
        except StreamNotFound:
            return None
        return None

    def read_stream_events(
        self,
        stream_name: str,
        position: int | None = None,
        backwards: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """An async iterator of a stream's events (see ``EsdbClient.read_stream_events``)."""
        request = read_stream_request(
            stream_name, position=position, backwards=backwards, limit=limit
        )
        return self._read(request, stream_name, timeout)

    def read_all_events(
        self,
        position: int | None = None,
        backwards: bool = False,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """An async iterator of all events (see ``EsdbClient.read_all_events``)."""
        request = read_all_request(
            position=position,
            backwards=backwards,
            regex=filter_regex(filter_include, filter_exclude),
            limit=limit,
        )
        return self._read(request, None, timeout)

    async def get_commit_position(
        self, timeout: float | None = None, filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,)
    ) -> int:
        """The commit position of the last event (system events excluded); 0 if none."""
        async for event in self.read_all_events(
            backwards=True, filter_exclude=filter_exclude, limit=1, timeout=timeout
        ):
            return int(event.commit_position or 0)
        return 0

    async def subscribe_all_events(
        self,
        position: int | None = None,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        timeout: float | None = None,
    ) -> AsyncCatchupSubscription:
        """A catch-up subscription (see ``EsdbClient.subscribe_all_events``); ``async for``."""
        request = subscribe_all_request(
            position=position, regex=filter_regex(filter_include, filter_exclude)
        )
        try:
            call = await self._channel.unary_stream(
                paths.READ, request.SerializeToString(), timeout=timeout
            )
            first = await call.receive()
        except TransportError as error:
            raise map_error(error) from error
        if first is None:
            raise SubscriptionConfirmationError("the subscription ended before its confirmation")
        return AsyncCatchupSubscription(call, confirmation_id(_parse_read(first)))

    async def _read(
        self, request: streams_pb2.ReadReq, stream_name: str | None, timeout: float | None
    ) -> AsyncIterator[RecordedEvent]:
        call = None
        try:
            call = await self._channel.unary_stream(
                paths.READ, request.SerializeToString(), timeout=timeout
            )
            async for data in call:
                item = read_item(_parse_read(data), stream_name)
                if item is not None:
                    yield item
        except TransportError as error:
            raise map_error(error) from error
        finally:
            if call is not None:
                call.cancel()

    async def close(self) -> None:
        """Cancel open calls and close the connection."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncEsdbClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncCatchupSubscription:
    """Recorded then live events of a catch-up subscription, as an async iterator."""

    def __init__(self, call: AsyncCall, subscription_id: str) -> None:
        self._call = call
        self.subscription_id = subscription_id

    def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        return self

    async def __anext__(self) -> RecordedEvent:
        call = self._call
        while True:
            try:
                data = await call.receive()
            except TransportError as error:
                raise map_error(error) from error
            if data is None:
                raise StopAsyncIteration
            item = read_item(_parse_read(data))
            if item is not None:
                return item

    def stop(self) -> None:
        """End the subscription (cancels the call)."""
        self._call.cancel()

    async def aclose(self) -> None:
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
