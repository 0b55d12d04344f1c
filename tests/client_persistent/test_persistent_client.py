"""Competing consumers of one persistent subscription group: threads sharing an
EventStoreDBClient, tasks sharing an AsyncEventStoreDBClient. (What the two drivers share
is tested on both: ``test_async_persistent.py`` and its generated twin.)"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from uuid import uuid4

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    NewEvent,
    PersistentSubscription,
    StreamState,
)

EVENTS = 3000


def work(count: int) -> list[NewEvent]:
    return [NewEvent("Work", b'{"n": %d}' % i) for i in range(count)]


def test_three_competing_threads_each_event_acked_once(uri: str) -> None:
    stream = f"ps-{uuid4()}"
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    done = threading.Event()
    failures: list[BaseException] = []
    with EventStoreDBClient(uri) as client:
        events = work(EVENTS)
        for start in range(0, EVENTS, 500):
            batch = events[start : start + 500]
            client.append_to_stream(stream, current_version=StreamState.ANY, events=batch)
        client.create_subscription_to_stream("workers", stream, consumer_strategy="RoundRobin")

        subscriptions: list[PersistentSubscription] = []

        def consume() -> None:
            try:
                with client.read_subscription_to_stream("workers", stream, timeout=30) as sub:
                    subscriptions.append(sub)
                    for event in sub:
                        sub.ack(event)
                        with lock:
                            seen[event.stream_position] += 1
                            if len(seen) == EVENTS:
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
        for subscription in subscriptions:
            subscription.stop()  # the others still wait for more
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
    assert not failures
    assert sorted(seen) == list(range(EVENTS))
    assert set(seen.values()) == {1}


async def test_three_competing_tasks_each_event_acked_once(uri: str) -> None:
    stream = f"ps-{uuid4()}"
    seen: Counter[int] = Counter()
    done = asyncio.Event()
    async with AsyncEventStoreDBClient(uri) as client:
        events = work(EVENTS)
        for start in range(0, EVENTS, 500):
            batch = events[start : start + 500]
            await client.append_to_stream(stream, current_version=StreamState.ANY, events=batch)
        await client.create_subscription_to_stream(
            "workers", stream, consumer_strategy="RoundRobin"
        )

        async def consume() -> None:
            async with await client.read_subscription_to_stream(
                "workers", stream, timeout=30
            ) as sub:
                async for event in sub:
                    await sub.ack(event)
                    seen[event.stream_position] += 1
                    if len(seen) == EVENTS:
                        done.set()
                    if done.is_set():
                        return

        consumers = [asyncio.ensure_future(consume()) for _ in range(3)]
        try:
            await asyncio.wait_for(done.wait(), 60)
        finally:
            for consumer in consumers:
                consumer.cancel()  # the others still wait for more
            outcomes = await asyncio.gather(*consumers, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, Exception)]  # CancelledError is not one
    assert not failures
    assert sorted(seen) == list(range(EVENTS))
    assert set(seen.values()) == {1}


async def test_a_task_waiting_on_a_consumer_ends_when_another_task_stops_it(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        stream = f"ps-{uuid4()}"
        await client.append_to_stream(stream, current_version=StreamState.ANY, events=work(1))
        await client.create_subscription_to_stream("idle", stream)
        sub = await client.read_subscription_to_stream("idle", stream, timeout=30)
        await sub.ack(await sub.__anext__())
        waiting = asyncio.ensure_future(sub.__anext__())  # nothing more: it waits
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await sub.stop()
        with pytest.raises(StopAsyncIteration):  # as in esdbclient, not CancelledByClient
            await asyncio.wait_for(waiting, 1.0)
