"""``AsyncEventStoreDBClient``: the esdbclient 1.x API on the asyncio driver (appends, reads,
deletes, stream metadata, catch-up subscriptions; persistent subscriptions come from
:mod:`esdb_wire.client.aio_persistent`)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from esdb_wire.client import paths
from esdb_wire.client.aio_admin import (
    AsyncMonitoringMixin,
    AsyncOperationsMixin,
    AsyncUsersMixin,
)
from esdb_wire.client.aio_persistent import AsyncPersistentSubscriptionsMixin
from esdb_wire.client.aio_projections import AsyncProjectionsMixin
from esdb_wire.client.aio_v2 import AsyncV2StreamsMixin
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.events import NewEvent, RecordedEvent
from esdb_wire.exceptions import (
    AccessDeniedError,
    EventStoreDBClientException,
    NotFound,
)
from esdb_wire.filters import (
    DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
    DEFAULT_EXCLUDE_FILTER,
    DEFAULT_WINDOW_SIZE,
)
from esdb_wire.lazy_import import lazy_module
from esdb_wire.streams import StreamState
from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.deadline import Deadline
from esdb_wire.transport.status import StatusCode, StatusError

if TYPE_CHECKING:
    import json

    import esdb_wire.client.aio_responses as responses
    from esdb_wire.client.aio_responses import AsyncCatchupSubscription, AsyncReadResponse
    from esdb_wire.codec import requests as requests_codec
    from esdb_wire.codec import responses as responses_codec
else:
    json = lazy_module("json")  # stream metadata only
    responses = lazy_module("esdb_wire.client.aio_responses")
    requests_codec = lazy_module("esdb_wire.codec.requests")
    responses_codec = lazy_module("esdb_wire.codec.responses")

Metadata = list[tuple[str, str]]


class AsyncEventStoreDBClient(
    AsyncPersistentSubscriptionsMixin,
    AsyncV2StreamsMixin,
    AsyncProjectionsMixin,
    AsyncUsersMixin,
    AsyncOperationsMixin,
    AsyncMonitoringMixin,
):
    """An EventStoreDB / KurrentDB client with the esdbclient 1.x API, on the asyncio driver (see
    :class:`~esdb_wire.client.aio_base.AsyncClientBase` for ``uri`` and TLS options).

    ``timeout`` (seconds) is a deadline for the whole operation; without one, the
    connection string's ``DefaultDeadline`` applies. ``credentials`` (from
    :meth:`construct_call_credentials`) override the connection string's for one call.
    """

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
        server offers it); return the commit position of the last one. The stream must
        be at ``current_version`` (a revision or a ``StreamState``), else
        ``WrongCurrentVersion``."""
        metadata = self._metadata(credentials, requires_leader=True)
        deadline = self._deadline(timeout)
        if isinstance(events, NewEvent):
            batch = [events]
        else:
            batch = list(events)
            if await self._supports_batch_append(deadline):
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
        """Append one event; return its commit position."""
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
        """Alias of :meth:`append_to_stream` (esdbclient 1.x)."""
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
        deadline: Deadline,
        metadata: Metadata,
    ) -> int:
        requests = requests_codec.append_requests(stream_name, expected, events)
        data = await self._run(
            lambda channel: channel.stream_unary(
                paths.APPEND, requests, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )
        return responses_codec.append_position(data, stream_name, expected)

    async def _batch_append_call(
        self,
        stream_name: str,
        expected: int | StreamState,
        events: Sequence[NewEvent],
        deadline: Deadline,
        metadata: Metadata,
    ) -> int:
        async def call(channel: AsyncChannel) -> bytes:
            # BatchAppend's own deadline option, like grpc-timeout, is what is left now.
            timeout = deadline.remaining()
            request = requests_codec.batch_append_request(
                stream_name, expected, events, correlation_id=uuid.uuid4(), timeout=timeout
            )
            # As esdbclient does: the first response answers the batch; then cancel.
            stream = await channel.stream_stream(
                paths.BATCH_APPEND,
                [request],
                metadata=metadata,
                timeout=timeout,
                end=True,
            )
            async with stream:
                response = await stream.receive()
            if response is None:
                raise StatusError(StatusCode.UNIMPLEMENTED, "no response message")
            return response

        data = await self._run(call, deadline)
        return responses_codec.batch_append_position(data, stream_name, expected)

    async def _supports_batch_append(self, deadline: Deadline) -> bool:
        """Whether the server offers BatchAppend (asked once per connection; a server
        without ServerFeatures offers nothing; any other failure is asked again later).
        The question spends from the append's ``deadline``."""
        if self._batch_append is not None:
            return self._batch_append
        gossip_timeout = self.settings.gossip_timeout
        try:
            data = await self._run(
                lambda channel: channel.unary_unary(
                    paths.SUPPORTED_METHODS,
                    responses_codec.FEATURES_REQUEST,
                    timeout=deadline.cap(gossip_timeout),
                ),
                deadline,
            )
        except EventStoreDBClientException as error:
            if responses_codec.is_unimplemented(error):
                self._batch_append = False
            return False
        self._batch_append = responses_codec.batch_append_supported(data)
        return self._batch_append

    async def delete_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Soft-delete a stream (it can be written again, numbering continues)."""
        await self._delete(stream_name, current_version, timeout, credentials, tombstone=False)

    async def tombstone_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Hard-delete a stream, for good: reads and writes then raise ``StreamIsDeleted``."""
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
        request = requests_codec.delete_request(stream_name, expected, tombstone=tombstone)
        path = paths.TOMBSTONE if tombstone else paths.DELETE
        data = await self._unary_call(path, request, timeout, credentials)
        return responses_codec.delete_position(data, tombstone=tombstone)

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
        """The events of a stream, from ``stream_position`` (inclusive), as a lazy async
        iterator; iterating a stream that does not exist raises ``NotFound``."""
        request = requests_codec.read_stream_request(
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
        """:meth:`read_stream`, collected into a tuple."""
        async with await self.read_stream(
            stream_name,
            stream_position=stream_position,
            backwards=backwards,
            resolve_links=resolve_links,
            limit=limit,
            timeout=timeout,
            credentials=credentials,
        ) as events:
            return tuple([event async for event in events])

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
        """Every event in commit order from ``commit_position`` (forwards inclusive,
        backwards exclusive), filtered by the server on event type (or stream name)."""
        request = requests_codec.read_all_request(
            position=commit_position,
            backwards=backwards,
            regex=requests_codec.filter_regex(filter_include, filter_exclude),
            by_stream_name=filter_by_stream_name,
            limit=limit,
            resolve_links=resolve_links,
        )
        return await self._read(request, None, timeout, credentials)

    async def _read(
        self,
        payload: bytes,
        stream_name: str | None,
        timeout: float | None,
        credentials: CallCredentials | None,
    ) -> AsyncReadResponse:
        metadata = self._read_metadata(credentials)
        deadline = self._deadline(timeout)  # a read, unlike a subscription, has one
        call, reopen = await self._open_server_stream(paths.READ, payload, metadata, deadline)
        return responses.AsyncReadResponse(
            call, stream_name, closed=lambda: self._closed, reopen=reopen
        )

    async def get_current_version(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int | StreamState:
        """The stream's last revision, or ``StreamState.NO_STREAM``."""
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
        """The commit position of the newest event the filters let through; 0 if none."""
        async with await self.read_all(
            backwards=True,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            filter_by_stream_name=filter_by_stream_name,
            limit=1,
            timeout=timeout,
            credentials=credentials,
        ) as events:
            async for event in events:
                return int(event.commit_position or 0)
        return 0

    async def get_stream_metadata(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> tuple[dict[str, Any], int | StreamState]:
        """The stream's metadata and the version of its metastream (or ``NO_STREAM``)."""
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
        """Write the stream's metadata (a ``$metadata`` event in ``$$<stream>``)."""
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
        async with await self.read_all(
            backwards=True, filter_exclude=(), limit=1, credentials=credentials
        ) as events:
            async for event in events:
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
        """A catch-up subscription to ``$all`` after ``commit_position`` (exclusive), from
        the first event, or (``from_end``) from now on.

        ``auto_resubscribe=True``: if the connection drops, reconnect and resume after the
        last delivered position (no gap, no duplicate).
        """
        regex = requests_codec.filter_regex(filter_include, filter_exclude)
        if from_end and auto_resubscribe and commit_position is None:
            # Pin "the end" to a position now, so a resubscription before the first
            # delivery cannot skip what was written in between.
            commit_position = await self._end_of_all(credentials)
            from_end = False

        def request(position: int | None) -> bytes:
            return requests_codec.subscribe_all_request(
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
            last_position=lambda: self._end_of_all(credentials),
            description="the subscription to $all",
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
        """A catch-up subscription to one stream after ``stream_position`` (exclusive),
        from its first event, or (``from_end``) from now on; ``auto_resubscribe`` as for
        :meth:`subscribe_to_all`."""
        if from_end and auto_resubscribe and stream_position is None:
            version = await self.get_current_version(stream_name, credentials=credentials)
            stream_position = version if isinstance(version, int) else None
            from_end = False

        def request(position: int | None) -> bytes:
            return requests_codec.subscribe_stream_request(
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
            last_position=lambda: self._last_revision(stream_name, credentials),
            description=f"the subscription to stream {stream_name!r}",
        )

    async def _last_revision(
        self, stream_name: str, credentials: CallCredentials | None
    ) -> int | None:
        """The stream's last revision; None if it has none. A soft-deleted stream's events
        are gone, but it goes on after its last revision: that is unknown, so assume it far
        ahead (as its ``$tb`` says), as when its metastream may not be read."""
        version = await self.get_current_version(stream_name, credentials=credentials)
        if isinstance(version, int):
            return version
        try:
            metadata, _ = await self.get_stream_metadata(stream_name, credentials=credentials)
        except AccessDeniedError:
            return sys.maxsize
        truncate_before = metadata.get("$tb")
        return truncate_before - 1 if isinstance(truncate_before, int) else None

    async def _subscribe(
        self,
        request: Callable[[int | None], bytes],
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        timeout: float | None,
        credentials: CallCredentials | None,
        auto_resubscribe: bool,
        last_position: Callable[[], Awaitable[int | None]],
        description: str,
    ) -> AsyncCatchupSubscription:
        metadata = self._read_metadata(credentials)

        async def start(position: int | None) -> tuple[AsyncCall, str]:
            payload = request(position)
            return await self._run(
                lambda channel: responses.open_subscription_call(
                    channel, payload, metadata, timeout
                )
            )

        call, subscription_id = await start(None)
        return responses.AsyncCatchupSubscription(
            start,
            call,
            subscription_id,
            all_positions=all_positions,
            include_checkpoints=include_checkpoints,
            include_caught_up=include_caught_up,
            auto_resubscribe=auto_resubscribe,
            last_position=last_position,
            closed=lambda: self._closed,
            description=description,
        )


AsyncKurrentDBClient = AsyncEventStoreDBClient
