"""The event objects users write and read: :class:`NewEvent` and :class:`RecordedEvent`."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID, uuid4

from esdb_wire.uuid_ints import uuid_from_int

# .NET ticks (100 ns) are how the server stamps events ("created" metadata).
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ZERO_UUID = UUID(int=0)
_MASK64 = (1 << 64) - 1


class NewEvent:
    """An event to append.

    ``NewEvent(type, data, metadata=b"", content_type="application/json", id=uuid4())``.
    Two events are equal when their ids are (the server de-duplicates appends by id).
    """

    __slots__ = ("content_type", "data", "id", "metadata", "type")

    def __init__(
        self,
        type: str,
        data: bytes,
        metadata: bytes = b"",
        content_type: str = "application/json",
        id: UUID | None = None,
    ) -> None:
        self.type = type
        self.data = data
        self.metadata = metadata
        self.content_type = content_type
        self.id = uuid4() if id is None else id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (NewEvent, RecordedEvent)):
            return self.id == other.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return (
            f"NewEvent(type={self.type!r}, data={self.data!r}, metadata={self.metadata!r}, "
            f"content_type={self.content_type!r}, id={self.id!r})"
        )


class RecordedEvent:
    """An event as read from the database.

    ``stream_position`` is the event's revision in its stream; ``commit_position`` and
    ``prepare_position`` its place in ``$all``. ``recorded_at`` is when the server wrote
    it (UTC). ``link`` is the link event when a ``$>`` link was resolved to this event;
    ``retry_count`` is set for persistent-subscription deliveries.
    """

    __slots__ = (
        "_created",
        "_id",
        "commit_position",
        "content_type",
        "data",
        "link",
        "metadata",
        "prepare_position",
        "retry_count",
        "stream_name",
        "stream_position",
        "type",
    )

    def __init__(
        self,
        type: str,
        data: bytes,
        metadata: bytes,
        stream_name: str,
        stream_position: int,
        commit_position: int | None,
        *,
        content_type: str = "application/json",
        id: UUID = ZERO_UUID,
        prepare_position: int | None = None,
        recorded_at: datetime.datetime | None = None,
        link: RecordedEvent | None = None,
        retry_count: int | None = None,
        created_ticks: int | None = None,
    ) -> None:
        self.type = type
        self.data = data
        self.metadata = metadata
        self.stream_name = stream_name
        self.stream_position = stream_position
        self.commit_position = commit_position
        self.content_type = content_type
        # The UUID, or until it is first asked for, its wire form (see ``id``).
        self._id: UUID | tuple[int, int] | str = id
        self.prepare_position = commit_position if prepare_position is None else prepare_position
        self.link = link
        self.retry_count = retry_count
        if recorded_at is not None:
            created_ticks = (recorded_at - _EPOCH) // datetime.timedelta(microseconds=1) * 10
        self._created: int | str | None = created_ticks

    @property
    def id(self) -> UUID:
        """The event's id."""
        value = self._id
        if value.__class__ is tuple:  # a read event's structured id, asked for the first time
            high, low = value
            made = self._id = uuid_from_int(((high & _MASK64) << 64) | (low & _MASK64))
            return made
        if isinstance(value, str):  # its string form
            made = self._id = UUID(value) if value else ZERO_UUID
            return made
        return value  # type: ignore[return-value]

    @id.setter
    def id(self, value: UUID) -> None:
        self._id = value

    @property
    def recorded_at(self) -> datetime.datetime | None:
        """When the server recorded the event (UTC), if it said."""
        created = self._created
        if isinstance(created, str):
            created = self._created = int(created) if created.isdecimal() else None
        if created is None:
            return None
        return _EPOCH + datetime.timedelta(microseconds=created // 10)

    @property
    def ack_id(self) -> UUID:
        """The id to acknowledge in a persistent subscription (the link's, if resolved)."""
        return self.link.id if self.link is not None else self.id

    @property
    def is_system_event(self) -> bool:
        """Whether its type is a system event type (it starts with ``$``)."""
        return self.type.startswith("$")

    @property
    def is_link_event(self) -> bool:
        """Whether it is a link (type ``$>``) that was not resolved to its event."""
        return self.type == "$>"

    @property
    def is_resolved_event(self) -> bool:
        """Whether it was reached through a link that was resolved (see ``link``)."""
        return self.link is not None

    @property
    def is_checkpoint(self) -> bool:
        """Whether it is a :class:`Checkpoint` (a position, not an event)."""
        return False

    @property
    def is_caught_up(self) -> bool:
        """Whether it is a :class:`CaughtUp` (a subscription went live), not an event."""
        return False

    def _key(self) -> tuple[Any, ...]:
        return (
            self.type,
            self.data,
            self.metadata,
            self.stream_name,
            self.stream_position,
            self.commit_position,
            self.content_type,
            self.id,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordedEvent):
            return type(self) is type(other) and self._key() == other._key()
        if isinstance(other, NewEvent):
            return self.id == other.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(type={self.type!r}, data={self.data!r}, "
            f"metadata={self.metadata!r}, stream_name={self.stream_name!r}, "
            f"stream_position={self.stream_position!r}, "
            f"commit_position={self.commit_position!r}, id={self.id!r})"
        )


class Checkpoint(RecordedEvent):
    """A position reached by a filtered ``$all`` subscription (no event)."""

    __slots__ = ()

    def __init__(self, commit_position: int, prepare_position: int | None = None) -> None:
        super().__init__(
            "", b"", b"", "", 0, commit_position, prepare_position=prepare_position, content_type=""
        )

    @property
    def is_checkpoint(self) -> bool:
        """True: a checkpoint."""
        return True


class CaughtUp(RecordedEvent):
    """A subscription finished catching up and is now live."""

    __slots__ = ()

    def __init__(self, commit_position: int = 0) -> None:
        super().__init__("", b"", b"", "", 0, commit_position, content_type="")

    @property
    def is_caught_up(self) -> bool:
        """True: the subscription caught up."""
        return True
