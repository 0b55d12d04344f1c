"""AsyncEsdbClient against the embedded server and the grpcio-hosted services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest

from esdb_wire import (
    ESDB_EVENTS_REGEX,
    AsyncEsdbClient,
    DeadlineExceeded,
    ExpectedPositionError,
    NewEvent,
    ServiceUnavailable,
    StreamNotFound,
)
from tests.servers import SERVER_KINDS, running_server

Scenario = Callable[[AsyncEsdbClient], Awaitable[None]]


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "grpcio":
        from tests.peers import require_peer  # noqa: PLC0415

        require_peer("grpc")
    with running_server(request.param) as address:
        yield address


def run(uri: str, scenario: Scenario) -> None:
    async def main() -> None:
        async with AsyncEsdbClient(uri=uri) as client:
            await asyncio.wait_for(scenario(client), 30)

    asyncio.run(main())


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def events(count: int, prefix: str = "E") -> list[NewEvent]:
    return [NewEvent(type=f"{prefix}{i}", data=b"{}", metadata=b"{}") for i in range(count)]


def test_append_and_read_streams(uri: str) -> None:
    async def scenario(client: AsyncEsdbClient) -> None:
        name = f"s-{uuid4()}"
        first = await client.append_events(name, None, events(1))
        last = await client.append_events(name, 0, events(3, "N"), timeout=5)
        assert last > first
        assert await client.get_stream_position(name) == 3
        assert await client.get_stream_position(f"missing-{uuid4()}") is None
        read = client.read_stream_events
        assert [e.type for e in await collect(read(name))] == ["E0", "N0", "N1", "N2"]
        assert [e.stream_position for e in await collect(read(name, position=2))] == [2, 3]
        assert [e.stream_position for e in await collect(read(name, backwards=True, limit=2))] == [
            3,
            2,
        ]
        assert len(await collect(read(name, timeout=5))) == 4
        with pytest.raises(ExpectedPositionError):
            await client.append_events(name, 0, events(1))
        with pytest.raises(StreamNotFound):
            await collect(read(f"missing-{uuid4()}"))

    run(uri, scenario)


def test_read_all_and_commit_position(uri: str) -> None:
    async def scenario(client: AsyncEsdbClient) -> None:
        name = f"s-{uuid4()}"
        position = await client.append_events(name, None, events(3, "All"))
        assert await client.get_commit_position() == position
        (first,) = await collect(client.read_stream_events(name, limit=1))
        forwards = await collect(client.read_all_events(position=first.commit_position))
        assert [e.type for e in forwards] == ["All0", "All1", "All2"]
        backwards = await collect(
            client.read_all_events(position=position, backwards=True, limit=1)
        )
        assert [e.type for e in backwards] == ["All1"]
        only = await collect(
            client.read_all_events(position=first.commit_position, filter_include=["All2"])
        )
        assert [e.type for e in only] == ["All2"]
        skipped = await collect(
            client.read_all_events(
                position=first.commit_position,
                filter_exclude=[ESDB_EVENTS_REGEX, "All0"],
                limit=1,
                timeout=5,
            )
        )
        assert [e.type for e in skipped] == ["All1"]

    run(uri, scenario)


def test_subscription_catch_up_live_and_stop(uri: str) -> None:
    async def scenario(client: AsyncEsdbClient) -> None:
        start = await client.get_commit_position()
        name = f"s-{uuid4()}"
        await client.append_events(name, None, events(2, "Old"))
        subscription = await client.subscribe_all_events(position=start)
        assert [(await subscription.__anext__()).type for _ in range(2)] == ["Old0", "Old1"]
        await client.append_events(name, 1, events(1, "New"))
        assert (await subscription.__anext__()).type == "New0"
        subscription.stop()
        filtered = await client.subscribe_all_events(position=start, filter_include=["Old1"])
        async with filtered:
            assert (await filtered.__anext__()).type == "Old1"

    run(uri, scenario)


def test_subscription_deadline(uri: str) -> None:
    async def scenario(client: AsyncEsdbClient) -> None:
        position = await client.get_commit_position()
        subscription = await client.subscribe_all_events(position=position, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await subscription.__anext__()
        assert time.monotonic() - started < 5

    run(uri, scenario)


def test_unreachable_server() -> None:
    async def main() -> None:
        async with AsyncEsdbClient(uri="127.0.0.1:1") as client:
            with pytest.raises(ServiceUnavailable):
                await client.get_commit_position()

    asyncio.run(main())


def test_concurrent_tasks_share_one_connection(uri: str) -> None:
    async def writer(client: AsyncEsdbClient, name: str) -> list[int]:
        for i in range(10):
            await client.append_events(name, i - 1 if i else None, events(1))
        return [e.stream_position async for e in client.read_stream_events(name)]

    async def scenario(client: AsyncEsdbClient) -> None:
        names = [f"s-{uuid4()}" for _ in range(20)]
        results = await asyncio.gather(*(writer(client, name) for name in names))
        assert all(result == list(range(10)) for result in results)

    run(uri, scenario)
