"""Persistent subscription groups: the competing-consumers engine behind :mod:`.persistent`.

No protobuf and no asyncio here: a :class:`Group` is driven by plain calls (a consumer
connects, acks, nacks or leaves; the clock ticks; the store has new records), exactly as
the real server's ``PersistentSubscription`` is driven by messages. :class:`Subsystem` holds
the groups, as ``PersistentSubscriptionService`` does, and persists their configuration in
``$persistentSubscriptionConfig`` so that a new subsystem on the same store (a restart)
finds them again and resumes each one after its last checkpoint.

Semantics follow the server spec §5 and the server sources it names
(``PersistentSubscription.cs``, ``StreamBuffer.cs``, ``OutstandingMessage.cs``, the consumer
strategies, ``PersistentSubscriptionMessageParker.cs``, ``...CheckpointWriter.cs``).
Positions are plain ints: the event number for a stream group, the log position for a
``$all`` group (commit == prepare in this store).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import re
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Final, Union

from esdb_wire.server.filters import compile_filter_regex
from esdb_wire.server.store import (
    ANY,
    LINK_EVENT_TYPE,
    METADATA_EVENT_TYPE,
    EventStore,
    ProposedEvent,
    Record,
    StreamDeletedError,
    in_default_all_filter,
    metastream_of,
)

ALL_STREAM: Final = "$all"
CONFIG_STREAM: Final = "$persistentSubscriptionConfig"
CONFIG_EVENT_TYPE: Final = "$PersistentConfig"
CHECKPOINT_EVENT_TYPE: Final = "$SubscriptionCheckpoint"
LEGACY_CHECKPOINT_EVENT_TYPE: Final = "SubscriptionCheckpoint"
DISPATCH_TO_SINGLE: Final = "DispatchToSingle"
ROUND_ROBIN: Final = "RoundRobin"
PINNED: Final = "Pinned"
PINNED_BY_CORRELATION: Final = "PinnedByCorrelation"
STRATEGIES: Final = (DISPATCH_TO_SINGLE, ROUND_ROBIN, PINNED, PINNED_BY_CORRELATION)
CORRELATION_ID_PROPERTY: Final = "$correlationId"
PARKED_BY_CLIENT_REASON: Final = "Client explicitly NAK'ed message.\n"
BUCKET_COUNT: Final = 1024  # PinnedConsumerState.MaxBucketCount
MAX_PULL_BATCH_SIZE: Final = 100  # the service builds its stream reader with 100
# Records one pull() may scan before it yields (a filtered $all group can skip many).
SCAN_BUDGET: Final = 4096
ALL_NOT_SUPPORTED: Final = (
    "Persistent subscriptions to $all are only supported over gRPC through gRPC clients"
)
BAD_STREAM_NAME: Final = "Bad stream name."
NEGATIVE_STOP_AT: Final = "Cannot stop replaying parked message at a negative version."

_INFINITY = math.inf
# DateTime.MinValue as a clock reading: long ago, yet less than "never" (checkpoint_after 0).
_LONG_AGO = -1e11
_MIN_LONG = -(2**63)
_ADMINS = "$admins"

# The start of a group: an event number for a stream (-1 = live), or (commit, prepare)
# for $all ((-1, -1) = live).
StartFrom = Union[int, tuple[int, int]]


# ---- errors -----------------------------------------------------------------------------


class GroupNotFound(Exception):
    """No such group (NOT_FOUND ``persistent-subscription-does-not-exist``)."""


class GroupExists(Exception):
    """The group exists already (ALREADY_EXISTS ``persistent-subscription-exists``)."""


class GroupFailed(Exception):
    """The operation failed with ``reason`` (INTERNAL ``persistent-subscription-failed``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SubsystemStopped(Exception):
    """The subsystem is not started."""


# ---- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSettings:
    """A group's settings as the server keeps them (times in milliseconds)."""

    resolve_links: bool = False
    extra_statistics: bool = False
    message_timeout_ms: int = 30_000
    max_retry_count: int = 10
    live_buffer_size: int = 500
    history_buffer_size: int = 500
    read_batch_size: int = 20
    checkpoint_after_ms: int = 2_000
    min_checkpoint_count: int = 10
    max_checkpoint_count: int = 1_000
    max_subscriber_count: int = 0  # 0 = unlimited
    consumer_strategy: str = ROUND_ROBIN


@dataclass(frozen=True)
class EventFilterSpec:
    """A ``$all`` group's filter in the server's persisted form (``EventFilterDto``)."""

    context: str  # "streamid" | "eventtype"
    kind: str  # "regex" | "prefix"
    data: str  # the regex, or the prefixes joined with ","

    def prefixes(self) -> tuple[str, ...]:
        return tuple(part for part in self.data.split(",") if part)

    def predicate(self) -> Callable[[Record], bool]:
        """The filter as ``EventFilter`` applies it to ``$all``: DefaultAllFilter, then this."""
        by_stream = self.context == "streamid"
        if self.kind == "regex":
            search = compile_filter_regex(self.data).search
            if by_stream:
                return lambda r: in_default_all_filter(r) and search(r.stream_name) is not None
            return lambda r: in_default_all_filter(r) and search(r.event_type) is not None
        prefixes = self.prefixes()
        if by_stream:
            return lambda r: in_default_all_filter(r) and r.stream_name.startswith(prefixes)
        return lambda r: in_default_all_filter(r) and r.event_type.startswith(prefixes)


def filter_from_expression(by_stream: bool, regex: str, prefixes: Sequence[str]) -> EventFilterSpec:
    """The filter of a request's ``Expression``: the regex if non-empty, else the prefixes."""
    context = "streamid" if by_stream else "eventtype"
    if regex:
        compile_filter_regex(regex)  # the server builds the Regex when it converts the request
        return EventFilterSpec(context, "regex", regex)
    return EventFilterSpec(context, "prefix", ",".join(prefixes))


@dataclass(frozen=True)
class GroupConfig:
    """What defines a group: its event source, name, filter, start and settings."""

    source: str  # the stream name, or "$all"
    group: str
    start_from: StartFrom
    settings: GroupSettings = field(default_factory=GroupSettings)
    event_filter: EventFilterSpec | None = None

    @property
    def is_all(self) -> bool:
        return self.source == ALL_STREAM

    @property
    def key(self) -> str:
        return subscription_key(self.source, self.group)


def subscription_key(source: str, group: str) -> str:
    """``<stream>::<group>``: the group's id, also the confirmation's subscription_id."""
    return f"{source}::{group}"


def position_text(is_all: bool, position: int) -> str:
    """How the server prints a group position: ``"5"`` or ``"C:123/P:123"``."""
    return f"C:{position}/P:{position}" if is_all else str(position)


def start_from_text(start_from: StartFrom) -> str:
    if isinstance(start_from, tuple):
        return f"C:{start_from[0]}/P:{start_from[1]}"
    return str(start_from)


def parse_position(is_all: bool, text: str) -> int:
    """A position string as the event source reads it back (``GetStreamPositionFor``)."""
    if not is_all:
        return int(text)
    commit, _prepare = _parse_all_position(text)
    return commit


def _parse_all_position(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"C:(-?\d+)/P:(-?\d+)", text.strip())
    if match is None:
        raise ValueError(f"invalid $all position {text!r}")
    return int(match.group(1)), int(match.group(2))


def is_live_start(start_from: StartFrom) -> bool:
    return start_from == (-1, -1) if isinstance(start_from, tuple) else start_from == -1


def validate_start_from(start_from: StartFrom, last_indexed_position: int) -> None:
    """``PersistentSubscriptionService.ValidateStartFrom``."""
    if not isinstance(start_from, tuple):
        if start_from < -1:
            raise GroupFailed(
                "Invalid Start From position: event number must be greater than or equal to -1."
            )
        return
    commit, prepare = start_from
    if prepare > commit:
        raise GroupFailed(
            "Invalid Start From position: prepare position must be less than or equal to "
            "the commit position."
        )
    if commit > last_indexed_position:
        raise GroupFailed(
            "Invalid Start From position: commit position must be less than or equal to the "
            "last commit position in the transaction file."
        )
    if (prepare <= -1 or commit <= -1) and not (prepare == -1 and commit == -1):
        raise GroupFailed(
            "Invalid Start From position: prepare and commit positions must be greater than "
            "or equal to 0 or both equal to -1."
        )


def validate_settings(settings: GroupSettings) -> None:
    """What the server checks before (or while) building a group."""
    if settings.consumer_strategy not in STRATEGIES:
        raise GroupFailed(f"Consumer strategy {settings.consumer_strategy} does not exist.")


def check_buffer_sizes(settings: GroupSettings) -> None:
    """The ``PersistentSubscription`` constructor's check (an ArgumentOutOfRangeException)."""
    if settings.read_batch_size >= settings.history_buffer_size:
        raise GroupFailed(
            "Specified argument was out of the range of valid values. (Parameter "
            "'ReadBatchSize may not be greater than or equal to BufferSize')"
        )


# ---- messages -----------------------------------------------------------------------------


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
        self.expires = _INFINITY

    @property
    def log_position(self) -> int:
        """The original record's log position (``ResolvedEvent.OriginalPosition``)."""
        return self.original.position

    @property
    def original_event_number(self) -> int:
        return self.original.revision


@dataclass
class _Skipped:
    """Events a filtered ``$all`` group read past (``HandleSkippedEvents``)."""

    position: int
    count: int


_Buffered = Union[Message, _Skipped]


class PushResult(Enum):
    SENT = "Sent"
    SKIPPED = "Skipped"
    NO_MORE_CAPACITY = "NoMoreCapacity"


# ---- consumers ----------------------------------------------------------------------------


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


# ---- consumer strategies ---------------------------------------------------------------------


class _Strategy:
    name = ""

    def client_added(self, consumer: Consumer) -> None:
        raise NotImplementedError

    def client_removed(self, consumer: Consumer) -> None:
        raise NotImplementedError

    def push(self, message: Message) -> PushResult:
        raise NotImplementedError


class _RoundRobin(_Strategy):
    """Rotate over the clients; the first with a free slot gets the message."""

    name = ROUND_ROBIN

    def __init__(self) -> None:
        self.clients: deque[Consumer] = deque()

    def client_added(self, consumer: Consumer) -> None:
        self.clients.append(consumer)

    def client_removed(self, consumer: Consumer) -> None:
        self.clients.remove(consumer)

    def push(self, message: Message) -> PushResult:
        clients = self.clients
        for _ in range(len(clients)):
            client = clients.popleft()
            pushed = client.push(message)
            clients.append(client)
            if pushed:
                return PushResult.SENT
        return PushResult.NO_MORE_CAPACITY


class _DispatchToSingle(_RoundRobin):
    """Keep pushing to the head client until it is full, then move on to the next."""

    name = DISPATCH_TO_SINGLE

    def push(self, message: Message) -> PushResult:
        clients = self.clients
        for _ in range(len(clients)):
            if clients[0].push(message):
                return PushResult.SENT
            clients.rotate(-1)
        return PushResult.NO_MORE_CAPACITY


class _Node:
    __slots__ = ("assignment_count", "client", "connected")

    def __init__(self, client: Consumer) -> None:
        self.client = client
        self.connected = True
        self.assignment_count = 0


class _Bucket:
    __slots__ = ("in_flight", "node", "state")

    def __init__(self) -> None:
        self.state = "unassigned"  # | "assigned" | "disconnected"
        self.node: _Node | None = None
        self.in_flight = 0


class _Pinned(_Strategy):
    """``PinnablePersistentSubscriptionConsumerStrategy``: a hash of the source stream picks
    one of 1024 buckets, each bucket is assigned to one client (the least assigned when the
    bucket is first used; rebalanced when a client joins)."""

    name = PINNED

    def __init__(self) -> None:
        self.buckets = [_Bucket() for _ in range(BUCKET_COUNT)]
        self.nodes: list[_Node] = []
        self.assignment_count = 0

    def client_added(self, consumer: Consumer) -> None:
        node = _Node(consumer)
        self.nodes.append(node)
        consumer.on_confirmed = self._confirmed
        connected = sum(1 for n in self.nodes if n.connected)
        balanced = math.ceil(self.assignment_count / connected)
        moves: list[int] = []
        for existing in self.nodes:
            if existing is node or not existing.connected:
                continue
            if existing.assignment_count > balanced:
                owned = [
                    (bucket.in_flight, index)
                    for index, bucket in enumerate(self.buckets)
                    if bucket.node is existing and bucket.state == "assigned"
                ]
                owned.sort()
                moves.extend(index for _, index in owned[: existing.assignment_count - balanced])
        for index in moves:
            self._assign(index, node)
        self.nodes = [n for n in self.nodes if n.connected or n.assignment_count > 0]

    def client_removed(self, consumer: Consumer) -> None:
        consumer.on_confirmed = None
        node = next(n for n in self.nodes if n.client is consumer)
        node.connected = False
        self.assignment_count -= node.assignment_count
        for bucket in self.buckets:
            if bucket.node is node:
                bucket.state = "disconnected"
                bucket.in_flight = 0

    def _available_capacity(self) -> int:
        return sum(n.client.max_in_flight - n.client.in_flight for n in self.nodes if n.connected)

    def push(self, message: Message) -> PushResult:
        if self._available_capacity() <= 0:
            return PushResult.NO_MORE_CAPACITY
        index = self._bucket_of(message)
        bucket = self.buckets[index]
        if bucket.state != "assigned":
            candidates = [n for n in self.nodes if n.connected]
            self._assign(index, min(candidates, key=lambda n: n.assignment_count))
        assert bucket.node is not None
        if not bucket.node.client.push(message):
            return PushResult.SKIPPED
        bucket.in_flight += 1
        return PushResult.SENT

    def _assign(self, index: int, node: _Node) -> None:
        bucket = self.buckets[index]
        if bucket.state != "assigned":
            self.assignment_count += 1
        if bucket.state != "unassigned" and bucket.node is not None:
            bucket.node.assignment_count -= 1
        bucket.state = "assigned"
        bucket.node = node
        node.assignment_count += 1

    def _confirmed(self, consumer: Consumer, message: Message) -> None:
        bucket = self.buckets[self._bucket_of(message)]
        if bucket.node is not None and bucket.node.client is consumer:
            bucket.in_flight -= 1

    def _bucket_of(self, message: Message) -> int:
        source = self.assignment_source(message)
        return zlib.crc32(source.encode("utf-8", "surrogatepass")) % BUCKET_COUNT

    def assignment_source(self, message: Message) -> str:
        return source_stream_of(message)


class _PinnedByCorrelation(_Pinned):
    name = PINNED_BY_CORRELATION

    def assignment_source(self, message: Message) -> str:
        record = message.event if message.event is not None else message.link
        assert record is not None
        correlation = correlation_id_of(record.custom_metadata)
        return source_stream_of(message) if correlation is None else correlation


def source_stream_of(message: Message) -> str:
    """``GetSourceStreamId``: the event's stream; for an unresolved link, its target's."""
    record = message.event if message.event is not None else message.link
    assert record is not None
    if record.event_type == LINK_EVENT_TYPE:
        text = record.data.decode("utf-8", "replace")
        _, at, stream = text.partition("@")
        return stream if at else text
    return record.stream_name


def correlation_id_of(metadata: bytes) -> str | None:
    """The string ``$correlationId`` of a JSON metadata object, else None."""
    if not metadata:
        return None
    try:
        value = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    correlation = value.get(CORRELATION_ID_PROPERTY)
    return correlation if isinstance(correlation, str) else None


def make_strategy(name: str) -> _Strategy:
    strategies: dict[str, Callable[[], _Strategy]] = {
        ROUND_ROBIN: _RoundRobin,
        DISPATCH_TO_SINGLE: _DispatchToSingle,
        PINNED: _Pinned,
        PINNED_BY_CORRELATION: _PinnedByCorrelation,
    }
    return strategies[name]()


# ---- the group ------------------------------------------------------------------------------


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
        self.checkpoint_stream = f"$persistentsubscription-{self.key}-checkpoint"
        self.parked_stream = f"$persistentsubscription-{self.key}-parked"
        self._now = now
        self._predicate = None if config.event_filter is None else config.event_filter.predicate()
        self.consumers: dict[uuid.UUID, Consumer] = {}
        self._strategy = make_strategy(self.settings.consumer_strategy)
        self._read_buffer: deque[_Buffered] = deque()
        self._read_count = 0  # messages (not skip markers) in the read buffer
        self._retry_buffer: list[Message] = []
        self.outstanding: dict[uuid.UUID, Message] = {}
        self._sequence_heap: list[tuple[int, uuid.UUID]] = []
        self._next_sequence = 0
        self._last_checkpointed_sequence = -1
        self._last_known_sequence = -1
        self._last_known_position: int | None = None
        self._last_checkpoint_time = _LONG_AGO
        self.last_checkpoint: int | None = None
        self.last_known_event_position: int | None = None
        self.total_items = 0
        self._last_total_items = 0
        self._last_measurement_time = now()
        self.replaying_parked = False
        self.closed = False
        # Called when pull() stopped at its scan budget with more to read.
        self.on_more: Callable[[], None] | None = None
        # The read cursor: next event number (stream) or last position read past ($all).
        self._next_revision = 0
        self._after_position = -1
        self._load_checkpoint()

    # ---- start ----

    def _load_checkpoint(self) -> None:
        checkpoint = self._read_checkpoint()
        store = self.store
        if checkpoint is None:
            start = self.config.start_from
            if is_live_start(start):
                if self.is_all:
                    self._after_position = store.last_position
                else:
                    self._next_revision = store.last_revision(self.config.source) + 1
            elif isinstance(start, tuple):
                self._after_position = start[0] - 1
            else:
                self._next_revision = start
            return
        if self.is_all:
            self._after_position = checkpoint
        else:
            self._next_revision = checkpoint + 1
        self._next_sequence = 1
        self._last_checkpointed_sequence = 0
        self._last_known_sequence = 0
        self._last_known_position = checkpoint
        self.last_checkpoint = checkpoint

    def _read_checkpoint(self) -> int | None:
        try:
            found = self.store.read_stream(self.checkpoint_stream, None, 1, backwards=True)
        except StreamDeletedError:
            return None
        if found is None or not found.records:
            return None
        record = found.records[0]
        if record.event_type not in (CHECKPOINT_EVENT_TYPE, LEGACY_CHECKPOINT_EVENT_TYPE):
            return None
        try:
            text = json.loads(record.data)
            return parse_position(self.is_all, str(text))
        except ValueError:
            return None

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
                self.outstanding.pop(event_id, None)  # Skip
        self._remove_processing(event_ids)
        self._try_mark_checkpoint(is_time_check=False)
        self.pull()

    def _remove_processing(self, event_ids: Sequence[uuid.UUID]) -> None:
        for consumer in self.consumers.values():
            consumer.remove_from_processing(event_ids)
        outstanding = self.outstanding
        for event_id in event_ids:
            outstanding.pop(event_id, None)

    # ---- clock ----

    def tick(self) -> None:
        """``NotifyClockTick``: retry (or park) timed-out messages, maybe checkpoint."""
        if self.closed:
            return
        now = self._now()
        expired = [m for m in self.outstanding.values() if m.expires < now]
        for message in expired:
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
        self.outstanding.pop(message.event_id, None)
        for consumer in self.consumers.values():
            consumer.remove_from_processing((message.event_id,))
        message.retry_count += 1
        message.expires = _INFINITY
        self._add_retry(message)

    def _add_retry(self, message: Message) -> None:
        """``StreamBuffer.AddRetry``: parked replays at the end, others in position order."""
        retry = self._retry_buffer
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

    def _park(self, message: Message, reason: str) -> None:
        """Write the message to the parked stream as a link, then forget it."""
        event = message.event
        if event is None:
            assert message.link is not None
            data = message.link.data
        else:
            data = f"{event.revision}@{event.stream_name}".encode()
        metadata: dict[str, object] = {"added": _iso_now(self.store.clock()), "reason": reason}
        if message.original_event_number != 0:  # DefaultValueHandling.Ignore
            metadata["subscriptionEventNumber"] = message.original_event_number
        parked = ProposedEvent(
            uuid.uuid4(), LINK_EVENT_TYPE, False, data, json.dumps(metadata, indent=2).encode()
        )
        # On failure the server logs "possible message loss" and moves on.
        with contextlib.suppress(StreamDeletedError):
            self.store.append(self.parked_stream, ANY, [parked])
        self.outstanding.pop(message.event_id, None)
        for consumer in self.consumers.values():
            consumer.remove_from_processing((message.event_id,))

    @property
    def parked_message_count(self) -> int:
        last = self.store.last_revision(self.parked_stream)
        if last < 0:
            return 0
        truncate_before = self.store.metadata(self.parked_stream).truncate_before
        if truncate_before is None or truncate_before <= 0:
            return last + 1
        return max(0, last - truncate_before + 1)

    def replay_parked(self, stop_at: int | None) -> None:
        """``RetryParkedMessages``: queue the parked messages (those before ``stop_at``) as
        retries, then truncate the parked stream before the last one replayed."""
        if self.replaying_parked or self.closed:
            return
        store = self.store
        end = store.last_revision(self.parked_stream)
        try:
            last = store.read_stream(self.parked_stream, None, 1, backwards=True)
        except StreamDeletedError:
            return
        if last is None or end < 0:
            return
        stop = end + 1 if stop_at is None else min(stop_at, end + 1)
        if stop <= 0:
            return
        self.replaying_parked = True
        try:
            found = store.read_stream(self.parked_stream, 0, stop)
            for record in [] if found is None else found.records:
                if record.revision >= stop:
                    break
                if record.event_type == LINK_EVENT_TYPE:  # parked messages are read resolved
                    target = store.resolve_link(record, may_read=None)  # see Message
                    message = Message(target, record, None, replayed=True)
                else:
                    message = Message(record, None, None, replayed=True)
                self._retry_buffer.append(message)
            self._truncate_parked(stop)
        finally:
            self.replaying_parked = False
        self._push()

    def _truncate_parked(self, truncate_before: int) -> None:
        acl = {key: _ADMINS for key in ("$w", "$d", "$r", "$mw", "$mr")}
        data = json.dumps({"$tb": truncate_before, "$acl": acl}, indent=2).encode()
        event = ProposedEvent(uuid.uuid4(), METADATA_EVENT_TYPE, True, data, b"")
        with contextlib.suppress(StreamDeletedError):
            self.store.append(metastream_of(self.parked_stream), ANY, [event])

    # ---- reading the source ----

    def pull(self) -> None:
        """Read what the buffer can take from the source, then push to consumers. Stops
        after :data:`SCAN_BUDGET` records and calls ``on_more`` if there is more to read."""
        if self.closed:
            return
        if self._fill(SCAN_BUDGET) and self.on_more is not None:
            self.on_more()
        self._push()

    def _buffer_count(self) -> int:
        return self._read_count + len(self._retry_buffer)

    def _batch_size(self) -> int:
        """``PersistentSubscriptionStreamReader``: max(batch, 10) capped at 100 (20 for 0)."""
        batch = self.settings.read_batch_size
        pulled = min(batch if batch != 0 else 20, MAX_PULL_BATCH_SIZE)
        return max(1, min(max(batch, 10), pulled))

    def _fill(self, budget: int) -> bool:
        """``TryReadingNewBatch`` while the buffer can accept a batch; True if it stopped at
        the budget with more to read."""
        history = self.settings.history_buffer_size
        threshold = self.settings.read_batch_size
        while history - self._buffer_count() > threshold:
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
                self._add_skipped(record.position)
        return len(records)

    def _message_for(self, record: Record, position: int) -> Message:
        if self.settings.resolve_links and record.event_type == LINK_EVENT_TYPE:
            return Message(self.store.resolve_link(record, may_read=None), record, position)
        return Message(record, None, position)

    def _add_read(self, message: Message) -> None:
        self._read_buffer.append(message)
        self._read_count += 1
        position = message.position
        assert position is not None
        known = self.last_known_event_position
        if known is None or known < position:
            self.last_known_event_position = position

    def _add_skipped(self, position: int) -> None:
        buffer = self._read_buffer
        if buffer and isinstance(buffer[-1], _Skipped):
            last = buffer[-1]
            last.position = position
            last.count += 1
        else:
            buffer.append(_Skipped(position, 1))

    def has_more_to_read(self) -> bool:
        if self.is_all:
            return self.store.last_position > self._after_position
        return self.store.last_revision(self.config.source) >= self._next_revision

    # ---- pushing ----

    def _push(self) -> None:
        """``TryPushingMessagesToClients``: retries first, then the read buffer, in order."""
        if self.closed or not self.consumers:
            return
        retry = self._retry_buffer
        index = 0
        while index < len(retry):
            result = self._try_push(retry[index])
            if result is PushResult.SENT:
                del retry[index]
            elif result is PushResult.SKIPPED:
                index += 1
            else:
                return
        buffer = self._read_buffer
        kept: list[_Buffered] = []
        try:
            while buffer:
                entry = buffer[0]
                if isinstance(entry, _Skipped):
                    buffer.popleft()
                    if kept:
                        kept.append(entry)
                    else:
                        self._handle_skipped(entry)
                    continue
                result = self._try_push(entry)
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

    def _try_push(self, message: Message) -> PushResult:
        new_sequence = not message.replayed and message.sequence is None
        if new_sequence:
            message.sequence = self._next_sequence
            message.previous_position = self._last_known_position
        result = self._strategy.push(message)
        if result is PushResult.SENT:
            if new_sequence:
                self._next_sequence += 1
            self._begin_processing(message)
        elif new_sequence:
            message.sequence = None
            message.previous_position = None
        return result

    def _begin_processing(self, message: Message) -> None:
        """``MarkBeginProcessing`` + ``StartMessage``."""
        self.total_items += 1
        sequence = message.sequence
        if sequence is not None and sequence > self._last_known_sequence:
            self._last_known_sequence = sequence
            self._last_known_position = message.position
        timeout = self.settings.message_timeout_ms / 1000
        message.expires = self._now() + timeout
        if message.event_id in self.outstanding:
            return  # StartMessageResult.SkippedDuplicate
        self.outstanding[message.event_id] = message
        if sequence is not None:
            heapq.heappush(self._sequence_heap, (sequence, message.event_id))

    def _handle_skipped(self, skipped: _Skipped) -> None:
        self._last_known_position = skipped.position
        self._next_sequence += skipped.count
        self._last_known_sequence = self._next_sequence - 1
        self._try_mark_checkpoint(is_time_check=False)

    # ---- checkpoints ----

    def _lowest_outstanding(self) -> Message | None:
        heap = self._sequence_heap
        outstanding = self.outstanding
        while heap:
            sequence, event_id = heap[0]
            message = outstanding.get(event_id)
            if message is not None and message.sequence == sequence:
                return message
            heapq.heappop(heap)
        return None

    def _try_mark_checkpoint(self, *, is_time_check: bool) -> None:
        """``TryMarkCheckpoint``: checkpoint the position below which all is acked."""
        lowest = self._lowest_outstanding()
        lowest_sequence: float = _INFINITY
        if lowest is not None and lowest.sequence is not None:
            lowest_sequence = lowest.sequence
        for message in self._retry_buffer:
            sequence = message.sequence
            if message.replayed or sequence is None:
                continue
            if sequence < lowest_sequence:
                lowest, lowest_sequence = message, sequence
        if lowest is not None:
            sequence_done = int(lowest_sequence) - 1
            position = lowest.previous_position
            if position is None:
                return  # nothing acked yet and no earlier checkpoint
        else:
            sequence_done = self._last_known_sequence
            position = self._last_known_position
        if sequence_done == -1 or position is None:
            return
        difference = sequence_done - self._last_checkpointed_sequence
        now = self._now()
        after_ms = self.settings.checkpoint_after_ms
        after = _INFINITY if after_ms == 0 else after_ms / 1000
        maximum = self.settings.max_checkpoint_count
        if now - self._last_checkpoint_time < after and difference < maximum:
            return
        if (difference >= self.settings.min_checkpoint_count and is_time_check) or (
            difference >= maximum
        ):
            self._last_checkpoint_time = now
            self._last_checkpointed_sequence = sequence_done
            self._write_checkpoint(position)
            self.last_checkpoint = position

    def _write_checkpoint(self, position: int) -> None:
        store = self.store
        stream = self.checkpoint_stream
        try:
            if store.last_revision(stream) < 0 and store.last_revision(metastream_of(stream)) < 0:
                acl = {"$w": _ADMINS, "$d": _ADMINS, "$r": _ADMINS, "$mw": _ADMINS, "$mr": "$all"}
                metadata = json.dumps({"$maxCount": 2, "$acl": acl}, indent=2).encode()
                event = ProposedEvent(uuid.uuid4(), METADATA_EVENT_TYPE, True, metadata, b"")
                store.append(metastream_of(stream), ANY, [event])
            data = json.dumps(position_text(self.is_all, position)).encode()
            checkpoint = ProposedEvent(uuid.uuid4(), CHECKPOINT_EVENT_TYPE, True, data, b"")
            store.append(stream, ANY, [checkpoint])
        except StreamDeletedError:
            pass

    def delete_streams(self) -> None:
        """Delete: soft-delete the checkpoint and parked streams."""
        for stream in (self.checkpoint_stream, self.parked_stream):
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
    def read_buffer_count(self) -> int:
        return self._read_count

    @property
    def retry_buffer_count(self) -> int:
        return len(self._retry_buffer)

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


_STATE_ORDER = ["Behind", "OutstandingPageRequest", "ReplayingParkedMessages", "Live"]


def _rate(count: int, elapsed: float) -> int:
    return int(count / elapsed) if elapsed > 0 else 0


def _iso_now(ticks: int) -> str:
    """``DateTime`` in Newtonsoft's ISO form (7 fraction digits, trailing zeros dropped)."""
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ticks // 10)
    fraction = f"{ticks % 10_000_000:07d}".rstrip("0")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction}+00:00" if fraction else f"{text}+00:00"


# ---- the subsystem ------------------------------------------------------------------------------


class Subsystem:
    """All groups of one store (``PersistentSubscriptionService``)."""

    def __init__(
        self, store: EventStore, *, now: Callable[[], float], username: str = "system"
    ) -> None:
        self.store = store
        self._now = now
        self.username = username
        self.started = False
        self.groups: dict[str, Group] = {}
        # Event source -> its groups, in creation order (kept after the last one is deleted,
        # until a restart, as the server's _subscriptionTopics).
        self.topics: dict[str, list[Group]] = {}
        self.entries: list[GroupConfig] = []
        self.start()

    # ---- lifecycle ----

    def start(self) -> None:
        """Load the configuration and build every group (``StartSubscriptions``)."""
        self.groups = {}
        self.topics = {}
        self.entries = []
        for entry in load_config(self.store):
            if entry.settings.consumer_strategy not in STRATEGIES or entry.key in self.groups:
                continue
            try:
                group = self._build(entry)
            except GroupFailed:
                continue
            self.entries.append(entry)
            self._attach(group)
        self.started = True

    def stop(self) -> None:
        self.started = False
        for group in self.groups.values():
            group.shutdown()

    def restart(self) -> None:
        if not self.started:
            raise SubsystemStopped
        self.stop()
        self.start()

    def _build(self, config: GroupConfig) -> Group:
        check_buffer_sizes(config.settings)
        return Group(self.store, config, now=self._now)

    def _attach(self, group: Group) -> None:
        self.groups[group.key] = group
        self.topics.setdefault(group.config.source, []).append(group)

    # ---- create, update, delete ----

    def create(self, config: GroupConfig) -> Group:
        validate_settings(config.settings)
        validate_start_from(config.start_from, self.store.last_position)
        if config.key in self.groups:
            raise GroupExists
        group = self._build(config)
        self._attach(group)
        self.entries.append(config)
        self._save()
        return group

    def update(self, config: GroupConfig) -> Group:
        old = self.groups.get(config.key)
        if old is None:
            raise GroupNotFound
        validate_settings(config.settings)
        validate_start_from(config.start_from, self.store.last_position)
        if config.is_all:  # the filter cannot change
            config = replace(config, event_filter=old.config.event_filter)
        group = self._build(config)
        old.shutdown()
        self.groups[config.key] = group
        topic = self.topics[config.source]
        topic[topic.index(old)] = group
        self.entries = [config if e.key == config.key else e for e in self.entries]
        self._save()
        return group

    def delete(self, source: str, group_name: str) -> None:
        key = subscription_key(source, group_name)
        group = self.groups.pop(key, None)
        if group is None:
            raise GroupNotFound
        group.shutdown()
        self.topics[source].remove(group)
        self.entries = [e for e in self.entries if e.key != key]
        group.delete_streams()
        self._save()

    def _save(self) -> None:
        save_config(self.store, self.entries, self.username)

    # ---- queries ----

    def get(self, source: str, group_name: str) -> Group:
        if source not in self.topics:
            raise GroupNotFound
        group = self.groups.get(subscription_key(source, group_name))
        if group is None:
            raise GroupNotFound
        return group

    def list(self, source: str | None = None) -> list[Group]:
        if source is None:
            return [group for topic in sorted(self.topics) for group in self.topics[topic]]
        groups = self.topics.get(source)
        if groups is None:
            raise GroupNotFound
        return list(groups)

    def tick(self) -> None:
        for group in list(self.groups.values()):
            group.tick()


# ---- the persisted configuration ----------------------------------------------------------------


def config_entry(config: GroupConfig) -> dict[str, object]:
    """One ``PersistentSubscriptionEntry`` as Newtonsoft writes it (camelCase, defaults
    and nulls left out)."""
    settings = config.settings
    start = config.start_from
    values: list[tuple[str, object]] = [
        ("stream", config.source),
        ("group", config.group),
        ("filter", None if config.event_filter is None else _filter_entry(config.event_filter)),
        ("resolveLinkTos", settings.resolve_links),
        ("extraStatistics", settings.extra_statistics),
        ("messageTimeout", settings.message_timeout_ms),
        ("startFrom", _MIN_LONG if isinstance(start, tuple) else start),
        ("startPosition", start_from_text(start)),
        ("liveBufferSize", settings.live_buffer_size),
        ("historyBufferSize", settings.history_buffer_size),
        ("maxRetryCount", settings.max_retry_count),
        ("readBatchSize", settings.read_batch_size),
        ("preferRoundRobin", False),
        ("checkPointAfter", settings.checkpoint_after_ms),
        ("minCheckPointCount", settings.min_checkpoint_count),
        ("maxCheckPointCount", settings.max_checkpoint_count),
        ("maxSubscriberCount", settings.max_subscriber_count),
        ("namedConsumerStrategy", settings.consumer_strategy),
    ]
    return {key: value for key, value in values if value not in (None, False, 0)}


def _filter_entry(spec: EventFilterSpec) -> dict[str, object]:
    return {"context": spec.context, "type": spec.kind, "data": spec.data, "isAllStream": True}


def save_config(store: EventStore, entries: Sequence[GroupConfig], username: str) -> None:
    """Write the whole configuration to ``$persistentSubscriptionConfig`` (maxCount 2)."""
    if store.last_revision(metastream_of(CONFIG_STREAM)) < 0:
        metadata = json.dumps({"$maxCount": 2}, indent=2).encode()
        event = ProposedEvent(uuid.uuid4(), METADATA_EVENT_TYPE, True, metadata, b"")
        store.append(metastream_of(CONFIG_STREAM), ANY, [event])
    document = {
        "version": "2",
        "updated": _iso_now(store.clock()),
        "updatedBy": username,
        "entries": [config_entry(entry) for entry in entries],
    }
    data = json.dumps(document, indent=2).encode()
    event = ProposedEvent(uuid.uuid4(), CONFIG_EVENT_TYPE, True, data, b"")
    store.append(CONFIG_STREAM, ANY, [event])


def load_config(store: EventStore) -> list[GroupConfig]:
    """The entries of the last ``$persistentSubscriptionConfig`` event (none if unreadable)."""
    try:
        found = store.read_stream(CONFIG_STREAM, None, 1, backwards=True)
    except StreamDeletedError:
        return []
    if found is None or not found.records:
        return []
    try:
        document = json.loads(found.records[0].data)
    except ValueError:
        return []
    if not isinstance(document, dict) or document.get("version") is None:
        return []
    configs: list[GroupConfig] = []
    for entry in document.get("entries") or []:
        config = _config_from_entry(entry)
        if config is not None:
            configs.append(config)
    return configs


def _config_from_entry(entry: object) -> GroupConfig | None:
    if not isinstance(entry, dict):
        return None

    def number(key: str) -> int:
        value = entry.get(key, 0)
        return value if isinstance(value, int) else 0

    source = str(entry.get("stream") or "")
    group = str(entry.get("group") or "")
    strategy = entry.get("namedConsumerStrategy") or (
        ROUND_ROBIN if entry.get("preferRoundRobin") else DISPATCH_TO_SINGLE
    )
    settings = GroupSettings(
        resolve_links=bool(entry.get("resolveLinkTos", False)),
        extra_statistics=bool(entry.get("extraStatistics", False)),
        message_timeout_ms=number("messageTimeout"),
        max_retry_count=number("maxRetryCount"),
        live_buffer_size=number("liveBufferSize"),
        history_buffer_size=number("historyBufferSize"),
        read_batch_size=number("readBatchSize"),
        checkpoint_after_ms=number("checkPointAfter"),
        min_checkpoint_count=number("minCheckPointCount"),
        max_checkpoint_count=number("maxCheckPointCount"),
        max_subscriber_count=number("maxSubscriberCount"),
        consumer_strategy=str(strategy),
    )
    is_all = source == ALL_STREAM
    start_text = entry.get("startPosition")
    if not isinstance(start_text, str):
        start_text = str(number("startFrom"))
    try:
        start: StartFrom = _parse_all_position(start_text) if is_all else int(start_text)
    except ValueError:
        return None
    event_filter = None
    raw_filter = entry.get("filter")
    if is_all and isinstance(raw_filter, dict):
        context, kind, data = (raw_filter.get(k) for k in ("context", "type", "data"))
        if context not in ("streamid", "eventtype") or kind not in ("regex", "prefix"):
            return None
        if not isinstance(data, str) or not data:
            return None
        event_filter = EventFilterSpec(str(context), str(kind), data)
        try:
            event_filter.predicate()
        except re.error:
            return None
    return GroupConfig(source, group, start, settings, event_filter)
