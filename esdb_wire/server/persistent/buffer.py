"""A group's buffer (``StreamBuffer``) and what fills it from the event source
(``PersistentSubscriptionStreamReader``): messages read in order, with markers for the
records a filtered ``$all`` group read past, and the messages to retry."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Union

from esdb_wire.server.persistent.config import GroupConfig, is_live_start
from esdb_wire.server.persistent.consumers import Message, PushResult
from esdb_wire.server.records import (
    LINK_EVENT_TYPE,
    Record,
    StreamDeletedError,
    in_default_all_filter,
)
from esdb_wire.server.store import EventStore

MAX_PULL_BATCH_SIZE: Final = 100  # the service builds its stream reader with 100


@dataclass
class Skipped:
    """Events a filtered ``$all`` group read past (``HandleSkippedEvents``)."""

    position: int
    count: int


_Buffered = Union[Message, Skipped]


class StreamBuffer:
    """The messages read and not yet handed out, and the retries (handed out first)."""

    def __init__(self) -> None:
        self._read: deque[_Buffered] = deque()
        self._read_count = 0  # messages (not skip markers) in the read buffer
        self._retry: list[Message] = []

    def __len__(self) -> int:
        return self._read_count + len(self._retry)

    @property
    def read_count(self) -> int:
        return self._read_count

    @property
    def retries(self) -> list[Message]:
        """The retry buffer, in the order its messages go out (do not change it)."""
        return self._retry

    def add_read(self, message: Message) -> None:
        self._read.append(message)
        self._read_count += 1

    def add_skipped(self, position: int) -> None:
        buffer = self._read
        if buffer and isinstance(buffer[-1], Skipped):
            last = buffer[-1]
            last.position = position
            last.count += 1
        else:
            buffer.append(Skipped(position, 1))

    def add_retry(self, message: Message) -> None:
        """``StreamBuffer.AddRetry``: parked replays at the end, others in position order."""
        retry = self._retry
        position = message.position
        if message.replayed or position is None:
            retry.append(message)
            return
        if not retry or (retry[-1].position is not None and retry[-1].position <= position):
            retry.append(message)
            return
        for index, existing in enumerate(retry):
            if existing.position is not None and position < existing.position:
                retry.insert(index, message)
                return
        retry.append(message)

    def add_replayed(self, message: Message) -> None:
        """A parked message to replay, after the retries there are."""
        self._retry.append(message)

    def hand_out(
        self, push: Callable[[Message], PushResult], skipped: Callable[[Skipped], None]
    ) -> None:
        """Push the retries, then the read messages, in order, until ``push`` reports no
        more capacity. A message ``push`` skipped stays where it was; ``skipped`` hears of
        the skip markers reached before any of those."""
        retry = self._retry
        index = 0
        while index < len(retry):
            result = push(retry[index])
            if result is PushResult.SENT:
                del retry[index]
            elif result is PushResult.SKIPPED:
                index += 1
            else:
                return
        buffer = self._read
        kept: list[_Buffered] = []
        try:
            while buffer:
                entry = buffer[0]
                if isinstance(entry, Skipped):
                    buffer.popleft()
                    if kept:
                        kept.append(entry)
                    else:
                        skipped(entry)
                    continue
                result = push(entry)
                if result is PushResult.SENT:
                    buffer.popleft()
                    self._read_count -= 1
                elif result is PushResult.SKIPPED:
                    kept.append(buffer.popleft())
                else:
                    return
        finally:
            if kept:
                buffer.extendleft(reversed(kept))


class SourceReader:
    """Reads a group's event source into its buffer: a stream by event number, ``$all`` by
    log position through the group's filter, from the last checkpoint or the group's
    start."""

    def __init__(
        self,
        store: EventStore,
        config: GroupConfig,
        buffer: StreamBuffer,
        checkpoint: int | None,
    ) -> None:
        self.store = store
        self.config = config
        self.settings = config.settings
        self.is_all = config.is_all
        self._buffer = buffer
        self._predicate = None if config.event_filter is None else config.event_filter.predicate()
        self.last_known_event_position: int | None = None
        # The read cursor: next event number (stream) or last position read past ($all).
        self._next_revision = 0
        self._after_position = -1
        if checkpoint is None:
            start = config.start_from
            if is_live_start(start):
                if self.is_all:
                    self._after_position = store.last_position
                else:
                    self._next_revision = store.last_revision(config.source) + 1
            elif isinstance(start, tuple):
                self._after_position = start[0] - 1
            else:
                self._next_revision = start
        elif self.is_all:
            self._after_position = checkpoint
        else:
            self._next_revision = checkpoint + 1

    def _batch_size(self) -> int:
        """``PersistentSubscriptionStreamReader``: max(batch, 10) capped at 100 (20 for 0)."""
        batch = self.settings.read_batch_size
        pulled = min(batch if batch != 0 else 20, MAX_PULL_BATCH_SIZE)
        return max(1, min(max(batch, 10), pulled))

    def fill(self, budget: int) -> bool:
        """``TryReadingNewBatch`` while the buffer can accept a batch; True if it stopped at
        the budget (records scanned) with more to read."""
        history = self.settings.history_buffer_size
        threshold = self.settings.read_batch_size
        while history - len(self._buffer) > threshold:
            if budget <= 0:
                return self.has_more_to_read()
            scanned = self._read_all() if self.is_all else self._read_stream()
            if scanned == 0:
                return False
            budget -= scanned
        return False

    def _read_stream(self) -> int:
        """One batch from the stream: how many records it went past (0 at the end)."""
        store = self.store
        name = self.config.source
        start = self._next_revision
        if store.last_revision(name) < start:
            return 0
        count = self._batch_size()
        try:
            found = store.read_stream(name, start, count)
        except StreamDeletedError:
            return 0
        if found is None:
            self._next_revision = max(start, store.last_revision(name) + 1)
            return 0
        records = found.records
        for record in records:
            self._add_read(self._message_for(record, record.revision))
        if len(records) < count:
            self._next_revision = max(start, found.last_revision + 1)
        else:
            self._next_revision = records[-1].revision + 1
        return max(len(records), 1) if self._next_revision > start else 0

    def _read_all(self) -> int:
        """One batch from the log: how many records it went past (0 at the end). A filtered
        group counts the ones it skips."""
        records = self.store.records_after(self._after_position, self._batch_size())
        predicate = self._predicate
        for record in records:
            self._after_position = record.position
            if predicate is None:
                if in_default_all_filter(record):
                    self._add_read(self._message_for(record, record.position))
            elif predicate(record):
                self._add_read(self._message_for(record, record.position))
            else:
                self._buffer.add_skipped(record.position)
        return len(records)

    def _message_for(self, record: Record, position: int) -> Message:
        if self.settings.resolve_links and record.event_type == LINK_EVENT_TYPE:
            return Message(self.store.resolve_link(record, may_read=None), record, position)
        return Message(record, None, position)

    def _add_read(self, message: Message) -> None:
        self._buffer.add_read(message)
        position = message.position
        assert position is not None
        known = self.last_known_event_position
        if known is None or known < position:
            self.last_known_event_position = position

    def has_more_to_read(self) -> bool:
        if self.is_all:
            return self.store.last_position > self._after_position
        return self.store.last_revision(self.config.source) >= self._next_revision
