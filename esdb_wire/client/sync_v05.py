# Generated from esdb_wire/client/aio_v05.py by scripts/unasync.py; do not edit.
"""``EsdbClient``: the esdbclient 0.5 API on the blocking driver, on top of the 1.x client."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from esdb_wire.client.sync_client import EventStoreDBClient
from esdb_wire.events import NewEvent, RecordedEvent
from esdb_wire.filters import ESDB_EVENTS_REGEX
from esdb_wire.streams import StreamState

if TYPE_CHECKING:
    from esdb_wire.client.sync_responses import CatchupSubscription


class EsdbClient(EventStoreDBClient):
    """The esdbclient 0.5 API on the blocking driver: ``EsdbClient(uri="host:port")`` for a
    plaintext node.

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
        return self._append_call(
            stream_name, expected_position, list(events), self._deadline(timeout), metadata
        )

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
            yield from events

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
        the first; iterate it for recorded then live events. Stop it (or drop it) to end."""
        return self.subscribe_to_all(
            commit_position=position,
            filter_exclude=filter_exclude,
            filter_include=filter_include,
            timeout=timeout,
        )
