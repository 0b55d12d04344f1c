"""AsyncEventStoreDBClient (the esdbclient 1.1.7 asyncio API) against the embedded server
and the grpcio-hosted services: every method and argument, with exact results."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from esdb_wire import (
    DEFAULT_EXCLUDE_FILTER,
    AsyncCatchupSubscription,
    AsyncEventStoreDBClient,
    AsyncReadResponse,
    CaughtUp,
    Checkpoint,
    DeadlineExceeded,
    MaximumAppendSizeExceededError,
    NewEvent,
    NotFound,
    RecordedEvent,
    ServiceUnavailable,
    StreamIsDeleted,
    StreamState,
    WrongCurrentVersion,
)
from esdb_wire.client import paths
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._support import (
    DEADLINE,
    assert_recorded,
    new_events,
    new_stream,
    new_type,
    recording_server,
    require_grpcio,
    rpc_name,
    skip_without_connection_strings,
)
from tests.servers import SERVER_KINDS, running_server
from tests.tcp_proxy import BlackholeProxy

Scenario = Callable[[AsyncEventStoreDBClient], Awaitable[None]]
ZERO = uuid.UUID(int=0)


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    require_grpcio(request.param)
    with running_server(request.param) as address:
        yield address


@pytest.fixture(scope="module")
def projections() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(run_projections="all") as server:
        yield server


def run(uri: str, scenario: Scenario, *, limit: float = 30) -> None:
    """Run ``scenario`` with a fresh connected client, bounded by ``limit`` seconds."""

    async def main() -> None:
        async with AsyncEventStoreDBClient(uri) as client:
            await client.connect()
            await asyncio.wait_for(scenario(client), limit)

    asyncio.run(main())


async def collect(items: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    return [item async for item in items]


async def take(items: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    return [await items.__anext__() for _ in range(count)]


# ---- appending -----------------------------------------------------------------------


def test_append_and_read_back_every_field(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        event = NewEvent(
            type="OrderPlaced",
            data=b"\x00binary",
            metadata=b'{"m": 1}',
            content_type="application/octet-stream",
            id=uuid.uuid4(),
        )
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=event
        )
        recorded = await client.get_stream(name)
        assert isinstance(recorded, tuple)
        assert len(recorded) == 1
        assert_recorded(recorded[0], event, name, 0, position)
        events = new_events(3)
        last = await client.append_to_stream(name, current_version=0, events=events)
        recorded = await client.get_stream(name)
        for index, sent in enumerate(events, start=1):
            assert_recorded(recorded[index], sent, name, index)
        assert recorded[-1].commit_position == last
        assert await client.get_current_version(name) == 3
        assert await client.get_commit_position() == last
        generated = (e for e in new_events(1))
        await client.append_to_stream(name, current_version=StreamState.EXISTS, events=generated)
        alias = await client.append_events(name, current_version=4, events=new_events(2))
        one = NewEvent(type="One", data=b"{}")
        single = await client.append_event(name, current_version=6, event=one, timeout=DEADLINE)
        recorded = await client.get_stream(name, stream_position=6)
        assert [e.commit_position for e in recorded] == [alias, single]
        assert recorded[-1].id == one.id

    run(uri, scenario)


def test_wrong_versions_idempotence_and_size(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        missing = new_stream()
        for shape in ("one", "list"):
            for version in (0, StreamState.EXISTS):
                events = new_events(1)
                with pytest.raises(WrongCurrentVersion):
                    await client.append_to_stream(
                        missing,
                        current_version=version,
                        events=events[0] if shape == "one" else events,
                    )
        assert await client.get_current_version(missing) is StreamState.NO_STREAM
        name = new_stream()
        events = new_events(2)
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        for version in (StreamState.NO_STREAM, 0, 5):
            with pytest.raises(WrongCurrentVersion) as info:
                await client.append_to_stream(name, current_version=version, events=new_events(2))
            assert info.value.actual_version == 1
            with pytest.raises(WrongCurrentVersion):
                await client.append_to_stream(
                    name, current_version=version, events=new_events(1)[0]
                )
        again = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        assert again == position
        assert (
            await client.append_to_stream(name, current_version=StreamState.ANY, events=events)
            == position
        )
        assert len(await client.get_stream(name)) == 2
        big = NewEvent(type="Big", data=b"x" * (1024 * 1024 + 1))
        for payload in (big, [big]):
            with pytest.raises(MaximumAppendSizeExceededError):
                await client.append_to_stream(name, current_version=StreamState.ANY, events=payload)
        assert await client.get_current_version(name) == 1

    run(uri, scenario)


# ---- reading -------------------------------------------------------------------------


def test_read_stream_and_get_stream_arguments(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        events = new_events(5)
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)

        async def positions(**kwargs: Any) -> list[int]:
            return [e.stream_position for e in await client.get_stream(name, **kwargs)]

        assert await positions() == [0, 1, 2, 3, 4]
        assert await positions(stream_position=2) == [2, 3, 4]
        assert await positions(backwards=True) == [4, 3, 2, 1, 0]
        assert await positions(limit=2) == [0, 1]
        assert await positions(stream_position=3, backwards=True, limit=2) == [3, 2]
        assert await positions(stream_position=10) == []
        assert await positions(resolve_links=True, timeout=DEADLINE) == [0, 1, 2, 3, 4]
        response = await client.read_stream(name)
        assert isinstance(response, AsyncReadResponse)
        assert response.__aiter__() is response
        assert [e.id for e in await collect(response)] == [e.id for e in events]
        async with await client.read_stream(name, backwards=True, limit=2) as response:
            assert [e.stream_position for e in await collect(response)] == [4, 3]
        with pytest.raises(NotFound):
            await client.get_stream(new_stream())
        missing = await client.read_stream(new_stream())  # no error until iterated
        with pytest.raises(NotFound):
            await missing.__anext__()

    run(uri, scenario)


def test_read_all_and_commit_position(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        kind_a, kind_b = new_type("A"), new_type("B")
        events = [*new_events(2, kind_a), *new_events(2, kind_b, start=2)]
        last = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        recorded = await client.get_stream(name)
        first = recorded[0].commit_position

        async def read(**kwargs: Any) -> list[uuid.UUID]:
            return [e.id for e in await collect(await client.read_all(**kwargs))]

        ids = [e.id for e in events]
        assert await read(commit_position=first) == ids
        assert await read(commit_position=first, limit=2) == ids[:2]
        assert await read(commit_position=last, backwards=True, limit=2) == [ids[2], ids[1]]
        assert await read(commit_position=first, filter_include=[kind_b]) == ids[2:]
        assert (
            await read(commit_position=first, filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_b])
            == ids[:2]
        )
        assert await read(filter_by_stream_name=True, filter_include=[name]) == ids
        assert await read(commit_position=first, resolve_links=True, timeout=DEADLINE) == ids
        system = await collect(await client.read_all(filter_exclude=()))
        assert [e for e in system if e.type == "$settings"]
        assert not [e for e in await collect(await client.read_all()) if e.type.startswith("$")]
        assert await client.get_commit_position() == last
        assert (
            await client.get_commit_position(filter_include=[kind_a]) == recorded[1].commit_position
        )
        assert (
            await client.get_commit_position(filter_by_stream_name=True, filter_include=[name])
            == last
        )
        assert await client.get_commit_position(filter_include=[new_type("Never")]) == 0
        assert await client.get_current_version(new_stream()) is StreamState.NO_STREAM
        assert await client.get_current_version(name, timeout=DEADLINE) == 3

    run(uri, scenario)


# ---- deleting and metadata -----------------------------------------------------------


def test_delete_tombstone_and_metadata(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        with pytest.raises(NotFound):
            await client.delete_stream(new_stream(), current_version=StreamState.ANY)
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        with pytest.raises(WrongCurrentVersion):
            await client.delete_stream(name, current_version=0)
        await client.delete_stream(name, current_version=1, timeout=DEADLINE)
        with pytest.raises(NotFound):
            await client.get_stream(name)
        assert await client.get_current_version(name) is StreamState.NO_STREAM
        assert await client.get_stream_metadata(name) == ({"$tb": 2**63 - 1}, 0)
        await client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        assert [e.stream_position for e in await client.get_stream(name)] == [2]

        with pytest.raises(WrongCurrentVersion):
            await client.tombstone_stream(name, current_version=0)
        await client.tombstone_stream(name, current_version=2)
        event = NewEvent(type="Late", data=b"{}")
        failures: list[Callable[[], Awaitable[object]]] = [
            lambda: client.get_stream(name),
            lambda: client.get_current_version(name),
            lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=event),
            lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=[event]),
            lambda: client.delete_stream(name, current_version=StreamState.ANY),
            lambda: client.tombstone_stream(name, current_version=StreamState.ANY),
            lambda: client.get_stream_metadata(name),
            lambda: client.set_stream_metadata(name, metadata={}),
        ]
        for failure in failures:
            with pytest.raises(StreamIsDeleted):
                await failure()
        subscription = await client.subscribe_to_stream(name, timeout=DEADLINE)
        with pytest.raises(StreamIsDeleted):
            await subscription.__anext__()

        other = new_stream()
        assert await client.get_stream_metadata(other) == ({}, StreamState.NO_STREAM)
        await client.append_to_stream(
            other, current_version=StreamState.NO_STREAM, events=new_events(4)
        )
        metadata: dict[str, Any] = {"$maxCount": 1, "x": {"y": [1, None]}}
        await client.set_stream_metadata(other, metadata=metadata)
        assert await client.get_stream_metadata(other) == (metadata, 0)
        assert [e.stream_position for e in await client.get_stream(other)] == [3]
        await client.set_stream_metadata(other, metadata={}, current_version=0, timeout=DEADLINE)
        assert await client.get_stream_metadata(other, timeout=DEADLINE) == ({}, 1)
        with pytest.raises(WrongCurrentVersion):
            await client.set_stream_metadata(other, metadata={}, current_version=0)

    run(uri, scenario)


# ---- subscriptions -------------------------------------------------------------------


def test_subscribe_to_all(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        kind_a, kind_b = new_type("A"), new_type("B")
        start = await client.get_commit_position(filter_exclude=())
        for kind in [kind_a, kind_b] * 5:
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=new_events(1, kind)
            )
        positions = [e.commit_position for e in await client.get_stream(name)]
        subscription = await client.subscribe_to_all(
            commit_position=start,
            filter_include=[kind_a],
            include_checkpoints=True,
            window_size=2,
            checkpoint_interval_multiplier=2,
            include_caught_up=True,
            timeout=DEADLINE,
        )
        assert isinstance(subscription, AsyncCatchupSubscription)
        assert subscription.subscription_id
        items = await take(subscription, 9)
        assert [(type(i).__name__, i.commit_position) for i in items] == [
            ("RecordedEvent", positions[0]),
            ("RecordedEvent", positions[2]),
            ("Checkpoint", positions[3]),
            ("RecordedEvent", positions[4]),
            ("RecordedEvent", positions[6]),
            ("Checkpoint", positions[7]),
            ("RecordedEvent", positions[8]),
            ("Checkpoint", positions[9]),
            ("CaughtUp", 0),
        ]
        assert isinstance(items[2], Checkpoint)
        assert items[2].prepare_position == items[2].commit_position
        assert isinstance(items[-1], CaughtUp)
        assert items[-1].id == ZERO
        live = new_events(1, kind_a)
        position = await client.append_to_stream(name, current_version=9, events=live)
        got = await subscription.__anext__()
        assert_recorded(got, live[0], name, 10, position)
        subscription.stop()

        # Exclusive start, no checkpoints or caught-up items unless asked for.
        async with await client.subscribe_to_all(
            commit_position=positions[0], filter_include=[kind_a, kind_b], timeout=DEADLINE
        ) as plain:
            assert [e.stream_position for e in await take(plain, 10)] == list(range(1, 11))
        async with await client.subscribe_to_all(
            commit_position=start,
            filter_by_stream_name=True,
            filter_include=[name],
            window_size=1,
            timeout=DEADLINE,
        ) as by_name:
            assert [e.stream_position for e in await take(by_name, 3)] == [0, 1, 2]
        async with await client.subscribe_to_all(
            commit_position=start,
            filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_a],
            timeout=DEADLINE,
        ) as excluding:
            assert [e.type for e in await take(excluding, 2)] == [kind_b, kind_b]
        async with await client.subscribe_to_all(timeout=DEADLINE) as everything:
            first = await everything.__anext__()
        assert first == (await collect(await client.read_all(limit=1)))[0]
        tail = await client.subscribe_to_all(
            from_end=True, filter_include=[kind_b], resolve_links=True, timeout=DEADLINE
        )
        late = new_events(1, kind_b)
        await client.append_to_stream(name, current_version=10, events=late)
        assert (await tail.__anext__()).id == late[0].id
        tail.stop()

    run(uri, scenario)


def test_subscribe_to_stream(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        events = new_events(5)
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
        async with await client.subscribe_to_stream(name, timeout=DEADLINE) as subscription:
            assert_recorded(await subscription.__anext__(), events[0], name, 0)
        subscription = await client.subscribe_to_stream(
            name, stream_position=2, include_caught_up=True, timeout=DEADLINE
        )
        got = await take(subscription, 3)
        assert [e.stream_position for e in got[:2]] == [3, 4]
        assert got[2].is_caught_up
        live = NewEvent(type="Live", data=b"{}")
        position = await client.append_to_stream(name, current_version=4, events=live)
        assert_recorded(await subscription.__anext__(), live, name, 5, position)
        subscription.stop()
        tail = await client.subscribe_to_stream(
            name, from_end=True, include_caught_up=True, resolve_links=True, timeout=DEADLINE
        )
        assert (await tail.__anext__()).is_caught_up
        late = new_events(1)
        await client.append_to_stream(name, current_version=5, events=late)
        assert (await tail.__anext__()).id == late[0].id
        await tail.aclose()

    run(uri, scenario)


def test_subscription_timeouts(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        for subscription in (
            await client.subscribe_to_all(from_end=True, timeout=0.3),
            await client.subscribe_to_stream(new_stream(), timeout=0.3),
        ):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await subscription.__anext__()
            assert time.monotonic() - started < 3

    run(uri, scenario)


def test_concurrent_tasks_append_while_one_subscribes(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        kind = new_type("Conc")
        names = [new_stream() for _ in range(8)]
        subscription = await client.subscribe_to_all(
            from_end=True, filter_include=[kind], timeout=DEADLINE
        )

        async def writer(name: str) -> list[uuid.UUID]:
            sent = []
            for index in range(10):
                event = NewEvent(type=kind, data=b"{}")
                version: int | StreamState = index - 1 if index else StreamState.NO_STREAM
                await client.append_to_stream(name, current_version=version, events=[event])
                sent.append(event.id)
            assert [e.id for e in await client.get_stream(name)] == sent
            return sent

        results = await asyncio.gather(*(writer(name) for name in names))
        received = await take(subscription, 80)
        subscription.stop()
        assert sorted(e.id for e in received) == sorted(i for ids in results for i in ids)
        positions = [e.commit_position for e in received]
        assert positions == sorted(positions)  # type: ignore[type-var]

    run(uri, scenario)


# ---- gossip, timeouts, credentials, lifecycle ----------------------------------------


def test_read_gossip(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        (member,) = await client.read_gossip()
        assert member.state == "NODE_STATE_LEADER"
        assert member.address == "127.0.0.1"
        assert member.port == int(uri.rsplit(":", 1)[1])
        assert await client.read_gossip(timeout=DEADLINE) == (member,)

    run(uri, scenario)


def test_every_method_times_out_with_deadline_exceeded(uri: str) -> None:
    proxy = BlackholeProxy(int(uri.rsplit(":", 1)[1]))
    name = new_stream()

    async def scenario(client: AsyncEventStoreDBClient) -> None:
        await client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        proxy.blackhole()
        t = 0.1
        one = NewEvent(type="T", data=b"{}")

        async def first_of_read_stream() -> object:
            return await (await client.read_stream(name, timeout=t)).__anext__()

        async def first_of_read_all() -> object:
            return await (await client.read_all(timeout=t)).__anext__()

        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: client.append_to_stream(
                name, current_version=StreamState.ANY, events=one, timeout=t
            ),
            lambda: client.append_to_stream(
                name, current_version=StreamState.ANY, events=[one], timeout=t
            ),
            lambda: client.append_events(
                name, current_version=StreamState.ANY, events=[one], timeout=t
            ),
            lambda: client.get_stream(name, timeout=t),
            first_of_read_stream,
            first_of_read_all,
            lambda: client.get_current_version(name, timeout=t),
            lambda: client.get_commit_position(timeout=t),
            lambda: client.delete_stream(name, current_version=StreamState.ANY, timeout=t),
            lambda: client.tombstone_stream(name, current_version=StreamState.ANY, timeout=t),
            lambda: client.get_stream_metadata(name, timeout=t),
            lambda: client.set_stream_metadata(name, metadata={}, timeout=t),
            lambda: client.subscribe_to_all(timeout=t),
            lambda: client.subscribe_to_stream(name, timeout=t),
            lambda: client.read_gossip(timeout=t),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await call()
            assert time.monotonic() - started < 2

    try:
        run(f"127.0.0.1:{proxy.port}", scenario)
    finally:
        proxy.close()


def test_first_batch_append_honours_its_timeout() -> None:
    with EmbeddedServer() as server:
        proxy = BlackholeProxy(server.port)

        async def scenario(client: AsyncEventStoreDBClient) -> None:
            client.settings = client.settings._replace(gossip_timeout=2.0)
            await client.get_commit_position()
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await client.append_to_stream(
                    new_stream(), current_version=StreamState.ANY, events=new_events(1), timeout=0.2
                )
            assert time.monotonic() - started < 1.5

        try:
            run(f"127.0.0.1:{proxy.port}", scenario)
        finally:
            proxy.close()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_rpc_selection_and_credentials_over_plaintext(kind: str) -> None:
    with recording_server(kind) as server:

        async def scenario(client: AsyncEventStoreDBClient) -> None:
            credentials = client.construct_call_credentials("admin", "changeit")
            name = new_stream()
            await client.append_to_stream(
                name,
                current_version=StreamState.NO_STREAM,
                events=new_events(1)[0],
                credentials=credentials,
            )
            await client.append_to_stream(
                name, current_version=0, events=new_events(2), credentials=credentials
            )
            await client.append_events(
                name, current_version=2, events=new_events(1), credentials=credentials
            )
            await client.append_event(
                name, current_version=3, event=new_events(1)[0], credentials=credentials
            )
            await client.set_stream_metadata(name, metadata={"a": 1}, credentials=credentials)
            writes = [rpc_name(p) for p in server.paths()]
            assert writes == [
                "Streams.Append",
                "ServerFeatures.GetSupportedMethods",
                "Streams.BatchAppend",
                "Streams.BatchAppend",
                "Streams.Append",
                "Streams.Append",
            ]
            assert len(await client.get_stream(name, credentials=credentials)) == 5
            assert await collect(await client.read_stream(name, credentials=credentials))
            assert await collect(await client.read_all(credentials=credentials, limit=1))
            assert await client.get_current_version(name, credentials=credentials) == 4
            assert await client.get_commit_position(credentials=credentials) > 0
            assert await client.get_stream_metadata(name, credentials=credentials) == ({"a": 1}, 0)
            async with await client.subscribe_to_all(
                credentials=credentials, timeout=DEADLINE
            ) as sub:
                await sub.__anext__()
            async with await client.subscribe_to_stream(
                name, credentials=credentials, timeout=DEADLINE
            ) as sub:
                await sub.__anext__()
            assert await client.read_gossip(credentials=credentials)
            await client.delete_stream(name, current_version=4, credentials=credentials)
            await client.tombstone_stream(
                name, current_version=StreamState.ANY, credentials=credentials
            )
            for call in server.calls:
                assert "authorization" not in call.metadata, rpc_name(call.path)
                if "/event_store.client.streams." in call.path:
                    assert call.metadata["connection-name"] == client.settings.connection_name
                if call.path in {paths.APPEND, paths.BATCH_APPEND, paths.DELETE, paths.TOMBSTONE}:
                    assert call.metadata["requires-leader"] == "true"

        run(server.uri, scenario)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_without_batch_append_a_list_uses_append(kind: str) -> None:
    with recording_server(kind, batch_append=False) as server:

        async def scenario(client: AsyncEventStoreDBClient) -> None:
            name = new_stream()
            events = new_events(3)
            position = await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=events
            )
            assert [rpc_name(p) for p in server.paths()] == [
                "ServerFeatures.GetSupportedMethods",
                "Streams.Append",
            ]
            recorded = await client.get_stream(name)
            assert [e.id for e in recorded] == [e.id for e in events]
            assert recorded[-1].commit_position == position

        run(server.uri, scenario)


def test_close_and_context_manager(uri: str) -> None:
    async def main() -> None:
        async with AsyncEventStoreDBClient(uri) as client:
            assert not client.is_closed
            assert client.connection_target == uri
            await client.get_commit_position()
        assert client.is_closed
        with pytest.raises(ServiceUnavailable):
            await client.get_commit_position()
        await client.close()

    asyncio.run(main())


def test_esdb_connection_string(uri: str) -> None:
    esdb_uri = f"esdb://{uri}?Tls=false"
    skip_without_connection_strings(esdb_uri)

    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        assert (await client.get_stream(name))[-1].commit_position == position

    run(esdb_uri, scenario)


def test_stop_is_awaitable_as_in_esdbclient(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        response = await client.read_stream(name)
        await response.__anext__()
        await response.stop()
        subscription = await client.subscribe_to_stream(name, timeout=DEADLINE)
        await subscription.stop()

    run(uri, scenario)


def test_iteration_ends_after_stop(uri: str) -> None:
    async def scenario(client: AsyncEventStoreDBClient) -> None:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(3)
        )
        response = await client.read_stream(name)
        await response.__anext__()
        response.stop()
        subscription = await client.subscribe_to_stream(name, timeout=DEADLINE)
        await subscription.__anext__()
        subscription.stop()
        assert await collect(response) == []
        assert await collect(subscription) == []

    run(uri, scenario)


# ---- links (standard projections, embedded only) -------------------------------------


def test_resolve_links_through_category_streams(projections: EmbeddedServer) -> None:
    category = "acat" + uuid.uuid4().hex[:12]
    stream = f"{category}-{uuid.uuid4().hex}"
    kind = new_type("Linked")

    async def scenario(client: AsyncEventStoreDBClient) -> None:
        events = new_events(2, kind)
        await client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)
        originals = await client.get_stream(stream)
        links = await client.get_stream(f"$ce-{category}")
        assert [e.type for e in links] == ["$>", "$>"]
        resolved = await client.get_stream(f"$ce-{category}", resolve_links=True)
        assert list(resolved) == list(originals)
        assert [e.link.id for e in resolved if e.link] == [e.id for e in links]
        assert [e.ack_id for e in resolved] == [e.id for e in links]
        from_all = await collect(
            await client.read_all(
                resolve_links=True,
                filter_exclude=(),
                filter_by_stream_name=True,
                filter_include=[rf"\$et-{kind}"],
            )
        )
        assert from_all == list(originals)
        subscription = await client.subscribe_to_stream(
            f"$ce-{category}", resolve_links=True, timeout=DEADLINE
        )
        got = await take(subscription, 2)
        assert got == list(originals)
        assert all(e.link is not None and e.link.stream_name == f"$ce-{category}" for e in got)
        subscription.stop()
        by_type = await client.subscribe_to_all(
            resolve_links=True,
            filter_exclude=(),
            filter_by_stream_name=True,
            filter_include=[rf"\$et-{kind}"],
            timeout=DEADLINE,
        )
        assert await take(by_type, 2) == list(originals)
        by_type.stop()

    run(projections.uri, scenario)
