"""The consumer strategies: which connected consumer gets a message (``RoundRobin``,
``DispatchToSingle``, ``Pinned``, ``PinnedByCorrelation``, as the server's
``...PersistentSubscriptionConsumerStrategy`` classes)."""

from __future__ import annotations

import json
import math
import zlib
from collections import deque
from collections.abc import Callable
from typing import Final

from esdb_wire.server.persistent.consumers import Consumer, Message, PushResult
from esdb_wire.server.records import LINK_EVENT_TYPE

DISPATCH_TO_SINGLE: Final = "DispatchToSingle"
ROUND_ROBIN: Final = "RoundRobin"
PINNED: Final = "Pinned"
PINNED_BY_CORRELATION: Final = "PinnedByCorrelation"
STRATEGIES: Final = (DISPATCH_TO_SINGLE, ROUND_ROBIN, PINNED, PINNED_BY_CORRELATION)
CORRELATION_ID_PROPERTY: Final = "$correlationId"
BUCKET_COUNT: Final = 1024  # PinnedConsumerState.MaxBucketCount


class Strategy:
    """Hears consumers join and leave, and pushes each message to one of them."""

    name = ""

    def client_added(self, consumer: Consumer) -> None:
        raise NotImplementedError

    def client_removed(self, consumer: Consumer) -> None:
        raise NotImplementedError

    def push(self, message: Message) -> PushResult:
        raise NotImplementedError


class _RoundRobin(Strategy):
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


class _Pinned(Strategy):
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


def make_strategy(name: str) -> Strategy:
    strategies: dict[str, Callable[[], Strategy]] = {
        ROUND_ROBIN: _RoundRobin,
        DISPATCH_TO_SINGLE: _DispatchToSingle,
        PINNED: _Pinned,
        PINNED_BY_CORRELATION: _PinnedByCorrelation,
    }
    return strategies[name]()
