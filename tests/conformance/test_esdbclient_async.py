"""esdbclient 1.1.7's AsyncEventStoreDBClient (grpc.aio) against the embedded server.

Each test runs its scenario with ``asyncio.run`` and a fresh client (a grpc.aio channel is
bound to its event loop), under an overall timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import (  # noqa: E402
    AsyncEventStoreDBClient,
    CaughtUp,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from esdbclient.exceptions import (  # noqa: E402
    DeadlineExceeded,
    NotFound,
    StreamIsDeleted,
    WrongCurrentVersion,
)

from tests.conformance._support import (  # noqa: E402
    SUBSCRIPTION_DEADLINE,
    CallCounter,
    assert_recorded,
    commit_position,
    ids,
    new_events,
    new_stream,
    new_type,
)

Scenario = Callable[[AsyncEventStoreDBClient], Awaitable[None]]


def run(server: EmbeddedServer, scenario: Scenario) -> None:
    async def main() -> None:
        client = AsyncEventStoreDBClient(uri=server.esdb_uri)
        await client.connect()
        try:
            await asyncio.wait_for(scenario(client), 2 * SUBSCRIPTION_DEADLINE)
        finally:
            await client.close()

    asyncio.run(main())


async def take(items: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    return [await items.__anext__() for _ in range(count)]


def test_append_and_read(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        stub = client._connection.streams._stub
        counter = CallCounter(stub.BatchAppend)
        stub.BatchAppend = counter
        stream_name = new_stream()
        first = NewEvent(type="First", data=b"{}", metadata=b"meta")
        rest = new_events(3)

        position = await client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=first
        )
        last = await client.append_to_stream(stream_name, current_version=0, events=rest)
        assert counter.calls == 2  # the async client always uses BatchAppend

        recorded = await client.get_stream(stream_name)
        for revision, (got, sent) in enumerate(zip(recorded, [first, *rest])):
            assert_recorded(got, sent, stream_name, revision)
        assert (recorded[0].commit_position, recorded[-1].commit_position) == (position, last)
        assert [
            e.stream_position for e in await client.get_stream(stream_name, backwards=True)
        ] == [
            3,
            2,
            1,
            0,
        ]
        assert ids(await client.get_stream(stream_name, stream_position=2, limit=1)) == [rest[1].id]
        async with await client.read_stream(stream_name, stream_position=1) as response:
            assert ids([e async for e in response]) == ids(rest)

        assert await client.get_current_version(stream_name) == 3
        assert await client.get_commit_position() == last
        # Idempotent: the same ids again change nothing.
        assert await client.append_to_stream(stream_name, current_version=0, events=rest) == last
        assert len(await client.get_stream(stream_name)) == 4

        with pytest.raises(WrongCurrentVersion):
            await client.append_to_stream(
                stream_name, current_version=StreamState.NO_STREAM, events=new_events(1)
            )
        with pytest.raises(WrongCurrentVersion):
            await client.append_to_stream(
                new_stream(), current_version=StreamState.EXISTS, events=new_events(1)
            )

    run(server, scenario)


def test_missing_stream(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        stream_name = new_stream()
        with pytest.raises(NotFound):
            await client.get_stream(stream_name)
        response = await client.read_stream(stream_name)
        with pytest.raises(NotFound):
            await response.__anext__()
        assert await client.get_current_version(stream_name) is StreamState.NO_STREAM
        assert await client.get_stream_metadata(stream_name) == ({}, StreamState.NO_STREAM)

    run(server, scenario)


def test_read_all(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        event_type, stream_name = new_type(), new_stream()
        other = new_events(2, "Other")
        wanted = new_events(2, event_type)
        await client.append_to_stream(
            stream_name,
            current_version=StreamState.NO_STREAM,
            events=[other[0], wanted[0], other[1], wanted[1]],
        )
        positions = [commit_position(e) for e in await client.get_stream(stream_name)]

        async with await client.read_all(commit_position=positions[1]) as response:
            assert ids([e async for e in response]) == ids([wanted[0], other[1], wanted[1]])
        async with await client.read_all(
            commit_position=positions[3], backwards=True, limit=2
        ) as response:
            assert ids([e async for e in response]) == ids([other[1], wanted[0]])
        async with await client.read_all(filter_include=[event_type]) as response:
            assert ids([e async for e in response]) == ids(wanted)
        assert await client.get_commit_position(filter_include=[event_type]) == positions[3]
        assert (
            await client.get_commit_position(filter_include=["Other"], filter_by_stream_name=True)
            == 0
        )

    run(server, scenario)


def test_subscriptions_with_live_events(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        stream_name = new_stream()
        history = new_events(2)
        await client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=history
        )
        first = (await client.get_stream(stream_name))[0].commit_position

        to_all = await client.subscribe_to_all(
            commit_position=first,
            filter_include=[stream_name],
            filter_by_stream_name=True,
            include_caught_up=True,
            timeout=SUBSCRIPTION_DEADLINE,
        )
        to_stream = await client.subscribe_to_stream(
            stream_name, stream_position=0, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
        )
        assert to_all.subscription_id
        async with to_all, to_stream:
            received = await take(to_all, 2)
            assert ids(received[:1]) == [history[1].id]  # commit_position is exclusive
            assert isinstance(received[1], CaughtUp)
            received = await take(to_stream, 2)
            assert ids(received[:1]) == [history[1].id]  # stream_position is exclusive
            assert isinstance(received[1], CaughtUp)

            live = new_events(2, start=2)
            await client.append_to_stream(stream_name, current_version=1, events=live)
            assert ids(await take(to_all, 2)) == ids(live)
            received = await take(to_stream, 2)
            assert ids(received) == ids(live)
            assert [e.stream_position for e in received] == [2, 3]

        # Stopped: iteration ends.
        assert [e async for e in to_all] == []

    run(server, scenario)


def test_delete_and_tombstone(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        stream_name = new_stream()
        await client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=new_events(3)
        )
        with pytest.raises(WrongCurrentVersion):
            await client.delete_stream(stream_name, current_version=5)
        await client.delete_stream(stream_name, current_version=2)
        with pytest.raises(NotFound):
            await client.get_stream(stream_name)
        with pytest.raises(NotFound):
            await client.delete_stream(new_stream(), current_version=StreamState.ANY)

        (event,) = new_events(1)
        await client.append_to_stream(stream_name, current_version=StreamState.ANY, events=event)
        (recorded,) = await client.get_stream(stream_name)
        assert (recorded.id, recorded.stream_position) == (event.id, 3)

        subscription = await client.subscribe_to_stream(
            stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
        )
        received = await take(subscription, 2)
        assert received[0].id == event.id
        assert isinstance(received[1], CaughtUp)

        await client.tombstone_stream(stream_name, current_version=3)
        assert (await subscription.__anext__()).type == "$streamDeleted"
        with pytest.raises(StreamIsDeleted):
            await subscription.__anext__()
        with pytest.raises(StreamIsDeleted):
            await client.get_stream(stream_name)
        with pytest.raises(StreamIsDeleted):
            await client.append_to_stream(
                stream_name, current_version=StreamState.ANY, events=new_events(1)
            )
        with pytest.raises(StreamIsDeleted):
            await client.delete_stream(stream_name, current_version=StreamState.ANY)
        with pytest.raises(StreamIsDeleted):
            await client.get_stream_metadata(stream_name)

    run(server, scenario)


def test_metadata(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        stream_name = new_stream()
        events = new_events(4)
        await client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events)
        await client.set_stream_metadata(stream_name, metadata={"$maxCount": 1, "x": "y"})
        assert await client.get_stream_metadata(stream_name) == ({"$maxCount": 1, "x": "y"}, 0)
        assert ids(await client.get_stream(stream_name)) == [events[-1].id]
        with pytest.raises(WrongCurrentVersion):
            await client.set_stream_metadata(stream_name, metadata={}, current_version=5)

    run(server, scenario)


def test_subscription_deadline(server: EmbeddedServer) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        subscription = await client.subscribe_to_stream(new_stream(), timeout=0.2)
        with pytest.raises(DeadlineExceeded):
            await subscription.__anext__()

    run(server, scenario)


def test_discovery_through_gossip(server: EmbeddedServer) -> None:
    async def main() -> None:
        target = f"127.0.0.1:{server.port}"
        client = AsyncEventStoreDBClient(uri=f"esdb://{target},{target}?Tls=false")
        await client.connect()
        try:
            assert client.connection_target == target
            stream_name = new_stream()
            await client.append_to_stream(
                stream_name, current_version=StreamState.NO_STREAM, events=new_events(1)
            )
            assert len(await client.get_stream(stream_name)) == 1
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(main(), SUBSCRIPTION_DEADLINE))
