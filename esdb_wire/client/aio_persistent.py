"""Persistent subscriptions on the asyncio client (esdbclient 1.x names and defaults)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from esdb_wire.client import paths
from esdb_wire.client.aio_backend import async_wait_ended
from esdb_wire.client.aio_base import AsyncClientBase
from esdb_wire.client.aio_response_stream import AsyncResponseStream
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.events import RecordedEvent
from esdb_wire.exceptions import (
    EventStoreDBClientException,
    NotFound,
    SubscriptionConfirmationError,
    UndecodableResponse,
)
from esdb_wire.filters import (
    DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
    DEFAULT_EXCLUDE_FILTER,
    DEFAULT_WINDOW_SIZE,
)
from esdb_wire.lazy_import import lazy_module
from esdb_wire.persistent_defaults import (
    DEFAULT_CHECKPOINT_AFTER,
    DEFAULT_EVENT_BUFFER_SIZE,
    DEFAULT_HISTORY_BUFFER_SIZE,
    DEFAULT_LIVE_BUFFER_SIZE,
    DEFAULT_MAX_ACK_BATCH_SIZE,
    DEFAULT_MAX_ACK_DELAY,
    DEFAULT_MAX_CHECKPOINT_COUNT,
    DEFAULT_MAX_RETRY_COUNT,
    DEFAULT_MAX_SUBSCRIBER_COUNT,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_MIN_CHECKPOINT_COUNT,
    DEFAULT_READ_BATCH_SIZE,
    DEFAULT_STOPPING_GRACE,
)
from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.status import StatusError

if TYPE_CHECKING:
    from esdb_wire.codec import errors
    from esdb_wire.codec import persistent as codec
    from esdb_wire.codec import requests as requests_codec
    from esdb_wire.persistent import ConsumerStrategy, NackAction, SubscriptionInfo
else:
    errors = lazy_module("esdb_wire.codec.errors")
    codec = lazy_module("esdb_wire.codec.persistent")
    requests_codec = lazy_module("esdb_wire.codec.requests")


class AsyncPersistentSubscriptionsMixin(AsyncClientBase):
    """Create, read (competing consumers), inspect and manage persistent subscriptions."""

    async def create_subscription_to_all(
        self,
        group_name: str,
        *,
        from_end: bool = False,
        commit_position: int | None = None,
        resolve_links: bool = False,
        filter_exclude: Sequence[str] = DEFAULT_EXCLUDE_FILTER,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        window_size: int = DEFAULT_WINDOW_SIZE,
        checkpoint_interval_multiplier: int = DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
        consumer_strategy: ConsumerStrategy = "DispatchToSingle",
        message_timeout: float = DEFAULT_MESSAGE_TIMEOUT,
        max_retry_count: int = DEFAULT_MAX_RETRY_COUNT,
        min_checkpoint_count: int = DEFAULT_MIN_CHECKPOINT_COUNT,
        max_checkpoint_count: int = DEFAULT_MAX_CHECKPOINT_COUNT,
        checkpoint_after: float = DEFAULT_CHECKPOINT_AFTER,
        max_subscriber_count: int = DEFAULT_MAX_SUBSCRIBER_COUNT,
        live_buffer_size: int = DEFAULT_LIVE_BUFFER_SIZE,
        read_batch_size: int = DEFAULT_READ_BATCH_SIZE,
        history_buffer_size: int = DEFAULT_HISTORY_BUFFER_SIZE,
        extra_statistics: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create a persistent subscription group on ``$all`` (server-side filters)."""
        settings = codec.SubscriptionSettings.taken_from(locals())
        request = codec.create_request(
            group_name,
            settings,
            commit_position=commit_position,
            from_end=from_end,
            filter_regex=requests_codec.filter_regex(filter_include, filter_exclude),
            filter_by_stream_name=filter_by_stream_name,
            window_size=window_size,
            checkpoint_interval_multiplier=checkpoint_interval_multiplier,
        )
        await self._unary_call(paths.PS_CREATE, request, timeout, credentials)

    async def create_subscription_to_stream(
        self,
        group_name: str,
        stream_name: str,
        *,
        from_end: bool = False,
        stream_position: int | None = None,
        resolve_links: bool = False,
        consumer_strategy: ConsumerStrategy = "DispatchToSingle",
        message_timeout: float = DEFAULT_MESSAGE_TIMEOUT,
        max_retry_count: int = DEFAULT_MAX_RETRY_COUNT,
        min_checkpoint_count: int = DEFAULT_MIN_CHECKPOINT_COUNT,
        max_checkpoint_count: int = DEFAULT_MAX_CHECKPOINT_COUNT,
        checkpoint_after: float = DEFAULT_CHECKPOINT_AFTER,
        max_subscriber_count: int = DEFAULT_MAX_SUBSCRIBER_COUNT,
        live_buffer_size: int = DEFAULT_LIVE_BUFFER_SIZE,
        read_batch_size: int = DEFAULT_READ_BATCH_SIZE,
        history_buffer_size: int = DEFAULT_HISTORY_BUFFER_SIZE,
        extra_statistics: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create a persistent subscription group on one stream."""
        settings = codec.SubscriptionSettings.taken_from(locals())
        request = codec.create_request(
            group_name,
            settings,
            stream_name=stream_name,
            stream_position=stream_position,
            from_end=from_end,
        )
        await self._unary_call(paths.PS_CREATE, request, timeout, credentials)

    async def update_subscription_to_all(
        self,
        group_name: str,
        *,
        from_end: bool | None = None,
        commit_position: int | None = None,
        resolve_links: bool | None = None,
        consumer_strategy: ConsumerStrategy | None = None,
        message_timeout: float | None = None,
        max_retry_count: int | None = None,
        min_checkpoint_count: int | None = None,
        max_checkpoint_count: int | None = None,
        checkpoint_after: float | None = None,
        max_subscriber_count: int | None = None,
        live_buffer_size: int | None = None,
        read_batch_size: int | None = None,
        history_buffer_size: int | None = None,
        extra_statistics: bool | None = None,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Change a ``$all`` group: the settings given (not None) replace the group's
        current ones, the others stay. Without ``from_end`` or ``commit_position`` the
        group keeps its start. Connected consumers are dropped."""
        changes = {
            name: value
            for name, value in locals().items()
            if name in codec.SubscriptionSettings._fields
        }
        await self._update(
            group_name, None, from_end, commit_position, timeout, credentials, changes
        )

    async def update_subscription_to_stream(
        self,
        group_name: str,
        stream_name: str,
        *,
        from_end: bool | None = None,
        stream_position: int | None = None,
        resolve_links: bool | None = None,
        consumer_strategy: ConsumerStrategy | None = None,
        message_timeout: float | None = None,
        max_retry_count: int | None = None,
        min_checkpoint_count: int | None = None,
        max_checkpoint_count: int | None = None,
        checkpoint_after: float | None = None,
        max_subscriber_count: int | None = None,
        live_buffer_size: int | None = None,
        read_batch_size: int | None = None,
        history_buffer_size: int | None = None,
        extra_statistics: bool | None = None,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Change a stream group, as :meth:`update_subscription_to_all` does a ``$all``
        one."""
        changes = {
            name: value
            for name, value in locals().items()
            if name in codec.SubscriptionSettings._fields
        }
        await self._update(
            group_name, stream_name, from_end, stream_position, timeout, credentials, changes
        )

    async def _update(
        self,
        group_name: str,
        stream_name: str | None,
        from_end: bool | None,
        position: int | None,
        timeout: float | None,
        credentials: CallCredentials | None,
        changes: dict[str, Any],
    ) -> None:
        current = await self.get_subscription_info(
            group_name, stream_name, timeout=timeout, credentials=credentials
        )
        settings = codec.merged_settings(current, changes)
        if from_end is None and position is None:
            from_end = current.start_from in ("-1", "C:-1/P:-1")
            position = codec.start_position(current.start_from)
        request = codec.update_request(
            group_name,
            settings,
            stream_name=stream_name,
            stream_position=position if stream_name is not None else None,
            commit_position=position if stream_name is None else None,
            from_end=bool(from_end),
        )
        await self._unary_call(paths.PS_UPDATE, request, timeout, credentials)

    async def delete_subscription(
        self,
        group_name: str,
        stream_name: str | None = None,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Delete a group (of ``stream_name``, or of ``$all``); consumers are dropped."""
        request = codec.delete_request(group_name, stream_name)
        await self._unary_call(paths.PS_DELETE, request, timeout, credentials)

    async def get_subscription_info(
        self,
        group_name: str,
        stream_name: str | None = None,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> SubscriptionInfo:
        """Settings and statistics of a group."""
        request = codec.get_info_request(group_name, stream_name)
        data = await self._unary_call(paths.PS_GET_INFO, request, timeout, credentials)
        return codec.subscription_info(data)

    async def list_subscriptions(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> list[SubscriptionInfo]:
        """Every group on the server."""
        request = codec.list_request(None, all_groups=True)
        data = await self._unary_call(paths.PS_LIST, request, timeout, credentials)
        return codec.subscription_infos(data)

    async def list_subscriptions_to_stream(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> list[SubscriptionInfo]:
        """The groups of one stream (an empty list if it never had any)."""
        request = codec.list_request(stream_name, all_groups=False)
        try:
            data = await self._unary_call(paths.PS_LIST, request, timeout, credentials)
        except NotFound:
            return []
        return codec.subscription_infos(data)

    async def replay_parked_events(
        self,
        group_name: str,
        stream_name: str | None = None,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Redeliver the group's parked events."""
        request = codec.replay_parked_request(group_name, stream_name)
        await self._unary_call(paths.PS_REPLAY_PARKED, request, timeout, credentials)

    async def read_subscription_to_all(
        self,
        group_name: str,
        *,
        event_buffer_size: int = DEFAULT_EVENT_BUFFER_SIZE,
        max_ack_batch_size: int = DEFAULT_MAX_ACK_BATCH_SIZE,
        max_ack_delay: float = DEFAULT_MAX_ACK_DELAY,
        stopping_grace: float = DEFAULT_STOPPING_GRACE,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncPersistentSubscription:
        """Join a ``$all`` group as a consumer."""
        return await self._read_subscription(
            group_name,
            None,
            event_buffer_size,
            max_ack_batch_size,
            max_ack_delay,
            stopping_grace,
            timeout,
            credentials,
        )

    async def read_subscription_to_stream(
        self,
        group_name: str,
        stream_name: str,
        *,
        event_buffer_size: int = DEFAULT_EVENT_BUFFER_SIZE,
        max_ack_batch_size: int = DEFAULT_MAX_ACK_BATCH_SIZE,
        max_ack_delay: float = DEFAULT_MAX_ACK_DELAY,
        stopping_grace: float = DEFAULT_STOPPING_GRACE,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncPersistentSubscription:
        """Join a stream group as a consumer."""
        return await self._read_subscription(
            group_name,
            stream_name,
            event_buffer_size,
            max_ack_batch_size,
            max_ack_delay,
            stopping_grace,
            timeout,
            credentials,
        )

    async def _read_subscription(
        self,
        group_name: str,
        stream_name: str | None,
        buffer_size: int,
        max_ack_batch_size: int,
        max_ack_delay: float,
        stopping_grace: float,
        timeout: float | None,
        credentials: CallCredentials | None,
    ) -> AsyncPersistentSubscription:
        options = codec.read_options_request(group_name, stream_name, buffer_size)
        metadata = self._metadata(credentials, requires_leader=True)

        async def open_and_confirm(channel: AsyncChannel) -> tuple[AsyncCall, str]:
            call = await channel.stream_stream(
                paths.PS_READ, [options], metadata=metadata, timeout=timeout
            )
            try:
                first = await call.receive()
                subscription_id = codec.confirmation(first) if first is not None else None
                if subscription_id is None:
                    raise SubscriptionConfirmationError("no subscription confirmation")
            except EventStoreDBClientException:
                call.cancel()
                raise
            return call, subscription_id

        call, subscription_id = await self._run(open_and_confirm)
        return AsyncPersistentSubscription(
            call,
            subscription_id,
            codec.AckBatcher(subscription_id, max_ack_batch_size, max_ack_delay),
            stopping_grace,
            closed=lambda: self._closed,
        )


class AsyncPersistentSubscription(AsyncResponseStream[RecordedEvent]):
    """A consumer of a persistent subscription group: iterate it for events, then ``ack``
    or ``nack`` each (by ``event.ack_id``). Acks are sent in batches, at the latest when
    the iterator goes back to waiting; ``stop()`` (or the end of an ``async with`` block)
    sends what is left and leaves the group.

    Iteration ends when the consumer is stopped or its client closed (``closed`` tells),
    a read waiting then included; any other end raises (the server ending the call, OK or
    cancelled, is :class:`~esdb_wire.exceptions.ServiceUnavailable`)."""

    def __init__(
        self,
        call: AsyncCall,
        subscription_id: str,
        acks: codec.AckBatcher,
        stopping_grace: float,
        *,
        closed: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(call, closed=closed)
        self.subscription_id = subscription_id
        self._acks = acks
        self._stopping_grace = stopping_grace

    async def __anext__(self) -> RecordedEvent:
        call = self._call
        while True:
            if self._ended_locally():
                raise StopAsyncIteration
            try:
                if not call.readable:
                    await self._flush()  # about to wait: let the server have our acks first
                data = await call.receive()
            except (StatusError, EventStoreDBClientException) as error:
                if self._ended_locally():
                    raise StopAsyncIteration from None
                if isinstance(error, StatusError):
                    raise errors.ended_remotely(error) from error
                raise
            if self._ended_locally():  # stopped while it waited: what came is not taken
                raise StopAsyncIteration
            if data is None:
                raise errors.ended_remotely(None)
            try:
                event = codec.delivered_event(data)
            except UndecodableResponse:
                self._abandon()  # its call sends what cannot be read
                raise
            if event is not None:
                return event

    async def ack(self, item: RecordedEvent | UUID) -> None:
        """Acknowledge a delivered event (or its ``ack_id``): the group is done with it."""
        await self._send(self._acks.add(codec.ack_id(item), "ack"))

    async def nack(
        self, item: RecordedEvent | UUID, action: NackAction = "unknown", reason: str = ""
    ) -> None:
        """Negatively acknowledge a delivered event: ``action`` is ``"retry"``,
        ``"park"``, ``"skip"``, ``"stop"`` or ``"unknown"`` (the group's choice)."""
        await self._send(self._acks.add(codec.ack_id(item), action, reason))

    async def _send(self, requests: list[bytes]) -> None:
        for request in requests:
            try:
                await self._call.send(request)
            except StatusError as error:
                if self._ended_locally():
                    raise errors.map_error(error) from error
                raise errors.ended_remotely(error) from error

    async def _flush(self) -> None:
        await self._send(self._acks.flush())

    async def stop(self) -> None:
        """Send pending acks, end the request stream, and leave the group: the server
        has ``stopping_grace`` seconds to end the call, then it is cancelled. A read
        waiting meanwhile ends (``StopAsyncIteration``)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._call.code is None:
                await self._flush()
                await self._call.done_writing()
                await async_wait_ended(self._call, max(self._stopping_grace, 0.0))
        except (StatusError, EventStoreDBClientException):
            pass
        finally:
            self._call.cancel()
