"""Persistent subscriptions through esdb_wire's own clients (sync and asyncio), against the
embedded server and against the same service logic hosted by grpcio."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from uuid import uuid4

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from esdb_wire.exceptions import AlreadyExists, CancelledByClient, NotFound
from tests.servers import SERVER_KINDS, running_server


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "grpcio":
        from tests.peers import require_peer  # noqa: PLC0415

        require_peer("grpc")
    with running_server(request.param) as address:
        yield address


@pytest.fixture
def client(uri: str) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(uri) as esdb:
        yield esdb


def seed(client: EventStoreDBClient, count: int) -> str:
    name = f"ps-{uuid4()}"
    events = [NewEvent("Work", b'{"n": %d}' % i) for i in range(count)]
    for start in range(0, count, 500):
        client.append_to_stream(
            name, current_version=StreamState.ANY, events=events[start : start + 500]
        )
    return name


def test_management_round_trip(client: EventStoreDBClient) -> None:
    stream = seed(client, 3)
    client.create_subscription_to_stream(
        "g", stream, consumer_strategy="RoundRobin", max_retry_count=4
    )
    with pytest.raises(AlreadyExists):
        client.create_subscription_to_stream("g", stream)
    info = client.get_subscription_info("g", stream)
    assert (info.group_name, info.event_source, info.consumer_strategy) == (
        "g",
        stream,
        "RoundRobin",
    )
    assert info.max_retry_count == 4
    assert [i.group_name for i in client.list_subscriptions_to_stream(stream)] == ["g"]
    assert any(i.event_source == stream for i in client.list_subscriptions())
    client.update_subscription_to_stream("g", stream, max_retry_count=7, message_timeout=12.5)
    updated = client.get_subscription_info("g", stream)
    assert (updated.max_retry_count, updated.message_timeout) == (7, 12.5)
    assert updated.consumer_strategy == "RoundRobin"  # kept
    client.delete_subscription("g", stream)
    with pytest.raises(NotFound):
        client.get_subscription_info("g", stream)
    assert client.list_subscriptions_to_stream(stream) == []


def test_three_competing_consumers_each_event_acked_once(client: EventStoreDBClient) -> None:
    stream = seed(client, 3000)
    client.create_subscription_to_stream("workers", stream, consumer_strategy="RoundRobin")
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    done = threading.Event()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            with client.read_subscription_to_stream("workers", stream, timeout=30) as sub:
                for event in sub:
                    sub.ack(event)
                    with lock:
                        seen[event.stream_position] += 1
                        if len(seen) == 3000:
                            done.set()
                    if done.is_set():
                        return
        except BaseException as exc:
            if not done.is_set():
                failures.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert done.wait(60)
    for thread in threads:
        thread.join(30)
    assert not failures
    assert sorted(seen) == list(range(3000))
    assert set(seen.values()) == {1}


def test_nack_retry_then_park_then_replay(client: EventStoreDBClient) -> None:
    stream = seed(client, 1)
    client.create_subscription_to_stream("g", stream, max_retry_count=2)
    deliveries: list[int] = []
    with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
        for event in sub:
            assert isinstance(event, RecordedEvent)
            deliveries.append(event.retry_count or 0)
            sub.nack(event, action="retry")
            if len(deliveries) == 3:
                break
    assert deliveries == [0, 1, 2]
    # The next retry is due with retry_count >= max_retry_count: the message is parked.
    with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
        info = client.get_subscription_info("g", stream)
        for _ in range(50):
            if info.parked_message_count:
                break
            threading.Event().wait(0.05)
            info = client.get_subscription_info("g", stream)
        assert info.parked_message_count == 1
        client.replay_parked_events("g", stream)
        replayed = next(sub)
        assert replayed.stream_name == stream
        assert replayed.link is not None  # parked messages come back as resolved links
        sub.ack(replayed)  # by ack_id (the link's id)


def test_park_explicitly_and_skip(client: EventStoreDBClient) -> None:
    stream = seed(client, 2)
    client.create_subscription_to_stream("g", stream)
    with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
        first, second = next(sub), next(sub)
        sub.nack(first, action="park", reason="poison")
        sub.nack(second, action="skip")
    for _ in range(50):
        if client.get_subscription_info("g", stream).parked_message_count == 1:
            break
        threading.Event().wait(0.05)
    assert client.get_subscription_info("g", stream).parked_message_count == 1


def test_unacked_events_go_to_the_next_consumer(client: EventStoreDBClient) -> None:
    stream = seed(client, 5)
    client.create_subscription_to_stream("g", stream)
    first = client.read_subscription_to_stream("g", stream, timeout=20)
    taken = [next(first).stream_position for _ in range(5)]
    first.stop()  # leaves without acking: the in-flight events are retried elsewhere
    with client.read_subscription_to_stream("g", stream, timeout=20) as second:
        again = [next(second) for _ in range(5)]
    assert sorted(e.stream_position for e in again) == taken
    assert all((e.retry_count or 0) >= 1 for e in again)


def test_message_timeout_redelivers(client: EventStoreDBClient) -> None:
    stream = seed(client, 1)
    client.create_subscription_to_stream("g", stream, message_timeout=0.3)
    with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
        first = next(sub)
        again = next(sub)  # not acked: redelivered after the timeout
    assert again.id == first.id
    assert again.retry_count == 1


def test_update_drops_consumers(client: EventStoreDBClient) -> None:
    stream = seed(client, 1)
    client.create_subscription_to_stream("g", stream)
    sub = client.read_subscription_to_stream("g", stream, timeout=20)
    sub.ack(next(sub))
    client.update_subscription_to_stream("g", stream, max_retry_count=1)
    with pytest.raises(CancelledByClient) as info:
        next(sub)
    assert "was dropped" in str(info.value)
    sub.stop()


def test_subscription_to_all_with_a_filter(client: EventStoreDBClient) -> None:
    marker = f"Marker{uuid4().hex[:8]}"
    client.create_subscription_to_all(f"all-{marker}", filter_include=[marker], from_end=True)
    client.append_to_stream(
        f"ps-{uuid4()}", current_version=StreamState.ANY, events=NewEvent(marker, b"{}")
    )
    with client.read_subscription_to_all(f"all-{marker}", timeout=20) as sub:
        event = next(sub)
        assert event.type == marker
        sub.ack(event)
    client.delete_subscription(f"all-{marker}")


def test_asyncio_consumer(uri: str) -> None:
    async def main() -> None:
        async with AsyncEventStoreDBClient(uri) as client:
            name = f"ps-{uuid4()}"
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=[NewEvent("A", b"{}")] * 1
            )
            await client.append_to_stream(name, current_version=0, events=NewEvent("B", b"{}"))
            await client.create_subscription_to_stream("g", name)
            sub = await client.read_subscription_to_stream("g", name, timeout=20)
            got = []
            async for event in sub:
                got.append(event.type)
                await sub.ack(event)
                if len(got) == 2:
                    break
            await sub.stop()
            assert got == ["A", "B"]
            info = await client.get_subscription_info("g", name)
            assert info.group_name == "g"
            assert [i.group_name for i in await client.list_subscriptions_to_stream(name)] == ["g"]
            await client.delete_subscription("g", name)

    asyncio.run(asyncio.wait_for(main(), 60))
