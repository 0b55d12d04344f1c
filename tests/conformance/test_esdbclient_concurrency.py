"""esdbclient 1.1.7 against the embedded server under concurrent use of one client.

20 writers x 50 events each (one append per event, half of the writers through Append, half
through BatchAppend), all through ONE client (one HTTP/2 connection), while a live $all
subscription receives every event exactly once, in commit order.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from esdb_wire.server.embedded import EmbeddedServer
from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import (  # noqa: E402
    AsyncEventStoreDBClient,
    CaughtUp,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    StreamState,
)

from tests.conformance._support import (  # noqa: E402
    SUBSCRIPTION_DEADLINE,
    commit_position,
    new_events,
)

WRITERS = 20
EVENTS_EACH = 50
TOTAL = WRITERS * EVENTS_EACH


def check_delivery(
    received: list[RecordedEvent],
    written: dict[str, list[NewEvent]],
    positions: dict[uuid.UUID, int],
) -> None:
    """Every written event exactly once, in commit order, each stream in revision order."""
    assert len(received) == TOTAL
    received_ids = [e.id for e in received]
    assert len(set(received_ids)) == TOTAL  # no duplicates
    assert set(received_ids) == {e.id for events in written.values() for e in events}
    commit_positions = [commit_position(e) for e in received]
    assert commit_positions == sorted(commit_positions)
    assert len(set(commit_positions)) == TOTAL
    by_stream: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in received:
        by_stream[event.stream_name].append(event)
        assert event.commit_position == positions[event.id]
    for stream_name, events in written.items():
        got = by_stream[stream_name]
        assert [e.id for e in got] == [e.id for e in events]
        assert [e.stream_position for e in got] == list(range(EVENTS_EACH))


def test_threads_share_one_client_while_a_subscription_follows(
    client: EventStoreDBClient,
) -> None:
    prefix = f"concurrent-{uuid.uuid4().hex}"
    written = {
        f"{prefix}-{n}": new_events(EVENTS_EACH, "Concurrent", start=n * EVENTS_EACH)
        for n in range(WRITERS)
    }
    positions: dict[uuid.UUID, int] = {}
    positions_lock = threading.Lock()

    def writer(stream_name: str) -> None:
        batch = stream_name.endswith(("1", "3", "5", "7", "9"))  # half use BatchAppend
        for revision, event in enumerate(written[stream_name]):
            version = StreamState.NO_STREAM if revision == 0 else revision - 1
            position = client.append_to_stream(
                stream_name, current_version=version, events=[event] if batch else event
            )
            with positions_lock:
                positions[event.id] = position

    subscription = client.subscribe_to_all(
        from_end=True,
        filter_include=[f"{prefix}-.*"],
        filter_by_stream_name=True,
        include_caught_up=True,
        timeout=3 * SUBSCRIPTION_DEADLINE,
    )
    with subscription, ThreadPoolExecutor(WRITERS) as pool:
        assert isinstance(next(subscription), CaughtUp)
        futures = [pool.submit(writer, stream_name) for stream_name in written]
        received = [next(subscription) for _ in range(TOTAL)]
        for future in futures:
            future.result(timeout=SUBSCRIPTION_DEADLINE)

    check_delivery(received, written, positions)
    for stream_name, events in written.items():
        assert [e.id for e in client.get_stream(stream_name)] == [e.id for e in events]


def test_tasks_share_one_async_client(server: EmbeddedServer) -> None:
    prefix = f"concurrent-async-{uuid.uuid4().hex}"
    written = {
        f"{prefix}-{n}": new_events(EVENTS_EACH, "Concurrent", start=n * EVENTS_EACH)
        for n in range(WRITERS)
    }
    positions: dict[uuid.UUID, int] = {}

    async def main() -> list[RecordedEvent]:
        client = AsyncEventStoreDBClient(uri=server.esdb_uri)
        await client.connect()

        async def writer(stream_name: str) -> None:
            for revision, event in enumerate(written[stream_name]):
                version = StreamState.NO_STREAM if revision == 0 else revision - 1
                positions[event.id] = await client.append_to_stream(
                    stream_name, current_version=version, events=event
                )

        async def follow() -> list[RecordedEvent]:
            return [await subscription.__anext__() for _ in range(TOTAL)]

        try:
            subscription = await client.subscribe_to_all(
                from_end=True,
                filter_include=[f"{prefix}-.*"],
                filter_by_stream_name=True,
                timeout=3 * SUBSCRIPTION_DEADLINE,
            )
            async with subscription:
                following = asyncio.ensure_future(follow())
                await asyncio.wait_for(
                    asyncio.gather(*(writer(name) for name in written)), SUBSCRIPTION_DEADLINE
                )
                return await asyncio.wait_for(following, SUBSCRIPTION_DEADLINE)
        finally:
            await client.close()

    received = asyncio.run(main())
    check_delivery(received, written, positions)


def test_large_events_and_many_subscriptions_on_one_client(client: EventStoreDBClient) -> None:
    """Flow control: ~1 MB messages to 40 concurrent subscribers on one connection."""
    stream_name = f"large-{uuid.uuid4().hex}"
    subscriptions = [
        client.subscribe_to_stream(
            stream_name, include_caught_up=True, timeout=3 * SUBSCRIPTION_DEADLINE
        )
        for _ in range(40)
    ]
    try:
        for subscription in subscriptions:
            assert isinstance(next(subscription), CaughtUp)
        events = [
            NewEvent(
                type="Large",
                data=bytes([n]) * 1_000_000,
                content_type="application/octet-stream",
            )
            for n in range(4)
        ]
        with ThreadPoolExecutor(4) as pool:
            for future in [
                pool.submit(
                    client.append_to_stream,
                    stream_name,
                    current_version=StreamState.ANY,
                    events=event,
                )
                for event in events
            ]:
                future.result(timeout=SUBSCRIPTION_DEADLINE)
        expected = {event.id: event.data for event in events}
        for subscription in subscriptions:
            received = [next(subscription) for _ in range(4)]
            assert {e.id: e.data for e in received} == expected
            assert [e.stream_position for e in received] == [0, 1, 2, 3]
    finally:
        for subscription in subscriptions:
            subscription.stop()
    assert {e.id: e.data for e in client.get_stream(stream_name)} == expected
