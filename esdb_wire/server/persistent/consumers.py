"""The messages a group hands out, the consumers it hands them to, and the cache of those
handed out and not yet acked."""

from __future__ import annotations

import heapq
import math
import uuid
from collections.abc import Callable, Iterable
from enum import Enum

from esdb_wire.server.records import Record


class Message:
    """One event handed to consumers (``OutstandingMessage``).

    ``event``/``link`` are the resolved event and the link record, as in a ``ResolvedEvent``;
    ``original`` is the record the group read (the link when there is one), whose id is the
    message id clients ack with. ``position`` is None for a replayed parked message.
    A link's ``event`` is resolved as the system account: the service hands it only to
    consumers that may read it (``store.readable_target``).
    """

    __slots__ = (
        "event",
        "event_id",
        "expires",
        "link",
        "original",
        "position",
        "previous_position",
        "replayed",
        "retry_count",
        "sequence",
    )

    def __init__(
        self,
        event: Record | None,
        link: Record | None,
        position: int | None,
        *,
        replayed: bool = False,
    ) -> None:
        original = link if link is not None else event
        assert original is not None
        self.event = event
        self.link = link
        self.original = original
        self.event_id = original.event_id
        self.position = position
        self.replayed = replayed
        self.retry_count = 0
        self.sequence: int | None = None
        self.previous_position: int | None = None
        self.expires = math.inf

    @property
    def log_position(self) -> int:
        """The original record's log position (``ResolvedEvent.OriginalPosition``)."""
        return self.original.position

    @property
    def original_event_number(self) -> int:
        return self.original.revision


class PushResult(Enum):
    SENT = "Sent"
    SKIPPED = "Skipped"
    NO_MORE_CAPACITY = "NoMoreCapacity"


class Consumer:
    """One connected Read call (``PersistentSubscriptionClient``).

    ``deliver(message, retry_count)`` queues a message for the call; ``drop()`` ends the
    call with the "dropped" error once what was queued before it has been sent.
    """

    def __init__(
        self,
        *,
        max_in_flight: int,
        deliver: Callable[[Message, int], None],
        drop: Callable[[], None],
        connection_name: str = "<unknown>",
        username: str = "anonymous",
        origin: str = "",
    ) -> None:
        self.correlation_id = uuid.uuid4()
        self.max_in_flight = max_in_flight
        self.available_slots = max_in_flight
        self.connection_name = connection_name
        self.username = username
        self.origin = origin
        self.total_items = 0
        self.last_total_items = 0
        self.unconfirmed: dict[uuid.UUID, Message] = {}
        self.on_confirmed: Callable[[Consumer, Message], None] | None = None
        self._deliver = deliver
        self._drop = drop

    @property
    def in_flight(self) -> int:
        return len(self.unconfirmed)

    def push(self, message: Message) -> bool:
        if self.available_slots <= 0:
            return False
        self.available_slots -= 1
        self.total_items += 1
        self._deliver(message, message.retry_count)
        if message.event_id not in self.unconfirmed:
            self.unconfirmed[message.event_id] = message
        return True

    def remove_from_processing(self, event_ids: Iterable[uuid.UUID]) -> None:
        for event_id in event_ids:
            message = self.unconfirmed.pop(event_id, None)
            if message is None:
                continue
            self.available_slots += 1
            if self.on_confirmed is not None:
                self.on_confirmed(self, message)

    def drop(self) -> None:
        self._drop()


class OutstandingMessages:
    """The messages handed out and not yet acked, nacked or timed out
    (``OutstandingMessageCache``), by id, with the lowest sequence number at hand."""

    def __init__(self) -> None:
        self._messages: dict[uuid.UUID, Message] = {}
        self._sequence_heap: list[tuple[int, uuid.UUID]] = []

    def __len__(self) -> int:
        return len(self._messages)

    def get(self, event_id: uuid.UUID) -> Message | None:
        return self._messages.get(event_id)

    def add(self, message: Message) -> None:
        """``StartMessage``; a message already outstanding stays as it is (SkippedDuplicate)."""
        if message.event_id in self._messages:
            return
        self._messages[message.event_id] = message
        if message.sequence is not None:
            heapq.heappush(self._sequence_heap, (message.sequence, message.event_id))

    def remove(self, event_id: uuid.UUID) -> None:
        self._messages.pop(event_id, None)

    def expired(self, now: float) -> list[Message]:
        return [m for m in self._messages.values() if m.expires < now]

    def lowest(self) -> Message | None:
        """The outstanding message with the lowest sequence number (None if there is none)."""
        heap = self._sequence_heap
        messages = self._messages
        while heap:
            sequence, event_id = heap[0]
            message = messages.get(event_id)
            if message is not None and message.sequence == sequence:
                return message
            heapq.heappop(heap)
        return None
