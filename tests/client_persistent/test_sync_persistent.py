# Generated from tests/client_persistent/test_async_persistent.py
# by scripts/unasync.py; do not edit.
"""Persistent subscriptions through EventStoreDBClient, against the embedded server and
against the same service logic hosted by grpcio."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest

from esdb_wire import (
    EventStoreDBClient,
    NewEvent,
    PersistentSubscription,
    RecordedEvent,
    StreamState,
    SubscriptionInfo,
)
from esdb_wire.client.sync_backend import sleep
from esdb_wire.exceptions import AlreadyExists, CancelledByClient, NotFound


def seed(client: EventStoreDBClient, count: int) -> str:
    """A new stream of ``count`` events."""
    name = f"ps-{uuid4()}"
    events = [NewEvent("Work", b'{"n": %d}' % i) for i in range(count)]
    for start in range(0, count, 500):
        client.append_to_stream(
            name, current_version=StreamState.ANY, events=events[start : start + 500]
        )
    return name


def parked_messages(
    client: EventStoreDBClient, group: str, stream: str, count: int
) -> SubscriptionInfo:
    """The group's info once ``count`` messages are parked (or after 2.5 s)."""
    for _ in range(50):
        info = client.get_subscription_info(group, stream)
        if info.parked_message_count >= count:
            break
        sleep(0.05)
    return info


def test_management_round_trip(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
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
        groups = client.list_subscriptions_to_stream(stream)
        assert [i.group_name for i in groups] == ["g"]
        assert any(i.event_source == stream for i in client.list_subscriptions())
        client.update_subscription_to_stream("g", stream, max_retry_count=7, message_timeout=12.5)
        updated = client.get_subscription_info("g", stream)
        assert (updated.max_retry_count, updated.message_timeout) == (7, 12.5)
        assert updated.consumer_strategy == "RoundRobin"  # kept
        client.delete_subscription("g", stream)
        with pytest.raises(NotFound):
            client.get_subscription_info("g", stream)
        assert client.list_subscriptions_to_stream(stream) == []


def test_consume_and_ack_in_order(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        name = f"ps-{uuid4()}"
        client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=[NewEvent("A", b"{}")]
        )
        client.append_to_stream(name, current_version=0, events=NewEvent("B", b"{}"))
        client.create_subscription_to_stream("g", name)
        sub = client.read_subscription_to_stream("g", name, timeout=20)
        assert isinstance(sub, PersistentSubscription)
        assert sub.subscription_id
        got = []
        for event in sub:
            got.append(event.type)
            sub.ack(event)
            if len(got) == 2:
                break
        sub.stop()
        sub.stop()  # stopping twice is harmless
        assert got == ["A", "B"]
        info = client.get_subscription_info("g", name)
        assert info.group_name == "g"
        client.delete_subscription("g", name)


def test_nack_retry_then_park_then_replay(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
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
            info = parked_messages(client, "g", stream, 1)
            assert info.parked_message_count == 1
            client.replay_parked_events("g", stream)
            replayed = sub.__next__()
            assert replayed.stream_name == stream
            assert replayed.link is not None  # parked messages come back as resolved links
            sub.ack(replayed)  # by ack_id (the link's id)


def test_park_explicitly_and_skip(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 2)
        client.create_subscription_to_stream("g", stream)
        with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            first, second = sub.__next__(), sub.__next__()
            sub.nack(first, action="park", reason="poison")
            sub.nack(second.ack_id, action="skip")
        info = parked_messages(client, "g", stream, 1)
        assert info.parked_message_count == 1


def test_unacked_events_go_to_the_next_consumer(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 5)
        client.create_subscription_to_stream("g", stream)
        first = client.read_subscription_to_stream("g", stream, timeout=20)
        taken = [(first.__next__()).stream_position for _ in range(5)]
        first.stop()  # leaves without acking: the in-flight events are retried elsewhere
        with client.read_subscription_to_stream("g", stream, timeout=20) as second:
            again = [second.__next__() for _ in range(5)]
        assert sorted(e.stream_position for e in again) == taken
        assert all((e.retry_count or 0) >= 1 for e in again)


def test_message_timeout_redelivers(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 1)
        client.create_subscription_to_stream("g", stream, message_timeout=0.3)
        with client.read_subscription_to_stream("g", stream, timeout=20) as sub:
            first = sub.__next__()
            again = sub.__next__()  # not acked: redelivered after the timeout
        assert again.id == first.id
        assert again.retry_count == 1


def test_update_drops_consumers(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 1)
        client.create_subscription_to_stream("g", stream)
        sub = client.read_subscription_to_stream("g", stream, timeout=20)
        sub.ack(sub.__next__())
        client.update_subscription_to_stream("g", stream, max_retry_count=1)
        with pytest.raises(CancelledByClient) as info:
            sub.__next__()
        assert "was dropped" in str(info.value)
        sub.stop()


def test_stop_waits_at_most_the_stopping_grace(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 1)
        client.create_subscription_to_stream("g", stream)
        sub = client.read_subscription_to_stream("g", stream, stopping_grace=0.5, timeout=20)
        sub.ack(sub.__next__())
        started = time.monotonic()
        sub.stop()  # the server need not end the call: cancelled after the grace
        assert time.monotonic() - started < 0.5 + 0.4


def test_a_stopped_consumer_or_one_of_a_closed_client_ends_its_iteration(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        stream = seed(client, 2)
        client.create_subscription_to_stream("g", stream)
        stopped = client.read_subscription_to_stream("g", stream, timeout=20)
        stopped.__next__()
        stopped.stop()
        with pytest.raises(StopIteration):  # not CancelledByClient
            stopped.__next__()
        dropped = client.read_subscription_to_stream("g", stream, timeout=20)
        client.close()
        with pytest.raises(StopIteration):
            dropped.__next__()


def test_subscription_to_all_with_a_filter(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        marker = f"Marker{uuid4().hex[:8]}"
        group = f"all-{marker}"
        client.create_subscription_to_all(group, filter_include=[marker], from_end=True)
        client.append_to_stream(
            f"ps-{uuid4()}", current_version=StreamState.ANY, events=NewEvent(marker, b"{}")
        )
        with client.read_subscription_to_all(group, timeout=20) as sub:
            event = sub.__next__()
            assert event.type == marker
            sub.ack(event)
        client.update_subscription_to_all(group, max_subscriber_count=3)
        info = client.get_subscription_info(group)
        assert info.max_subscriber_count == 3
        assert any(i.group_name == group for i in client.list_subscriptions())
        client.delete_subscription(group)
