"""The asyncio clients: ``AsyncEventStoreDBClient`` (esdbclient 1.x API) and
``AsyncEsdbClient`` (esdbclient 0.5 API), on the asyncio driver."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from esdb_wire.client import paths
from esdb_wire.client.aio_persistent import AsyncPersistentSubscriptionsMixin
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.codec.errors import ended_locally, map_error
from esdb_wire.codec.events import proposed_message
from esdb_wire.codec.requests import (
    DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
    DEFAULT_EXCLUDE_FILTER,
    DEFAULT_WINDOW_SIZE,
    ESDB_EVENTS_REGEX,
    StreamState,
    append_options,
    batch_append_request,
    delete_request,
    filter_regex,
    read_all_request,
    read_stream_request,
    subscribe_all_request,
    subscribe_stream_request,
)
from esdb_wire.codec.responses import (
    append_position,
    batch_append_position,
    batch_append_supported,
    confirmation_id,
    delete_position,
    is_unimplemented,
    read_item,
)
from esdb_wire.events import NewEvent, RecordedEvent
from esdb_wire.exceptions import (
    EventStoreDBClientException,
    NotFound,
    ServiceUnavailable,
    SubscriptionConfirmationError,
)
from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.status import GrpcError as TransportError
from esdb_wire.transport.status import StatusCode

_parse_read = streams_pb2.ReadResp.FromString
_EMPTY = shared_pb2.Empty().SerializeToString()
Metadata = list[tuple[str, str]]
_T = TypeVar("_T")
_Client = TypeVar("_Client", bound="AsyncEventStoreDBClient")


class AsyncEventStoreDBClient(AsyncPersistentSubscriptionsMixin):
    """The asyncio twin of :class:`esdb_wire.EventStoreDBClient`: the same methods as
    coroutines; reads and subscriptions are async iterators."""

    # -- writing -----------------------------------------------------------------------

    async def append_to_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        events: NewEvent | Iterable[NewEvent],
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        """Append one event (``Append``) or several atomically (``BatchAppend`` where the
        server offers it); return the commit position of the last one."""
        metadata = self._metadata(credentials, requires_leader=True)
        deadline = self._deadline(timeout)
        if isinstance(events, NewEvent):
            batch = [events]
        else:
            batch = list(events)
            started = time.monotonic()
            if await self._supports_batch_append(deadline):
                if deadline is not None:  # the feature probe used some of the time
                    deadline = max(0.001, deadline - (time.monotonic() - started))
                return await self._batch_append_call(
                    stream_name, current_version, batch, deadline, metadata
                )
        return await self._append_call(stream_name, current_version, batch, deadline, metadata)

    async def append_event(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        event: NewEvent,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        return await self.append_to_stream(
            stream_name,
            current_version=current_version,
            events=event,
            timeout=timeout,
            credentials=credentials,
        )

    async def append_events(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        events: Iterable[NewEvent],
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        return await self.append_to_stream(
            stream_name,
            current_version=current_version,
            events=events,
            timeout=timeout,
            credentials=credentials,
        )

    async def _append_call(
        self,
        stream_name: str,
        expected: int | StreamState | None,
        events: Sequence[NewEvent],
        timeout: float | None,
        metadata: Metadata,
    ) -> int:
        requests = [append_options(stream_name, expected).SerializeToString()]
        requests.extend(
            streams_pb2.AppendReq(proposed_message=proposed_message(event)).SerializeToString()
            for event in events
        )
        data = await self._run(
            lambda channel: channel.stream_unary(
                paths.APPEND, requests, metadata=metadata, timeout=timeout
            )
        )
        return append_position(streams_pb2.AppendResp.FromString(data), stream_name, expected)

    async def _batch_append_call(
        self,
        stream_name: str,
        expected: int | StreamState,
        events: Sequence[NewEvent],
        timeout: float | None,
        metadata: Metadata,
    ) -> int:
        request = batch_append_request(
            stream_name, expected, events, correlation_id=uuid.uuid4(), timeout=timeout
        )

        async def call(channel: AsyncChannel) -> bytes:
            stream = await channel.stream_stream(
                paths.BATCH_APPEND,
                [request.SerializeToString()],
                metadata=metadata,
                timeout=timeout,
                end=True,
            )
            async with stream:
                response = await stream.receive()
            if response is None:
                raise TransportError(StatusCode.UNIMPLEMENTED, "no response message")
            return response

        data = await self._run(call)
        response = streams_pb2.BatchAppendResp.FromString(data)
        return batch_append_position(response, stream_name, expected)

    async def _supports_batch_append(self, deadline: float | None) -> bool:
        """Whether the server offers BatchAppend (asked once per connection; a server
        without ServerFeatures offers nothing; any other failure is asked again later)."""
        if self._batch_append is not None:
            return self._batch_append
        gossip_timeout = self.settings.gossip_timeout
        timeout = gossip_timeout if deadline is None else min(deadline, gossip_timeout)
        try:
            data = await self._run(
                lambda channel: channel.unary_unary(
                    paths.SUPPORTED_METHODS, _EMPTY, timeout=timeout
                )
            )
        except EventStoreDBClientException as error:
            if is_unimplemented(error):
                self._batch_append = False
            return False
        self._batch_append = batch_append_supported(data)
        return self._batch_append

    async def delete_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        await self._delete(stream_name, current_version, timeout, credentials, tombstone=False)

    async def tombstone_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        await self._delete(stream_name, current_version, timeout, credentials, tombstone=True)

    async def _delete(
        self,
        stream_name: str,
        expected: int | StreamState,
        timeout: float | None,
        credentials: CallCredentials | None,
        *,
        tombstone: bool,
    ) -> int:
        request = delete_request(stream_name, expected, tombstone=tombstone)
        path = paths.TOMBSTONE if tombstone else paths.DELETE
        metadata = self._metadata(credentials, requires_leader=True)
        deadline = self._deadline(timeout)
        data = await self._run(
            lambda channel: channel.unary_unary(
                path, request.SerializeToString(), metadata=metadata, timeout=deadline
            )
        )
        kind = streams_pb2.TombstoneResp if tombstone else streams_pb2.DeleteResp
        return delete_position(kind.FromString(data))

    # -- reading -----------------------------------------------------------------------

    async def read_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        resolve_links: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncReadResponse:
        request = read_stream_request(
            stream_name,
            position=stream_position,
            backwards=backwards,
            limit=limit,
            resolve_links=resolve_links,
        )
        return await self._read(request, stream_name, timeout, credentials)

    async def get_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        resolve_links: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> tuple[RecordedEvent, ...]:
        response = await self.read_stream(
            stream_name,
            stream_position=stream_position,
            backwards=backwards,
            resolve_links=resolve_links,
            limit=limit,
            timeout=timeout,
            credentials=credentials,
        )
        async with response:
            return tuple([event async for event in response])

    async def read_all(
        self,
        *,
        commit_position: int | None = None,
        backwards: bool = False,
        resolve_links: bool = False,
        filter_exclude: Sequence[str] = DEFAULT_EXCLUDE_FILTER,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncReadResponse:
        request = read_all_request(
            position=commit_position,
            backwards=backwards,
            regex=filter_regex(filter_include, filter_exclude),
            by_stream_name=filter_by_stream_name,
            limit=limit,
            resolve_links=resolve_links,
        )
        return await self._read(request, None, timeout, credentials)

    async def _read(
        self,
        request: streams_pb2.ReadReq,
        stream_name: str | None,
        timeout: float | None,
        credentials: CallCredentials | None,
    ) -> AsyncReadResponse:
        payload = request.SerializeToString()
        metadata = self._read_metadata(credentials)
        call = await self._run(
            lambda channel: channel.unary_stream(
                paths.READ, payload, metadata=metadata, timeout=timeout
            )
        )
        return AsyncReadResponse(call, stream_name)

    async def get_current_version(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int | StreamState:
        try:
            events = await self.get_stream(
                stream_name, backwards=True, limit=1, timeout=timeout, credentials=credentials
            )
        except NotFound:
            return StreamState.NO_STREAM
        return events[0].stream_position if events else StreamState.NO_STREAM

    async def get_commit_position(
        self,
        *,
        filter_exclude: Sequence[str] = DEFAULT_EXCLUDE_FILTER,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        response = await self.read_all(
            backwards=True,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            filter_by_stream_name=filter_by_stream_name,
            limit=1,
            timeout=timeout,
            credentials=credentials,
        )
        async with response:
            async for event in response:
                return int(event.commit_position or 0)
        return 0

    async def get_stream_metadata(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> tuple[dict[str, Any], int | StreamState]:
        try:
            events = await self.get_stream(
                "$$" + stream_name,
                backwards=True,
                limit=1,
                timeout=timeout,
                credentials=credentials,
            )
        except NotFound:
            return {}, StreamState.NO_STREAM
        if not events:
            return {}, StreamState.NO_STREAM
        return json.loads(events[0].data), events[0].stream_position

    async def set_stream_metadata(
        self,
        stream_name: str,
        *,
        metadata: dict[str, Any],
        current_version: int | StreamState = StreamState.ANY,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        event = NewEvent(type="$metadata", data=json.dumps(metadata).encode("utf-8"))
        await self.append_event(
            "$$" + stream_name,
            current_version=current_version,
            event=event,
            timeout=timeout,
            credentials=credentials,
        )

    async def _end_of_all(self, credentials: CallCredentials | None) -> int | None:
        """The commit position of the newest record in $all (system records included)."""
        response = await self.read_all(
            backwards=True, filter_exclude=(), limit=1, credentials=credentials
        )
        async with response:
            async for event in response:
                return event.commit_position
        return None

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe_to_all(
        self,
        *,
        commit_position: int | None = None,
        from_end: bool = False,
        resolve_links: bool = False,
        filter_exclude: Sequence[str] = DEFAULT_EXCLUDE_FILTER,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        include_checkpoints: bool = False,
        window_size: int = DEFAULT_WINDOW_SIZE,
        checkpoint_interval_multiplier: int = DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
        include_caught_up: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
        auto_resubscribe: bool = False,
    ) -> AsyncCatchupSubscription:
        regex = filter_regex(filter_include, filter_exclude)
        if from_end and auto_resubscribe and commit_position is None:
            # Pin "the end" to a position now, so a resubscription before the first
            # delivery cannot skip what was written in between.
            commit_position = await self._end_of_all(credentials)
            from_end = False

        def request(position: int | None) -> streams_pb2.ReadReq:
            return subscribe_all_request(
                position=position if position is not None else commit_position,
                from_end=from_end and position is None,
                regex=regex,
                by_stream_name=filter_by_stream_name,
                window_size=window_size,
                checkpoint_interval_multiplier=checkpoint_interval_multiplier,
                resolve_links=resolve_links,
            )

        return await self._subscribe(
            request,
            all_positions=True,
            include_checkpoints=include_checkpoints,
            include_caught_up=include_caught_up,
            timeout=timeout,
            credentials=credentials,
            auto_resubscribe=auto_resubscribe,
        )

    async def subscribe_to_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        from_end: bool = False,
        resolve_links: bool = False,
        include_caught_up: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
        auto_resubscribe: bool = False,
    ) -> AsyncCatchupSubscription:
        if from_end and auto_resubscribe and stream_position is None:
            version = await self.get_current_version(stream_name, credentials=credentials)
            stream_position = version if isinstance(version, int) else None
            from_end = False

        def request(position: int | None) -> streams_pb2.ReadReq:
            return subscribe_stream_request(
                stream_name,
                position=position if position is not None else stream_position,
                from_end=from_end and position is None,
                resolve_links=resolve_links,
            )

        return await self._subscribe(
            request,
            all_positions=False,
            include_checkpoints=False,
            include_caught_up=include_caught_up,
            timeout=timeout,
            credentials=credentials,
            auto_resubscribe=auto_resubscribe,
        )

    async def _subscribe(
        self,
        request: Callable[[int | None], streams_pb2.ReadReq],
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        timeout: float | None,
        credentials: CallCredentials | None,
        auto_resubscribe: bool,
    ) -> AsyncCatchupSubscription:
        metadata = self._read_metadata(credentials)

        async def start(position: int | None) -> tuple[AsyncCall, str]:
            payload = request(position).SerializeToString()

            async def open_and_confirm(channel: AsyncChannel) -> tuple[AsyncCall, str]:
                call = await channel.unary_stream(
                    paths.READ, payload, metadata=metadata, timeout=timeout
                )
                first = await call.receive()
                if first is None:
                    raise SubscriptionConfirmationError("the subscription ended at once")
                return call, confirmation_id(_parse_read(first))

            return await self._run(open_and_confirm)

        subscription = AsyncCatchupSubscription(
            start,
            all_positions=all_positions,
            include_checkpoints=include_checkpoints,
            include_caught_up=include_caught_up,
            auto_resubscribe=auto_resubscribe,
        )
        await subscription.begin()
        return subscription


AsyncKurrentDBClient = AsyncEventStoreDBClient


class _Completed:
    """What ``stop()`` returns: the work is already done, so awaiting it is optional."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator: awaiting it finishes at once


_COMPLETED = _Completed()


class AsyncReadResponse:
    """The events of one read, as an async iterator; ``stop()`` ends it early."""

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
        """End the read; iteration stops. Done at once; awaiting the result is optional
        (esdbclient's ``await response.stop()`` works)."""
        self._stopped = True
        self._call.cancel()
        return _COMPLETED

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
    """Recorded then live events (and ``Checkpoint``/``CaughtUp`` items when asked for),
    as an async iterator. ``stop()`` or ``async with`` ends it."""

    def __init__(
        self,
        start: Callable[[int | None], Awaitable[tuple[AsyncCall, str]]],
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        auto_resubscribe: bool,
    ) -> None:
        self._start = start
        self._all_positions = all_positions
        self._include_checkpoints = include_checkpoints
        self._include_caught_up = include_caught_up
        self._auto_resubscribe = auto_resubscribe
        self._last_position: int | None = None
        self._stopped = False
        self._pending: deque[bytes] = deque()
        self._call: AsyncCall | None = None
        self.subscription_id = ""

    async def begin(self) -> None:
        self._call, self.subscription_id = await self._start(None)

    def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        return self

    async def __anext__(self) -> RecordedEvent:
        while True:
            call = self._call
            assert call is not None, "begin() first"
            if self._stopped:
                raise StopAsyncIteration
            pending = self._pending
            if not pending:
                try:
                    batch = await call.receive_many()
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            try:
                self._call, self.subscription_id = await self._start(self._last_position)
                return True
            except ServiceUnavailable:
                await asyncio.sleep(0.2)
        return False

    def stop(self) -> Awaitable[None]:
        """End the subscription; iteration stops. Awaiting the result is optional."""
        self._stopped = True
        if self._call is not None:
            self._call.cancel()
        return _COMPLETED

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


class AsyncEsdbClient(AsyncEventStoreDBClient):
    """The esdbclient 0.5 API as coroutines (reads and subscriptions: async iterators)."""

    def __init__(self, uri: str = "localhost:2113", **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)

    async def append_events(  # type: ignore[override]
        self,
        stream_name: str,
        expected_position: int | None,
        events: Iterable[NewEvent],
        timeout: float | None = None,
    ) -> int:
        metadata = self._metadata(None, requires_leader=True)
        return await self._append_call(
            stream_name, expected_position, list(events), timeout, metadata
        )

    async def get_stream_position(
        self, stream_name: str, timeout: float | None = None
    ) -> int | None:
        version = await self.get_current_version(stream_name, timeout=timeout)
        return None if isinstance(version, StreamState) else version

    async def read_stream_events(
        self,
        stream_name: str,
        position: int | None = None,
        backwards: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        response = await self.read_stream(
            stream_name,
            stream_position=position,
            backwards=backwards,
            limit=limit,
            timeout=timeout,
        )
        async with response:
            async for event in response:
                yield event

    async def read_all_events(
        self,
        position: int | None = None,
        backwards: bool = False,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        response = await self.read_all(
            commit_position=position,
            backwards=backwards,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            limit=limit,
            timeout=timeout,
        )
        async with response:
            async for event in response:
                yield event

    async def get_commit_position(  # type: ignore[override]
        self, timeout: float | None = None, filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,)
    ) -> int:
        return await super().get_commit_position(timeout=timeout, filter_exclude=filter_exclude)

    async def subscribe_all_events(
        self,
        position: int | None = None,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        timeout: float | None = None,
    ) -> AsyncCatchupSubscription:
        return await self.subscribe_to_all(
            commit_position=position,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            timeout=timeout,
        )
