"""KurrentDB's newest streams features on the asyncio client, with kurrentdbclient 1.3.5's
names: atomic appends to many streams over the v2 Streams API
(``kurrentdb.protocol.v2.streams.StreamsService``: ``AppendSession``, ``AppendRecords``)
and secondary index reads and subscriptions (``$idx-`` prefix filters on ``$all``).

Each needs a server that offers it (KurrentDB 25.1+; ``AppendRecords`` 26.1+): the client
asks ServerFeatures once per connection and raises
:class:`~esdb_wire.exceptions.FeatureNotSupportedError` without calling a server that
does not list it. Failures come as the typed exceptions of the v2 API's rich error
details (see :func:`esdb_wire.codec.v2_errors.rich_exception`).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Optional, TypeVar

from esdb_wire.client import paths
from esdb_wire.client.aio_base import AsyncClientBase
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.exceptions import (
    EventStoreDBClientException,
    FeatureNotSupportedError,
)
from esdb_wire.lazy_import import lazy_module
from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.deadline import Deadline

if TYPE_CHECKING:
    import esdb_wire.client.aio_responses as responses
    from esdb_wire.client.aio_responses import AsyncCatchupSubscription, AsyncReadResponse
    from esdb_wire.codec import responses as responses_codec
    from esdb_wire.codec import v2 as v2_codec
    from esdb_wire.records import AppendRecordsResult, NewEvents, NewRecord, StreamStateCheck
else:
    responses = lazy_module("esdb_wire.client.aio_responses")
    responses_codec = lazy_module("esdb_wire.codec.responses")
    v2_codec = lazy_module("esdb_wire.codec.v2")

_T = TypeVar("_T")
_Feature = tuple[Optional[str], str]
# What each feature needs from ServerFeatures' v2 Streams methods (in lower case, as it
# lists them; None: any of them), and how to name it in the error.
_APPEND_SESSION: _Feature = (
    "appendsession",
    "the v2 Streams API's AppendSession (KurrentDB 25.1+)",
)
_APPEND_RECORDS: _Feature = (
    "appendrecords",
    "the v2 Streams API's AppendRecords (KurrentDB 26.1+)",
)
_INDEXES: _Feature = (None, "secondary indexes (KurrentDB 25.1+, which lists the v2 Streams API)")


class AsyncV2StreamsMixin(AsyncClientBase):
    """Multi-stream appends and secondary indexes (KurrentDB 25.1+), kurrentdbclient's API."""

    # The v2 Streams methods the server lists (lower case), and the channel they were
    # asked on: a new connection (another node, perhaps) is asked again.
    _v2_features: tuple[AsyncChannel, frozenset[str]] | None = None

    # -- multi-stream appends ----------------------------------------------------------

    async def multi_append_to_stream(
        self,
        /,
        events: NewEvents | Iterable[NewEvents],
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> int:
        """Append to one or many streams atomically (``AppendSession``): each
        :class:`~esdb_wire.records.NewEvents` names a stream, its events and the stream's
        expected ``current_version``; all are written, or none. Return the commit position
        of the last event written.

        A stream not at its expected version raises ``WrongCurrentVersion`` (with
        ``stream_name``, ``expected_version`` and ``actual_version``); a tombstoned stream
        ``StreamTombstonedError``; a stream named twice ``MultiAppendToSameStreamError``;
        too much data ``TransactionMaxSizeExceededError`` or ``RecordMaxSizeExceededError``.
        An event's metadata must be empty or a JSON object (its members become the
        record's properties), else ``ProgrammingError`` before anything is sent.
        """
        requests = v2_codec.append_requests(events)
        data = await self._v2_append(
            _APPEND_SESSION, paths.APPEND_SESSION, requests, timeout, credentials
        )
        return v2_codec.append_session_result(data).commit_position

    async def append_records(
        self,
        /,
        records: NewRecord | Iterable[NewRecord],
        checks: StreamStateCheck | Iterable[StreamStateCheck] | None = None,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AppendRecordsResult:
        """Append records to any streams, in order, atomically (``AppendRecords``), if
        every consistency check holds: a :class:`~esdb_wire.records.StreamStateCheck`
        expects a stream (written to or not) at a revision or in a state. Return the
        commit position of the last record and each written stream's new revision.

        Failed checks raise ``ConsistencyChecksFailedError`` listing each one (a written
        stream that is tombstoned fails an implicit check); nothing is written then. Too
        much data raises ``TransactionMaxSizeExceededError`` or
        ``RecordMaxSizeExceededError``.
        """
        request = v2_codec.append_records_request(records, checks)
        data = await self._v2_append(
            _APPEND_RECORDS, paths.APPEND_RECORDS, [request], timeout, credentials
        )
        return v2_codec.append_records_result(data)

    async def _v2_append(
        self,
        feature: _Feature,
        path: str,
        requests: list[bytes],
        timeout: float | None,
        credentials: CallCredentials | None,
    ) -> bytes:
        """The one response of an append at ``path`` (the encoded ``requests``: a unary
        call's one, or a client-streaming call's), once the server is known to offer
        ``feature``."""
        metadata = self._metadata(credentials, requires_leader=True)
        deadline = self._deadline(timeout)
        await self._v2_ready(feature, deadline)
        return await self._v2_run(
            feature,
            lambda channel: channel.stream_unary(
                path, requests, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )

    # -- secondary indexes -------------------------------------------------------------

    async def read_index(
        self,
        index_name: str,
        *,
        commit_position: int | None = None,
        limit: int = sys.maxsize,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncReadResponse:
        """The events of a secondary index in commit order, from ``commit_position``
        (inclusive), as a lazy async iterator. ``index_name`` is ``ce-<category>``
        (events of the streams ``<category>-...``), ``et-<event type>`` or ``all`` (user
        events), with or without its ``$idx-`` prefix. An unknown index raises
        ``NotFound`` when iterated."""
        payload = v2_codec.read_index_request(index_name, position=commit_position, limit=limit)
        metadata = self._read_metadata(credentials)
        deadline = self._deadline(timeout)  # a read, unlike a subscription, has one
        await self._v2_ready(_INDEXES, deadline)
        call = await self._v2_run(
            _INDEXES,
            lambda channel: channel.unary_stream(
                paths.READ, payload, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )
        return responses.AsyncReadResponse(call, None)

    async def subscribe_to_index(
        self,
        index_name: str,
        *,
        commit_position: int | None = None,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncCatchupSubscription:
        """A catch-up subscription to a secondary index (names as for
        :meth:`read_index`) after ``commit_position`` (exclusive), or from its first
        event: recorded events, then live ones. ``stop()`` (or ``async with``) ends it."""
        metadata = self._read_metadata(credentials)
        deadline = Deadline.after(timeout)  # the subscription's, when it has one
        await self._v2_ready(_INDEXES, deadline)

        async def start(position: int | None) -> tuple[AsyncCall, str]:
            payload = v2_codec.subscribe_index_request(
                index_name, position=position if position is not None else commit_position
            )
            return await self._v2_run(
                _INDEXES,
                lambda channel: responses.open_subscription_call(
                    channel, payload, metadata, deadline.remaining()
                ),
                deadline,
            )

        call, subscription_id = await start(None)
        return responses.AsyncCatchupSubscription(
            start,
            call,
            subscription_id,
            all_positions=True,
            include_checkpoints=False,
            include_caught_up=False,
            auto_resubscribe=False,
        )

    # -- feature detection -------------------------------------------------------------

    async def _v2_ready(self, feature: _Feature, deadline: Deadline) -> None:
        """Raise ``FeatureNotSupportedError`` unless the server lists ``feature``."""
        methods = await self._v2_streams_methods(deadline)
        method, _ = feature
        if not methods or (method is not None and method not in methods):
            raise self._unsupported(feature)

    async def _v2_streams_methods(self, deadline: Deadline) -> frozenset[str]:
        """The v2 Streams methods the server's ServerFeatures list (empty for a server
        without that service, or without ServerFeatures); asked once per connection, in
        the time the operation's ``deadline`` leaves (at most GossipTimeout)."""
        cached = self._v2_features
        if cached is not None and cached[0] is self._channel:
            return cached[1]
        gossip_timeout = self.settings.gossip_timeout
        asked: list[AsyncChannel] = []

        async def probe(channel: AsyncChannel) -> bytes:
            asked.append(channel)
            return await channel.unary_unary(
                paths.SUPPORTED_METHODS,
                responses_codec.FEATURES_REQUEST,
                timeout=deadline.cap(gossip_timeout),
            )

        try:
            methods = frozenset(v2_codec.v2_methods(await self._run(probe, deadline)))
        except EventStoreDBClientException as error:
            if not responses_codec.is_unimplemented(error):
                raise
            methods = frozenset()
        self._v2_features = (asked[-1], methods)
        return methods

    async def _v2_run(
        self,
        feature: _Feature,
        operation: Callable[[AsyncChannel], Awaitable[_T]],
        deadline: Deadline,
    ) -> _T:
        """:meth:`_run`, with UNIMPLEMENTED (a server that listed the feature but lacks
        it after all) as ``FeatureNotSupportedError``."""
        try:
            return await self._run(operation, deadline)
        except EventStoreDBClientException as error:
            if responses_codec.is_unimplemented(error):
                self._v2_features = None
                raise self._unsupported(feature) from error
            raise

    def _unsupported(self, feature: _Feature) -> FeatureNotSupportedError:
        _, description = feature
        return FeatureNotSupportedError(
            f"the server at {self.connection_target} does not offer {description}"
        )
