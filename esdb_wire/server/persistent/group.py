"""One subscription group (``PersistentSubscription``): its consumers and the delivery
loop. No protobuf and no asyncio here: a :class:`Group` is driven by plain calls (a
consumer connects, acks, nacks or leaves; the clock ticks; the store has new records),
exactly as the real server's ``PersistentSubscription`` is driven by messages.

What it reads waits in a :class:`~.buffer.StreamBuffer`; it numbers and checkpoints
through :class:`~.checkpoints.Checkpoints` and parks through
:class:`~.parking.ParkedMessages`. Positions are plain ints: the event number for a stream
group, the log position for a ``$all`` group (commit == prepare in this store).
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Final

from esdb_wire.server.persistent.buffer import Skipped, SourceReader, StreamBuffer
from esdb_wire.server.persistent.checkpoints import Checkpoints
from esdb_wire.server.persistent.config import GroupConfig
from esdb_wire.server.persistent.consumers import (
    Consumer,
    Message,
    OutstandingMessages,
    PushResult,
)
from esdb_wire.server.persistent.parking import PARKED_BY_CLIENT_REASON, ParkedMessages
from esdb_wire.server.persistent.strategies import make_strategy
from esdb_wire.server.records import ANY, StreamDeletedError
from esdb_wire.server.store import EventStore

# Records one pull() may scan before it yields (a filtered $all group can skip many).
SCAN_BUDGET: Final = 4096

_STATE_ORDER = ["Behind", "OutstandingPageRequest", "ReplayingParkedMessages", "Live"]


class Group:
    """One subscription group (``PersistentSubscription``) over an :class:`EventStore`.

    It pulls the source into a bounded buffer (``history_buffer_size``), hands messages to
    consumers through the strategy within their in-flight limits, tracks the in-flight ones
    (retried on nack, timeout or disconnect; parked after ``max_retry_count``) and writes a
    checkpoint per ``TryMarkCheckpoint``. ``pull()`` must be called when the store has new
    records, ``tick()`` on every clock tick.
    """

    def __init__(
        self,
        store: EventStore,
        config: GroupConfig,
        *,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.config = config
        self.settings = config.settings
        self.key = config.key
        self.is_all = config.is_all
        self._now = now
        self.consumers: dict[uuid.UUID, Consumer] = {}
        self._strategy = make_strategy(self.settings.consumer_strategy)
        self._buffer = StreamBuffer()
        self.outstanding = OutstandingMessages()
        self._checkpoints = Checkpoints(store, self.key, self.is_all, self.settings, now=now)
        self._parked = ParkedMessages(store, self.key)
        self.total_items = 0
        self._last_total_items = 0
        self._last_measurement_time = now()
        self.replaying_parked = False
        self.closed = False
        # Called when pull() stopped at its scan budget with more to read.
        self.on_more: Callable[[], None] | None = None
        self._reader = SourceReader(store, config, self._buffer, self._checkpoints.load())

    # ---- consumers ----

    @property
    def has_reached_max_consumers(self) -> bool:
        maximum = self.settings.max_subscriber_count
        return maximum != 0 and len(self.consumers) >= maximum

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers[consumer.correlation_id] = consumer
        self._strategy.client_added(consumer)
        self.pull()

    def remove_consumer(self, consumer: Consumer) -> None:
        """The consumer's call ended: its in-flight messages are retried for the others."""
        if self.consumers.pop(consumer.correlation_id, None) is None:
            return
        self._strategy.client_removed(consumer)
        lost = sorted(consumer.unconfirmed.values(), key=lambda m: m.original_event_number)
        consumer.unconfirmed.clear()
        for message in lost:
            self._retry(message)
        self._push()

    def shutdown(self) -> None:
        """Drop every consumer (Update, Delete, restart); the group is not used again."""
        self.closed = True
        for consumer in list(self.consumers.values()):
            del self.consumers[consumer.correlation_id]
            self._strategy.client_removed(consumer)
            consumer.drop()

    # ---- acks and nacks ----

    def ack(self, event_ids: Sequence[uuid.UUID]) -> None:
        if self.closed:
            return
        self._remove_processing(event_ids)
        self._try_mark_checkpoint(is_time_check=False)
        self.pull()

    def nack(self, event_ids: Sequence[uuid.UUID], action: str, reason: str) -> None:
        """``action``: "Unknown", "Park", "Retry", "Skip" or "Stop"."""
        if self.closed:
            return
        for event_id in event_ids:
            message = self.outstanding.get(event_id)
            if action in ("Retry", "Unknown"):
                if message is not None and not self._park_if_retried_out(message):
                    self._retry(message)
            elif action == "Park":
                if message is not None:
                    self._park(message, PARKED_BY_CLIENT_REASON + reason)
            elif action == "Stop":
                pass  # the server's StopSubscription() is a TODO no-op
            else:
                self.outstanding.remove(event_id)  # Skip
        self._remove_processing(event_ids)
        self._try_mark_checkpoint(is_time_check=False)
        self.pull()

    def _remove_processing(self, event_ids: Sequence[uuid.UUID]) -> None:
        for consumer in self.consumers.values():
            consumer.remove_from_processing(event_ids)
        for event_id in event_ids:
            self.outstanding.remove(event_id)

    # ---- clock ----

    def tick(self) -> None:
        """``NotifyClockTick``: retry (or park) timed-out messages, maybe checkpoint."""
        if self.closed:
            return
        for message in self.outstanding.expired(self._now()):
            if self.outstanding.get(message.event_id) is not message:
                continue
            if not self._park_if_retried_out(message):
                self._retry(message)
        self._push()
        self._try_mark_checkpoint(is_time_check=True)
        self.pull()

    # ---- retry, park ----

    def _park_if_retried_out(self, message: Message) -> bool:
        """``ActionTakenForRetriedMessage``."""
        maximum = self.settings.max_retry_count
        if message.retry_count < maximum:
            return False
        self._park(message, f"Reached retry count of {maximum}")
        return True

    def _retry(self, message: Message) -> None:
        self._remove_processing((message.event_id,))
        message.retry_count += 1
        message.expires = math.inf
        self._buffer.add_retry(message)

    def _park(self, message: Message, reason: str) -> None:
        """Write the message to the parked stream as a link, then forget it."""
        self._parked.park(message, reason)
        self._remove_processing((message.event_id,))

    @property
    def parked_message_count(self) -> int:
        return self._parked.count

    def replay_parked(self, stop_at: int | None) -> None:
        """``RetryParkedMessages``: queue the parked messages (those before ``stop_at``) as
        retries, then truncate the parked stream before the last one replayed."""
        if self.replaying_parked or self.closed:
            return
        stop = self._parked.replay_end(stop_at)
        if stop <= 0:
            return
        self.replaying_parked = True
        try:
            self._parked.replay(stop, self._buffer.add_replayed)
        finally:
            self.replaying_parked = False
        self._push()

    # ---- reading the source ----

    def pull(self) -> None:
        """Read what the buffer can take from the source, then push to consumers. Stops
        after :data:`SCAN_BUDGET` records and calls ``on_more`` if there is more to read."""
        if self.closed:
            return
        if self._reader.fill(SCAN_BUDGET) and self.on_more is not None:
            self.on_more()
        self._push()

    def has_more_to_read(self) -> bool:
        return self._reader.has_more_to_read()

    # ---- pushing ----

    def _push(self) -> None:
        """``TryPushingMessagesToClients``: retries first, then the read buffer, in order."""
        if self.closed or not self.consumers:
            return
        self._buffer.hand_out(self._try_push, self._handle_skipped)

    def _try_push(self, message: Message) -> PushResult:
        result = self._checkpoints.push(message, self._strategy.push)
        if result is PushResult.SENT:
            self._begin_processing(message)
        return result

    def _begin_processing(self, message: Message) -> None:
        """``MarkBeginProcessing`` + ``StartMessage``."""
        self.total_items += 1
        timeout = self.settings.message_timeout_ms / 1000
        message.expires = self._now() + timeout
        self.outstanding.add(message)

    def _handle_skipped(self, skipped: Skipped) -> None:
        self._checkpoints.skipped(skipped.position, skipped.count)
        self._try_mark_checkpoint(is_time_check=False)

    # ---- checkpoints ----

    def _try_mark_checkpoint(self, *, is_time_check: bool) -> None:
        lowest = self.outstanding.lowest()
        retries = self._buffer.retries
        self._checkpoints.try_mark(lowest, retries, is_time_check=is_time_check)

    @property
    def last_checkpoint(self) -> int | None:
        return self._checkpoints.last_checkpoint

    def delete_streams(self) -> None:
        """Delete: soft-delete the checkpoint and parked streams."""
        for stream in (self._checkpoints.stream, self._parked.stream):
            with contextlib.suppress(StreamDeletedError):
                self.store.delete(stream, ANY)

    # ---- statistics ----

    @property
    def status(self) -> str:
        """The ``PersistentSubscriptionState`` flags as .NET prints them (ascending)."""
        flags = ["Live" if not self.has_more_to_read() else "Behind"]
        if self.replaying_parked:
            flags.insert(0, "ReplayingParkedMessages")
        return ", ".join(sorted(flags, key=_STATE_ORDER.index))

    @property
    def last_known_event_position(self) -> int | None:
        return self._reader.last_known_event_position

    @property
    def read_buffer_count(self) -> int:
        return self._buffer.read_count

    @property
    def retry_buffer_count(self) -> int:
        return len(self._buffer.retries)

    def measure(self) -> tuple[int, int, dict[uuid.UUID, tuple[int, int]]]:
        """Average items per second and count since the last call, overall and per consumer
        (``PersistentSubscriptionStats.GetStatistics`` resets the window each call)."""
        now = self._now()
        elapsed = now - self._last_measurement_time
        self._last_measurement_time = now
        items = self.total_items - self._last_total_items
        self._last_total_items = self.total_items
        per_consumer: dict[uuid.UUID, tuple[int, int]] = {}
        for consumer in self.consumers.values():
            count = consumer.total_items - consumer.last_total_items
            consumer.last_total_items = consumer.total_items
            per_consumer[consumer.correlation_id] = (_rate(count, elapsed), count)
        return _rate(items, elapsed), items, per_consumer


def _rate(count: int, elapsed: float) -> int:
    return int(count / elapsed) if elapsed > 0 else 0
