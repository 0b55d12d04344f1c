"""What only one driver has: one EsdbClient shared by threads, one AsyncEsdbClient shared
by tasks, and closing a client while another thread or task waits on its subscription.
(Everything else runs on both drivers: ``test_async_client.py`` and its generated twin.)"""

from __future__ import annotations

import asyncio
import threading
import time
from uuid import uuid4

import pytest

from esdb_wire import AsyncEsdbClient, EsdbClient, NewEvent
from esdb_wire.exceptions import EventStoreDBClientException


def one_event() -> list[NewEvent]:
    return [NewEvent(type="Event", data=b"{}", metadata=b"{}")]


def test_close_cancels_open_calls(uri: str) -> None:
    client = EsdbClient(uri=uri)
    subscription = client.subscribe_all_events(position=client.get_commit_position())
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            next(subscription)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    time.sleep(0.2)
    client.close()
    worker.join(5)
    assert not worker.is_alive()
    # As with esdbclient: closing the client ends its subscriptions' iteration.
    assert isinstance(errors[0], StopIteration)
    with pytest.raises(EventStoreDBClientException):
        client.get_commit_position()


async def test_close_ends_a_subscription_another_task_waits_on(uri: str) -> None:
    client = AsyncEsdbClient(uri=uri)
    subscription = await client.subscribe_all_events(position=await client.get_commit_position())
    waiting = asyncio.ensure_future(subscription.__anext__())
    await asyncio.sleep(0.2)
    await client.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(EventStoreDBClientException):
        await client.get_commit_position()


def test_many_threads_share_one_client(uri: str) -> None:
    names = [f"stream-{uuid4()}" for _ in range(16)]
    failures: list[BaseException] = []

    with EsdbClient(uri=uri) as client:

        def work(name: str) -> None:
            try:
                for i in range(10):
                    client.append_events(name, i - 1 if i else None, one_event())
                positions = [e.stream_position for e in client.read_stream_events(name)]
                assert positions == list(range(10))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not failures


async def test_concurrent_tasks_share_one_connection(uri: str) -> None:
    async def writer(client: AsyncEsdbClient, name: str) -> list[int]:
        for i in range(10):
            await client.append_events(name, i - 1 if i else None, one_event())
        return [e.stream_position async for e in client.read_stream_events(name)]

    async with AsyncEsdbClient(uri=uri) as client:
        names = [f"stream-{uuid4()}" for _ in range(20)]
        results = await asyncio.gather(*(writer(client, name) for name in names))
        assert all(result == list(range(10)) for result in results)
