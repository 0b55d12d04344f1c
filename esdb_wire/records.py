"""The objects of KurrentDB's v2 Streams API (25.1+), with kurrentdbclient 1.3.5's names.

:class:`NewEvents` is one stream's share of a multi-stream append (``AppendSession``);
:class:`NewRecord` is one record of ``AppendRecords``, which also takes
:class:`StreamStateCheck` consistency checks. The results are :class:`AppendSessionResult`
and :class:`AppendRecordsResult`. :class:`SubscriptionStatus` carries what a
subscription's caught-up and fell-behind messages say since 25.1.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Union
from uuid import UUID, uuid4

from esdb_wire.events import NewEvent
from esdb_wire.streams import StreamState

# Expected states a consistency check may name besides a revision and StreamState's
# NO_STREAM / EXISTS (the v2 API's constants; ANY is not allowed in a check).
STREAM_DELETED: Final = -5
STREAM_TOMBSTONED: Final = -6

ExpectedState = Union[int, StreamState]


@dataclass(frozen=True)
class NewEvents:
    """New events for one stream, with the stream's expected current version (a
    revision, or :class:`~esdb_wire.streams.StreamState`)."""

    stream_name: str
    events: Sequence[NewEvent]
    current_version: ExpectedState


@dataclass(frozen=True, eq=False)
class NewRecord:
    """A record to append with ``AppendRecords``: a new event and its stream.

    ``metadata`` is empty or a JSON object; its members become the record's properties.
    Two records are equal when their ids are.
    """

    stream_name: str
    type: str
    data: bytes
    metadata: bytes = b""
    content_type: str = "application/json"
    id: UUID = field(default_factory=uuid4)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NewRecord):
            return self.id == other.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True)
class StreamStateCheck:
    """A consistency check: ``stream_name`` is at revision ``expected_state`` (>= 0), or
    in a state: ``StreamState.NO_STREAM``, ``StreamState.EXISTS``, :data:`STREAM_DELETED`
    or :data:`STREAM_TOMBSTONED`. The stream need not be one the request writes to."""

    stream_name: str
    expected_state: ExpectedState


ConsistencyCheck = StreamStateCheck
"""kurrentdbclient's name for any consistency check (stream state checks are the only kind)."""


@dataclass(frozen=True)
class StreamPositionResult:
    """A stream's revision after an append (that of its last new record)."""

    stream_name: str
    stream_position: int


@dataclass(frozen=True)
class AppendRecordsResult:
    """The outcome of ``AppendRecords``: the commit position of the last record written
    and each written stream's new revision (in no particular order)."""

    commit_position: int
    stream_positions: tuple[StreamPositionResult, ...]


@dataclass(frozen=True)
class AppendSessionResult:
    """The outcome of ``AppendSession``: the commit position of the last record written
    and each stream's new revision, in request order."""

    commit_position: int
    stream_positions: tuple[StreamPositionResult, ...]


@dataclass(frozen=True)
class SubscriptionStatus:
    """A subscription's ``caught_up`` or ``fell_behind`` message (``kind``).

    Since 25.1 it says when (server time) and where: ``stream_revision`` for a stream
    subscription (None before any event), ``commit_position`` / ``prepare_position`` for
    ``$all`` (None before anything was read). Older servers send none of these.
    """

    kind: str
    timestamp: datetime.datetime | None = None
    stream_revision: int | None = None
    commit_position: int | None = None
    prepare_position: int | None = None
