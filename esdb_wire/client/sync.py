"""The blocking clients: ``EventStoreDBClient`` (the esdbclient 1.x API) and ``EsdbClient``
(the esdbclient 0.5 API, on top of it). One multiplexed connection, no thread of their own."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from esdb_wire.client import paths
from esdb_wire.client.blocking_base import single_response
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.client.sync_persistent import PersistentSubscriptionsMixin
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
from esdb_wire.transport.blocking import BlockingCall, Channel
from esdb_wire.transport.status import GrpcError as TransportError
from esdb_wire.transport.status import StatusCode

_parse_read = streams_pb2.ReadResp.FromString
_EMPTY = shared_pb2.Empty().SerializeToString()
Metadata = list[tuple[str, str]]
_Client = TypeVar("_Client", bound="EventStoreDBClient")


class EventStoreDBClient(PersistentSubscriptionsMixin):
    """An EventStoreDB / KurrentDB client with the esdbclient 1.x API (see
    :class:`~esdb_wire.client.blocking_base.BlockingClientBase` for ``uri`` and TLS options)."""

    # -- writing -----------------------------------------------------------------------

    def append_to_stream(
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
            if self._supports_batch_append(deadline):
                if deadline is not None:  # the feature probe used some of the time
                    deadline = max(0.001, deadline - (time.monotonic() - started))
                return self._batch_append_call(
                    stream_name, current_version, batch, deadline, metadata
                )
        return self._append_call(stream_name, current_version, batch, deadline, metadata)

    def append_event(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        event: NewEvent,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        """Append one event; return its commit position."""
        return self.append_to_stream(
            stream_name,
            current_version=current_version,
            events=event,
            timeout=timeout,
            credentials=credentials,
        )

    def append_events(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        events: Iterable[NewEvent],
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        """Alias of :meth:`append_to_stream` (esdbclient 1.x)."""
        return self.append_to_stream(
            stream_name,
            current_version=current_version,
            events=events,
            timeout=timeout,
            credentials=credentials,
        )

    def _append_call(
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
        data = self._run(
            lambda channel: channel.stream_unary(
                paths.APPEND, requests, metadata=metadata, timeout=timeout
            )
        )
        return append_position(streams_pb2.AppendResp.FromString(data), stream_name, expected)

    def _batch_append_call(
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
        data = self._run(
            lambda channel: single_response(
                channel.stream_stream(
                    paths.BATCH_APPEND,
                    [request.SerializeToString()],
                    metadata=metadata,
                    timeout=timeout,
                    end=True,
                )
            )
        )
        response = streams_pb2.BatchAppendResp.FromString(data)
        return batch_append_position(response, stream_name, expected)

    def _supports_batch_append(self, deadline: float | None) -> bool:
        """Whether the server offers BatchAppend (asked once per connection; a server
        without ServerFeatures offers nothing; any other failure is asked again later)."""
        if self._batch_append is not None:
            return self._batch_append
        gossip_timeout = self.settings.gossip_timeout
        timeout = gossip_timeout if deadline is None else min(deadline, gossip_timeout)
        try:
            data = self._run(
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

    def delete_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Soft-delete a stream (it can be written again, numbering continues)."""
        self._delete(stream_name, current_version, timeout, credentials, tombstone=False)

    def tombstone_stream(
        self,
        stream_name: str,
        *,
        current_version: int | StreamState,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Hard-delete a stream, for good."""
        self._delete(stream_name, current_version, timeout, credentials, tombstone=True)

    def _delete(
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
        data = self._run(
            lambda channel: channel.unary_unary(
                path, request.SerializeToString(), metadata=metadata, timeout=deadline
            )
        )
        kind = streams_pb2.TombstoneResp if tombstone else streams_pb2.DeleteResp
        return delete_position(kind.FromString(data))

    # -- reading -----------------------------------------------------------------------

    def read_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        resolve_links: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> ReadResponse:
        """The events of a stream, from ``stream_position`` (inclusive); raises
        ``NotFound`` on first iteration if the stream does not exist."""
        request = read_stream_request(
            stream_name,
            position=stream_position,
            backwards=backwards,
            limit=limit,
            resolve_links=resolve_links,
        )
        return self._read(request, stream_name, timeout, credentials)

    def get_stream(
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
        with self.read_stream(
            stream_name,
            stream_position=stream_position,
            backwards=backwards,
            resolve_links=resolve_links,
            limit=limit,
            timeout=timeout,
            credentials=credentials,
        ) as events:
            return tuple(events)

    def read_all(
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
    ) -> ReadResponse:
        """Every event in commit order from ``commit_position`` (forwards inclusive,
        backwards exclusive), filtered by the server on event type (or stream name)."""
        request = read_all_request(
            position=commit_position,
            backwards=backwards,
            regex=filter_regex(filter_include, filter_exclude),
            by_stream_name=filter_by_stream_name,
            limit=limit,
            resolve_links=resolve_links,
        )
        return self._read(request, None, timeout, credentials)

    def _read(
        self,
        request: streams_pb2.ReadReq,
        stream_name: str | None,
        timeout: float | None,
        credentials: CallCredentials | None,
    ) -> ReadResponse:
        payload = request.SerializeToString()
        metadata = self._read_metadata(credentials)
        call = self._run(
            lambda channel: channel.unary_stream(
                paths.READ, payload, metadata=metadata, timeout=timeout
            )
        )
        return ReadResponse(call, stream_name)

    def get_current_version(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int | StreamState:
        """The stream's last revision, or ``StreamState.NO_STREAM``."""
        try:
            events = self.get_stream(
                stream_name, backwards=True, limit=1, timeout=timeout, credentials=credentials
            )
        except NotFound:
            return StreamState.NO_STREAM
        return events[0].stream_position if events else StreamState.NO_STREAM

    def get_commit_position(
        self,
        *,
        filter_exclude: Sequence[str] = DEFAULT_EXCLUDE_FILTER,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        """The commit position of the newest event the filters let through; 0 if none."""
        with self.read_all(
            backwards=True,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            filter_by_stream_name=filter_by_stream_name,
            limit=1,
            timeout=timeout,
            credentials=credentials,
        ) as events:
            for event in events:
                return int(event.commit_position or 0)
        return 0

    def get_stream_metadata(
        self,
        stream_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> tuple[dict[str, Any], int | StreamState]:
        """The stream's metadata and the version of its metastream (or ``NO_STREAM``)."""
        try:
            events = self.get_stream(
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

    def set_stream_metadata(
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
        self.append_event(
            "$$" + stream_name,
            current_version=current_version,
            event=event,
            timeout=timeout,
            credentials=credentials,
        )

    def _end_of_all(self, credentials: CallCredentials | None) -> int | None:
        """The commit position of the newest record in $all (system records included)."""
        response = self.read_all(
            backwards=True, filter_exclude=(), limit=1, credentials=credentials
        )
        with response:
            for event in response:
                return event.commit_position
        return None

    # -- subscriptions -----------------------------------------------------------------

    def subscribe_to_all(
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
    ) -> CatchupSubscription:
        """A catch-up subscription to ``$all`` after ``commit_position`` (exclusive).

        ``auto_resubscribe=True``: if the connection drops, reconnect and resume after the
        last delivered position (no gap, no duplicate).
        """
        regex = filter_regex(filter_include, filter_exclude)
        if from_end and auto_resubscribe and commit_position is None:
            # Pin "the end" to a position now, so a resubscription before the first
            # delivery cannot skip what was written in between.
            commit_position = self._end_of_all(credentials)
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

        return self._subscribe(
            request,
            all_positions=True,
            include_checkpoints=include_checkpoints,
            include_caught_up=include_caught_up,
            timeout=timeout,
            credentials=credentials,
            auto_resubscribe=auto_resubscribe,
        )

    def subscribe_to_stream(
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
    ) -> CatchupSubscription:
        """A catch-up subscription to one stream after ``stream_position`` (exclusive)."""

        if from_end and auto_resubscribe and stream_position is None:
            version = self.get_current_version(stream_name, credentials=credentials)
            stream_position = version if isinstance(version, int) else None
            from_end = False

        def request(position: int | None) -> streams_pb2.ReadReq:
            return subscribe_stream_request(
                stream_name,
                position=position if position is not None else stream_position,
                from_end=from_end and position is None,
                resolve_links=resolve_links,
            )

        return self._subscribe(
            request,
            all_positions=False,
            include_checkpoints=False,
            include_caught_up=include_caught_up,
            timeout=timeout,
            credentials=credentials,
            auto_resubscribe=auto_resubscribe,
        )

    def _subscribe(
        self,
        request: Callable[[int | None], streams_pb2.ReadReq],
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        timeout: float | None,
        credentials: CallCredentials | None,
        auto_resubscribe: bool,
    ) -> CatchupSubscription:
        metadata = self._read_metadata(credentials)

        def start(position: int | None) -> tuple[BlockingCall, str]:
            payload = request(position).SerializeToString()

            def open_and_confirm(channel: Channel) -> tuple[BlockingCall, str]:
                call = channel.unary_stream(paths.READ, payload, metadata=metadata, timeout=timeout)
                first = call.receive()
                if first is None:
                    raise SubscriptionConfirmationError("the subscription ended at once")
                return call, confirmation_id(_parse_read(first))

            return self._run(open_and_confirm)  # type: ignore[no-any-return]

        return CatchupSubscription(
            start,
            all_positions=all_positions,
            include_checkpoints=include_checkpoints,
            include_caught_up=include_caught_up,
            auto_resubscribe=auto_resubscribe,
        )


KurrentDBClient = EventStoreDBClient


class ReadResponse:
    """The events of one read, as an iterator; ``stop()`` (or ``with``) ends it early."""

    def __init__(self, call: BlockingCall, stream_name: str | None) -> None:
        self._call = call
        self._stream_name = stream_name
        self._stopped = False
        self._pending: deque[bytes] = deque()

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self

    def __next__(self) -> RecordedEvent:
        pending = self._pending
        while True:
            if self._stopped:
                raise StopIteration
            if not pending:
                try:
                    batch = self._call.receive_many()
                except TransportError as error:
                    if ended_locally(error):
                        self._stopped = True
                        raise StopIteration from None
                    raise map_error(error) from error
                if not batch:
                    raise StopIteration
                pending.extend(batch)
            item = read_item(_parse_read(pending.popleft()), self._stream_name)
            if item is not None:
                return item

    def stop(self) -> None:
        """End the read; iteration stops."""
        self._stopped = True
        self._call.cancel()

    def __enter__(self) -> ReadResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class CatchupSubscription:
    """Recorded events, then live ones, as an iterator (also ``Checkpoint`` and
    ``CaughtUp`` items when asked for). ``stop()`` or ``with`` ends it."""

    def __init__(
        self,
        start: Callable[[int | None], tuple[BlockingCall, str]],
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
        self._call, self.subscription_id = start(None)

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self

    def __next__(self) -> RecordedEvent:
        while True:
            if self._stopped:
                raise StopIteration
            pending = self._pending
            if not pending:
                try:
                    batch = self._call.receive_many()
                except TransportError as error:
                    if self._resubscribe_after(error):
                        continue
                    if ended_locally(error):
                        self._stopped = True
                        raise StopIteration from None
                    raise map_error(error) from error
                if not batch:
                    raise StopIteration
                pending.extend(batch)
            response = _parse_read(pending.popleft())
            item = read_item(
                response,
                include_checkpoints=True,
                include_caught_up=self._include_caught_up,
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

    def _resubscribe_after(self, error: TransportError) -> bool:
        if not self._auto_resubscribe or self._stopped or error.code is not StatusCode.UNAVAILABLE:
            return False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self._call, self.subscription_id = self._start(self._last_position)
                return True
            except ServiceUnavailable:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        """End the subscription (cancels the call)."""
        self._stopped = True
        self._call.cancel()

    close = stop

    def __enter__(self) -> CatchupSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EsdbClient(EventStoreDBClient):
    """The esdbclient 0.5 API: ``EsdbClient(uri="host:port")`` for a plaintext node.

    Every 1.x method is available too. Every method takes ``timeout`` (seconds), a
    deadline for the whole operation.
    """

    def __init__(self, uri: str = "localhost:2113", **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)

    def append_events(  # type: ignore[override]
        self,
        stream_name: str,
        expected_position: int | None,
        events: Iterable[NewEvent],
        timeout: float | None = None,
    ) -> int:
        """Append ``events`` atomically; return the commit position of the last one.

        ``expected_position``: the stream's current position, ``None`` if it must not exist,
        or a negative number to skip the check. A mismatch raises ``ExpectedPositionError``.
        """
        metadata = self._metadata(None, requires_leader=True)
        return self._append_call(stream_name, expected_position, list(events), timeout, metadata)

    def get_stream_position(self, stream_name: str, timeout: float | None = None) -> int | None:
        """The position of the last event of the stream, or None if it does not exist."""
        version = self.get_current_version(stream_name, timeout=timeout)
        return None if isinstance(version, StreamState) else version

    def read_stream_events(
        self,
        stream_name: str,
        position: int | None = None,
        backwards: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> Iterator[RecordedEvent]:
        """The events of a stream, from ``position`` (inclusive) or its start (or end,
        ``backwards``), at most ``limit``. A generator: iterating a stream that does not
        exist raises ``StreamNotFound``."""
        with self.read_stream(
            stream_name,
            stream_position=position,
            backwards=backwards,
            limit=limit,
            timeout=timeout,
        ) as events:
            yield from events  # a missing stream raises StreamNotFound (a NotFound)

    def read_all_events(
        self,
        position: int | None = None,
        backwards: bool = False,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event in commit order from ``position`` (inclusive forwards, exclusive
        backwards), filtered on the server by event type regexes, at most ``limit``."""
        with self.read_all(
            commit_position=position,
            backwards=backwards,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            limit=limit,
            timeout=timeout,
        ) as events:
            yield from events

    def get_commit_position(  # type: ignore[override]
        self, timeout: float | None = None, filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,)
    ) -> int:
        """The commit position of the last event (system events excluded); 0 if none."""
        return super().get_commit_position(timeout=timeout, filter_exclude=filter_exclude)

    def subscribe_all_events(
        self,
        position: int | None = None,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        timeout: float | None = None,
    ) -> CatchupSubscription:
        """A catch-up subscription to every event after ``position`` (exclusive), or from
        the first; iterate it for recorded then live events. Close it (or drop it) to end."""
        return self.subscribe_to_all(
            commit_position=position,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            timeout=timeout,
        )
