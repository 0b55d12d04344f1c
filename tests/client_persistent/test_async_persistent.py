"""Persistent subscriptions through AsyncEventStoreDBClient, against the embedded server and
against the same service logic hosted by grpcio (asyncio: the source of
``test_sync_persistent.py``, made by ``scripts/unasync.py``; competing consumers on threads
and tasks are in ``test_persistent_client.py``)."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    AsyncPersistentSubscription,
    NewEvent,
    RecordedEvent,
    StreamState,
    SubscriptionInfo,
)
from esdb_wire.client.aio_backend import async_sleep
from esdb_wire.exceptions import AlreadyExists, CancelledByClient, NotFound


async def seed(client: AsyncEventStoreDBClient, count: int) -> str:
    """A new stream of ``count`` events."""
    name = f"ps-{uuid4()}"
    events = [NewEvent("Work", b'{"n": %d}' % i) for i in range(count)]
    for start in range(0, count, 500):
        await client.append_to_stream(
            name, current_version=StreamState.ANY, events=events[start : start + 500]
        )
    return name


async def parked_messages(
    client: AsyncEventStoreDBClient, group: str, stream: str, count: int
) -> SubscriptionInfo:
    """The group's info once ``count`` messages are parked (or after 2.5 s)."""
    for _ in range(50):
        info = await client.get_subscription_info(group, stream)
        if info.parked_message_count >= count:
            break
        await async_sleep(0.05)
    return info


async def test_management_round_trip(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 3)
        await client.create_subscription_to_stream(
            "g", stream, consumer_strategy="RoundRobin", max_retry_count=4
        )
        with pytest.raises(AlreadyExists):
            await client.create_subscription_to_stream("g", stream)
        info = await client.get_subscription_info("g", stream)
        assert (info.group_name, info.event_source, info.consumer_strategy) == (
            "g",
            stream,
            "RoundRobin",
        )
        assert info.max_retry_count == 4
        groups = await client.list_subscriptions_to_stream(stream)
        assert [i.group_name for i in groups] == ["g"]
        assert any(i.event_source == stream for i in await client.list_subscriptions())
        await client.update_subscription_to_stream(
            "g", stream, max_retry_count=7, message_timeout=12.5
        )
        updated = await client.get_subscription_info("g", stream)
        assert (updated.max_retry_count, updated.message_timeout) == (7, 12.5)
        assert updated.consumer_strategy == "RoundRobin"  # kept
        await client.delete_subscription("g", stream)
        with pytest.raises(NotFound):
            await client.get_subscription_info("g", stream)
        assert await client.list_subscriptions_to_stream(stream) == []


async def test_consume_and_ack_in_order(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = f"ps-{uuid4()}"
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=[NewEvent("A", b"{}")]
        )
        await client.append_to_stream(name, current_version=0, events=NewEvent("B", b"{}"))
        await client.create_subscription_to_stream("g", name)
        sub = await client.read_subscription_to_stream("g", name, timeout=20)
        assert isinstance(sub, AsyncPersistentSubscription)
        assert sub.subscription_id
        got = []
        async for event in sub:
            got.append(event.type)
            await sub.ack(event)
            if len(got) == 2:
                break
        await sub.stop()
        await sub.stop()  # stopping twice is harmless
        assert got == ["A", "B"]
        info = await client.get_subscription_info("g", name)
        assert info.group_name == "g"
        await client.delete_subscription("g", name)


async def test_nack_retry_then_park_then_replay(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 1)
        await client.create_subscription_to_stream("g", stream, max_retry_count=2)
        deliveries: list[int] = []
        async with await client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            async for event in sub:
                assert isinstance(event, RecordedEvent)
                deliveries.append(event.retry_count or 0)
                await sub.nack(event, action="retry")
                if len(deliveries) == 3:
                    break
        assert deliveries == [0, 1, 2]
        # The next retry is due with retry_count >= max_retry_count: the message is parked.
        async with await client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            info = await parked_messages(client, "g", stream, 1)
            assert info.parked_message_count == 1
            await client.replay_parked_events("g", stream)
            replayed = await sub.__anext__()
            assert replayed.stream_name == stream
            assert replayed.link is not None  # parked messages come back as resolved links
            await sub.ack(replayed)  # by ack_id (the link's id)


async def test_park_explicitly_and_skip(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 2)
        await client.create_subscription_to_stream("g", stream)
        async with await client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            first, second = await sub.__anext__(), await sub.__anext__()
            await sub.nack(first, action="park", reason="poison")
            await sub.nack(second.ack_id, action="skip")
        info = await parked_messages(client, "g", stream, 1)
        assert info.parked_message_count == 1


async def test_unacked_events_go_to_the_next_consumer(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 5)
        await client.create_subscription_to_stream("g", stream)
        first = await client.read_subscription_to_stream("g", stream, timeout=20)
        taken = [(await first.__anext__()).stream_position for _ in range(5)]
        await first.stop()  # leaves without acking: the in-flight events are retried elsewhere
        async with await client.read_subscription_to_stream("g", stream, timeout=20) as second:
            again = [await second.__anext__() for _ in range(5)]
        assert sorted(e.stream_position for e in again) == taken
        assert all((e.retry_count or 0) >= 1 for e in again)


async def test_message_timeout_redelivers(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 1)
        await client.create_subscription_to_stream("g", stream, message_timeout=0.3)
        async with await client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            first = await sub.__anext__()
            again = await sub.__anext__()  # not acked: redelivered after the timeout
        assert again.id == first.id
        assert again.retry_count == 1


async def test_update_drops_consumers(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 1)
        await client.create_subscription_to_stream("g", stream)
        sub = await client.read_subscription_to_stream("g", stream, timeout=20)
        await sub.ack(await sub.__anext__())
        await client.update_subscription_to_stream("g", stream, max_retry_count=1)
        with pytest.raises(CancelledByClient) as info:
            await sub.__anext__()
        assert "was dropped" in str(info.value)
        await sub.stop()


async def test_stop_waits_at_most_the_stopping_grace(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 1)
        await client.create_subscription_to_stream("g", stream)
        sub = await client.read_subscription_to_stream("g", stream, stopping_grace=0.5, timeout=20)
        await sub.ack(await sub.__anext__())
        started = time.monotonic()
        await sub.stop()  # the server need not end the call: cancelled after the grace
        assert time.monotonic() - started < 0.5 + 0.4


async def test_a_stopped_consumer_or_one_of_a_closed_client_ends_its_iteration(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = await seed(client, 2)
        await client.create_subscription_to_stream("g", stream)
        stopped = await client.read_subscription_to_stream("g", stream, timeout=20)
        await stopped.__anext__()
        await stopped.stop()
        with pytest.raises(StopAsyncIteration):  # not CancelledByClient
            await stopped.__anext__()
        dropped = await client.read_subscription_to_stream("g", stream, timeout=20)
        await client.close()
        with pytest.raises(StopAsyncIteration):
            await dropped.__anext__()


async def test_subscription_to_all_with_a_filter(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        marker = f"Marker{uuid4().hex[:8]}"
        group = f"all-{marker}"
        await client.create_subscription_to_all(group, filter_include=[marker], from_end=True)
        await client.append_to_stream(
            f"ps-{uuid4()}", current_version=StreamState.ANY, events=NewEvent(marker, b"{}")
        )
        async with await client.read_subscription_to_all(group, timeout=20) as sub:
            event = await sub.__anext__()
            assert event.type == marker
            await sub.ack(event)
        await client.update_subscription_to_all(group, max_subscriber_count=3)
        info = await client.get_subscription_info(group)
        assert info.max_subscriber_count == 3
        assert any(i.group_name == group for i in await client.list_subscriptions())
        await client.delete_subscription(group)
