"""``EsdbClient``: the esdbclient 0.5 API on the blocking driver."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
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
from esdb_wire.transport.blocking import BlockingCall, Channel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import GrpcError as TransportError

_parse_read = streams_pb2.ReadResp.FromString


class EsdbClient:
    """An EventStoreDB client (esdbclient 0.5 API) over one multiplexed connection.

    ``uri`` is ``"host:port"`` of an insecure server. Every method takes ``timeout``
    (seconds), a deadline for the whole operation. Thread-safe; needs no thread of its own.
    """

    def __init__(self, uri: str = "localhost:2113", *, config: ConnectionConfig | None = None):
        target = parse_target(uri)
        self.uri = uri
        self._channel = Channel(target.host, target.port, config=config or ConnectionConfig())

    # -- writing -----------------------------------------------------------------------

    def append_events(
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
        requests = [append_options(stream_name, expected_position).SerializeToString()]
        requests.extend(
            streams_pb2.AppendReq(proposed_message=proposed_message(event)).SerializeToString()
            for event in events
        )
        try:
            data = self._channel.stream_unary(paths.APPEND, requests, timeout=timeout)
        except TransportError as error:
            raise map_error(error) from error
        response = streams_pb2.AppendResp.FromString(data)
        return append_position(response, stream_name, expected_position)

    # -- reading -----------------------------------------------------------------------

    def get_stream_position(self, stream_name: str, timeout: float | None = None) -> int | None:
        """The position of the last event of the stream, or None if it does not exist."""
        try:
            for event in self.read_stream_events(
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
    ) -> Iterator[RecordedEvent]:
        """The events of a stream, from ``position`` (inclusive) or its start (or end,
        ``backwards``), at most ``limit``. A generator: iterating a stream that does not
        exist raises ``StreamNotFound``."""
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
    ) -> Iterator[RecordedEvent]:
        """Every event in commit order from ``position`` (inclusive forwards, exclusive
        backwards), filtered on the server by event type regexes, at most ``limit``."""
        request = read_all_request(
            position=position,
            backwards=backwards,
            regex=filter_regex(filter_include, filter_exclude),
            limit=limit,
        )
        return self._read(request, None, timeout)

    def get_commit_position(
        self, timeout: float | None = None, filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,)
    ) -> int:
        """The commit position of the last event (system events excluded); 0 if none."""
        for event in self.read_all_events(
            backwards=True, filter_exclude=filter_exclude, limit=1, timeout=timeout
        ):
            return int(event.commit_position or 0)
        return 0

    def subscribe_all_events(
        self,
        position: int | None = None,
        filter_exclude: Sequence[str] = (ESDB_EVENTS_REGEX,),
        filter_include: Sequence[str] = (),
        timeout: float | None = None,
    ) -> CatchupSubscription:
        """A catch-up subscription to every event after ``position`` (exclusive), or from
        the first; iterate it for recorded then live events. Close it (or drop it) to end."""
        request = subscribe_all_request(
            position=position, regex=filter_regex(filter_include, filter_exclude)
        )
        try:
            call = self._channel.unary_stream(
                paths.READ, request.SerializeToString(), timeout=timeout
            )
            first = call.receive()
        except TransportError as error:
            raise map_error(error) from error
        if first is None:
            raise SubscriptionConfirmationError("the subscription ended before its confirmation")
        subscription_id = confirmation_id(_parse_read(first))
        return CatchupSubscription(call, subscription_id)

    def _read(
        self, request: streams_pb2.ReadReq, stream_name: str | None, timeout: float | None
    ) -> Iterator[RecordedEvent]:
        # The call starts on the first next(), as a generator does.
        call = None
        try:
            call = self._channel.unary_stream(
                paths.READ, request.SerializeToString(), timeout=timeout
            )
            for data in call:
                item = read_item(_parse_read(data), stream_name)
                if item is not None:
                    yield item
        except TransportError as error:
            raise map_error(error) from error
        finally:
            if call is not None:
                call.cancel()

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Cancel open calls (subscriptions included) and close the connection."""
        self._channel.close()

    def __enter__(self) -> EsdbClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CatchupSubscription:
    """Recorded events of a catch-up subscription, then live ones, as an iterator."""

    def __init__(self, call: BlockingCall, subscription_id: str) -> None:
        self._call = call
        self.subscription_id = subscription_id

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self

    def __next__(self) -> RecordedEvent:
        call = self._call
        while True:
            try:
                data = call.receive()
            except TransportError as error:
                raise map_error(error) from error
            if data is None:
                raise StopIteration
            item = read_item(_parse_read(data))
            if item is not None:
                return item

    def stop(self) -> None:
        """End the subscription (cancels the call)."""
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
