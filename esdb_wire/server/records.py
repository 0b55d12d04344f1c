"""What the embedded server's event store holds and hands out: records, the
expected-revision constants, write results, and the checks every reader of the log shares
(the default ``$all`` filter, which link targets a reader may see).

No protobuf here. Semantics follow the server spec (§3.1-3.10, §3.12).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, Union

if TYPE_CHECKING:
    from esdb_wire.server.store import EventStore

ANY: Final = -2
NO_STREAM: Final = -1
STREAM_EXISTS: Final = -4
# The revision of a tombstone record and the "$tb" that marks a soft-deleted stream.
DELETED_STREAM: Final = 2**63 - 1

TICKS_PER_SECOND: Final = 10_000_000

LINK_EVENT_TYPE: Final = "$>"
METADATA_EVENT_TYPE: Final = "$metadata"
STREAM_DELETED_EVENT_TYPE: Final = "$streamDeleted"
EPOCH_INFORMATION: Final = "$epoch-information"
SETTINGS: Final = "$settings"
METASTREAM_PREFIX: Final = "$$"

_PS_ALL_PREFIX = "$persistentsubscription-$all::"


ReadCheck = Callable[[str], bool]
"""Whether the reader may read a stream (by name): secure mode's check of link targets."""


def system_clock() -> int:
    """Now, in .NET ticks (100 ns) since the Unix epoch."""
    return time.time_ns() // 100


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as .NET counts string length."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def event_size(event_type: str, data: bytes, custom_metadata: bytes) -> int:
    """The size counted against the maximum append size (§3.12)."""
    return len(data) + len(custom_metadata) + 2 * utf16_length(event_type)


def metastream_of(stream_name: str) -> str:
    """The name of the stream that holds ``stream_name``'s metadata (``$$<name>``)."""
    return METASTREAM_PREFIX + stream_name


def is_metastream(stream_name: str) -> bool:
    """Whether ``stream_name`` is a metastream (``$$<name>``)."""
    return stream_name.startswith(METASTREAM_PREFIX)


@dataclass(eq=False)
class Record:
    """One event in the log. ``position`` is its commit and prepare position."""

    __slots__ = (
        "created",
        "custom_metadata",
        "data",
        "end",
        "event_id",
        "event_type",
        "is_json",
        "position",
        "revision",
        "stream_name",
        "wire_string",
        "wire_structured",
    )
    position: int
    end: int  # offset just past the record; $all backwards reads need end <= P
    stream_name: str
    revision: int
    event_id: uuid.UUID
    event_type: str
    is_json: bool
    data: bytes
    custom_metadata: bytes
    created: int  # .NET ticks since the Unix epoch

    def __post_init__(self) -> None:
        # Encoded RecordedEvent messages, filled by the first read that needs them.
        self.wire_structured: bytes | None = None
        self.wire_string: bytes | None = None


@dataclass(eq=False)
class ProposedEvent:
    """An event to append."""

    __slots__ = ("custom_metadata", "data", "event_id", "event_type", "is_json")
    event_id: uuid.UUID
    event_type: str
    is_json: bool
    data: bytes
    custom_metadata: bytes


@dataclass(frozen=True)
class Success:
    """A write went through (or was idempotent). ``current_revision`` -1 means no stream."""

    current_revision: int
    position: int


@dataclass(frozen=True)
class WrongExpectedVersion:
    """The expected revision did not match; ``current`` is -1 when the stream has no events."""

    current: int
    expected: int


WriteResult = Union[Success, WrongExpectedVersion]


class WriteObserver(Protocol):
    """Told about every record a write puts in the log (e.g. the standard projections).

    Called synchronously, right after the records are in the log and before the write
    returns. Writes the observer makes to the store from the callback are not reported
    back to it. It must not raise.
    """

    def records_written(self, store: EventStore, records: Sequence[Record]) -> None: ...


class StreamDeletedError(Exception):
    """The stream is tombstoned (or, for ``stream_exists``, soft-deleted)."""

    def __init__(self, stream_name: str) -> None:
        super().__init__(stream_name)
        self.stream_name = stream_name


@dataclass(frozen=True)
class StreamSlice:
    """The result of a stream read: the visible records and the stream's last revision."""

    records: list[Record]
    last_revision: int


def in_default_all_filter(record: Record) -> bool:
    """False for the records every ``$all`` read hides (``EventFilter.DefaultAllFilter``)."""
    name = record.stream_name
    if not name.startswith("$"):
        return True
    if name == EPOCH_INFORMATION:
        return False
    return not (
        name.startswith(_PS_ALL_PREFIX)
        and (name.endswith("-checkpoint") or name.endswith("-parked"))
    )


def readable_target(target: Record | None, may_read: ReadCheck | None) -> Record | None:
    """``target``, the event a link resolved to, if the reader may read its stream.

    Every path that hands out a link's target goes through here (reads and catch-up
    subscriptions of a stream or of ``$all`` via :meth:`EventStore.resolve_link`,
    persistent subscription deliveries directly), so a link never yields an event its
    reader could not read itself. A refused target is None: the link is answered
    unresolved, as a link to a deleted event is. ``may_read`` None (insecure mode, the
    system account, admins) refuses nothing. (Upstream differs: 20.6+ resolves without
    looking at the reader; 5.x checked the target's ``$r`` and refused the whole page.)
    """
    if target is None or may_read is None or may_read(target.stream_name):
        return target
    return None
