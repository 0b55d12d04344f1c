"""The persistent subscription scenarios driven by esdbclient 1.1.7 over real sockets.

The service is mounted with the Streams service on :class:`~esdb_wire.server.host.GrpcHost`
(our own gRPC transport) on an event loop thread, as the embedded server runs it, and on
grpcio.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from esdb_wire.protos import persistent_pb2, shared_pb2, status_pb2, streams_pb2
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.rpc import Method, message_types, methods_of
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from tests.peers import require_peer

pytestmark = pytest.mark.peers

T = TypeVar("T")
DEADLINE = 30.0  # every subscription call gets a gRPC deadline: a lost event fails, never hangs
_TYPES = message_types(shared_pb2, status_pb2, streams_pb2, persistent_pb2)


def build_methods(
    store: EventStore, persistent: PersistentSubscriptionsService
) -> dict[str, Method]:
    methods: dict[str, Method] = {}
    services = [
        (StreamsService(store), streams_pb2.DESCRIPTOR.services_by_name["Streams"]),
        (persistent, persistent_pb2.DESCRIPTOR.services_by_name["PersistentSubscriptions"]),
    ]
    for service, descriptor in services:
        methods.update(methods_of(service, descriptor, _TYPES))
    return methods


class Server:
    """Streams + PersistentSubscriptions on an event loop thread: on our GrpcHost, or on
    grpcio (an independent gRPC implementation, see tests/grpcio_host.py)."""

    def __init__(self, kind: str) -> None:
        self.store = EventStore()
        self.persistent = PersistentSubscriptionsService(self.store, tick_interval=0.05)
        methods = build_methods(self.store, self.persistent)
        self.grpcio: Any = None
        if kind == "grpcio":
            from tests.grpcio_host import GrpcioHost  # noqa: PLC0415 (needs grpcio)

            self.grpcio = GrpcioHost(methods)
            self.loop = self.grpcio.loop
            self.port = self.grpcio.port
            return
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.host = GrpcHost(methods)
        self.port = self.call(self.host.start("127.0.0.1", 0))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def stop(self) -> None:
        async def close() -> None:
            self.persistent.close()

        self.call(close())
        if self.grpcio is not None:
            self.grpcio.stop()
            return
        self.call(self.host.stop(0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def esdbclient() -> Any:
    return require_peer("esdbclient")


@pytest.fixture(scope="module", params=["ours", "grpcio"])
def server(request: pytest.FixtureRequest, esdbclient: Any) -> Iterator[Server]:
    running = Server(request.param)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(esdbclient: Any, server: Server) -> Iterator[Any]:
    connected = esdbclient.EventStoreDBClient(uri=f"esdb://127.0.0.1:{server.port}?Tls=false")
    try:
        yield connected
    finally:
        connected.close()


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def append(esdbclient: Any, client: Any, stream: str, count: int) -> list[uuid.UUID]:
    events = [esdbclient.NewEvent(type="Happened", data=b'{"n":%d}' % i) for i in range(count)]
    client.append_to_stream(stream, current_version=esdbclient.StreamState.ANY, events=events)
    return [e.id for e in events]


def eventually(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll ``check`` until it returns something truthy (for server-side effects of acks)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_competing_consumers_each_event_acked_once(esdbclient: Any, client: Any) -> None:
    stream, group = new_name("orders"), new_name("workers")
    expected = append(esdbclient, client, stream, 300)
    client.create_subscription_to_stream(group, stream, consumer_strategy="RoundRobin")
    subscriptions = [
        client.read_subscription_to_stream(group, stream, event_buffer_size=20, timeout=DEADLINE)
        for _ in range(3)
    ]
    assert all(s.subscription_id == f"{stream}::{group}" for s in subscriptions)
    deliveries: Counter[uuid.UUID] = Counter()
    per_consumer: list[int] = [0, 0, 0]
    lock = threading.Lock()
    done = threading.Event()

    def work(index: int) -> None:
        subscription = subscriptions[index]
        for recorded in subscription:
            assert recorded.retry_count == 0
            with lock:
                deliveries[recorded.id] += 1
                per_consumer[index] += 1
                if len(deliveries) == len(expected):
                    done.set()
            subscription.ack(recorded)

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(work, i) for i in range(3)]
        assert done.wait(DEADLINE)
        time.sleep(0.3)  # a redelivery would show up now
        for subscription in subscriptions:
            subscription.stop()
        for future in futures:
            future.result(DEADLINE)
    assert set(deliveries) == set(expected)
    assert set(deliveries.values()) == {1}
    assert all(count > 0 for count in per_consumer), per_consumer
    info = eventually(
        lambda: (
            (i := client.get_subscription_info(group, stream)).outstanding_messages_count == 0 and i
        )
    )
    assert info
    assert info.total_items == 300
    assert info.parked_message_count == 0


def test_nack_retry_park_and_replay(esdbclient: Any, client: Any) -> None:
    stream, group = new_name("jobs"), new_name("g")
    ids = append(esdbclient, client, stream, 3)
    client.create_subscription_to_stream(group, stream, max_retry_count=5)
    subscription = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    first, second, third = (next(subscription) for _ in range(3))
    assert [e.id for e in (first, second, third)] == ids
    subscription.nack(first, "park")
    subscription.nack(second, "retry")
    subscription.ack(third)
    retried = next(subscription)
    assert (retried.id, retried.retry_count) == (ids[1], 1)
    subscription.ack(retried)
    info = eventually(lambda: client.get_subscription_info(group, stream).parked_message_count)
    assert info == 1
    client.replay_parked_events(group, stream)
    replayed = next(subscription)
    assert replayed.id == ids[0]
    assert replayed.retry_count == 0
    assert replayed.link is not None  # parked messages come back through their parked link
    assert replayed.link.stream_name == f"$persistentsubscription-{stream}::{group}-parked"
    assert replayed.ack_id == replayed.link.id
    subscription.ack(replayed)
    done = eventually(
        lambda: (
            (i := client.get_subscription_info(group, stream)).outstanding_messages_count == 0
            and i.parked_message_count == 0
        )
    )
    assert done
    subscription.stop()


def test_update_drops_consumers(esdbclient: Any, client: Any) -> None:
    stream, group = new_name("upd"), new_name("g")
    append(esdbclient, client, stream, 2)
    client.create_subscription_to_stream(group, stream)
    subscription = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    next(subscription)
    next(subscription)
    client.update_subscription_to_stream(group, stream, max_retry_count=3)
    with pytest.raises(esdbclient.exceptions.GrpcError) as caught:
        next(subscription)
    rpc_error = caught.value.args[0]
    assert rpc_error.code().name == "CANCELLED"
    assert rpc_error.details() == f"Subscription group {group} on stream {stream} was dropped."
    subscription.stop()
    info = client.get_subscription_info(group, stream)
    assert info.max_retry_count == 3
    assert info.start_from == "0"  # esdbclient kept the start it read back from GetInfo


def test_info_list_delete(esdbclient: Any, client: Any) -> None:
    stream, group = new_name("info"), new_name("g")
    append(esdbclient, client, stream, 4)
    client.create_subscription_to_stream(
        group, stream, stream_position=1, consumer_strategy="Pinned", message_timeout=12.5
    )
    info = client.get_subscription_info(group, stream)
    assert (info.event_source, info.group_name) == (stream, group)
    assert info.start_from == "1"
    assert info.consumer_strategy == "Pinned"
    assert info.message_timeout == 12.5
    assert info.status in ("Live", "Behind")
    subscription = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    assert [next(subscription).stream_position for _ in range(3)] == [1, 2, 3]
    info = client.get_subscription_info(group, stream)
    assert info.total_in_flight_messages == 3
    assert info.last_known_event_position == "3"
    assert any(s.group_name == group for s in client.list_subscriptions())
    assert [s.group_name for s in client.list_subscriptions_to_stream(stream)] == [group]
    subscription.stop()
    client.delete_subscription(group, stream)
    with pytest.raises(esdbclient.exceptions.NotFound):
        client.get_subscription_info(group, stream)
    assert client.list_subscriptions_to_stream(stream) == []
    with pytest.raises(esdbclient.exceptions.NotFound):
        client.delete_subscription(group, stream)


def test_maximum_subscribers_and_duplicate(esdbclient: Any, client: Any) -> None:
    stream, group = new_name("max"), new_name("g")
    client.create_subscription_to_stream(group, stream, max_subscriber_count=1)
    with pytest.raises(esdbclient.exceptions.AlreadyExists):
        client.create_subscription_to_stream(group, stream)
    first = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    with pytest.raises(esdbclient.exceptions.MaximumSubscriptionsReached):
        client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    first.stop()


def test_subscription_to_all_with_a_filter(esdbclient: Any, client: Any) -> None:
    prefix = new_name("pfx")
    group = new_name("g")
    client.create_subscription_to_all(
        group, from_end=True, filter_include=[f"{prefix}-.*"], filter_by_stream_name=True
    )
    append(esdbclient, client, new_name("other"), 2)
    ids = append(esdbclient, client, f"{prefix}-a", 2)
    subscription = client.read_subscription_to_all(group, timeout=DEADLINE)
    assert subscription.subscription_id == f"$all::{group}"
    received = [next(subscription), next(subscription)]
    assert [e.id for e in received] == ids
    for recorded in received:
        subscription.ack(recorded)
    subscription.stop()
    info = client.get_subscription_info(group)
    assert info.event_source == "$all"
    assert info.start_from == "C:-1/P:-1"
