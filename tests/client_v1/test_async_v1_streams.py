"""AsyncEventStoreDBClient (the esdbclient 1.1.7 API) against the embedded server and
against the same service logic hosted by grpcio: appending, reading, deleting and stream
metadata, every method and argument, with exact results (asyncio: the source of
``test_sync_v1_streams.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from esdb_wire import (
    DEFAULT_EXCLUDE_FILTER,
    AsyncEventStoreDBClient,
    AsyncReadResponse,
    MaximumAppendSizeExceededError,
    NewEvent,
    NotFound,
    RecordedEvent,
    StreamIsDeleted,
    StreamState,
    WrongCurrentVersion,
)
from esdb_wire import exceptions as exc
from tests.client_v1._async_helpers import collect, first_of
from tests.client_v1._support import (
    DEADLINE,
    assert_recent,
    assert_recorded,
    new_events,
    new_stream,
    new_type,
)

# ---- appending -----------------------------------------------------------------------


def test_new_event_defaults() -> None:
    event = NewEvent(type="T", data=b"{}")
    assert event.metadata == b""
    assert event.content_type == "application/json"
    assert isinstance(event.id, uuid.UUID)
    assert event.id.version == 4
    assert NewEvent(type="T", data=b"{}").id != event.id
    same = NewEvent(type="Other", data=b"x", id=event.id)
    assert same == event  # equality is by id


async def test_append_one_event_and_read_back_every_field(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        event = NewEvent(
            type="OrderPlaced",
            data=b"\x00\x01binary",
            metadata=b'{"corr": 1}',
            content_type="application/octet-stream",
            id=uuid.uuid4(),
        )
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=event
        )
        assert isinstance(position, int)
        assert position > 0
        recorded = await client.get_stream(name)
        assert isinstance(recorded, tuple)
        assert len(recorded) == 1
        assert_recorded(recorded[0], event, name, 0, position)
        assert recorded[0] == event  # a RecordedEvent equals the NewEvent with its id
        assert await client.get_current_version(name) == 0
        assert await client.get_commit_position() == position


async def test_append_many_events_is_atomic_and_returns_the_last_position(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        events = new_events(3)
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        recorded = await client.get_stream(name)
        assert len(recorded) == 3
        for index, (got, sent) in enumerate(zip(recorded, events)):
            assert_recorded(got, sent, name, index)
        assert recorded[-1].commit_position == position
        positions = [event.commit_position for event in recorded]
        assert positions == sorted(set(positions))  # type: ignore[type-var]
        # Any iterable of events: a generator, appended after version 2.
        more = new_events(2, start=3)
        last = await client.append_to_stream(name, current_version=2, events=(e for e in more))
        assert last > position
        assert await client.get_current_version(name) == 4
        again = await client.get_stream(name, stream_position=3)
        assert [e.id for e in again] == [e.id for e in more]
        # StreamState.ANY and StreamState.EXISTS on an existing stream.
        await client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        await client.append_to_stream(
            name, current_version=StreamState.EXISTS, events=new_events(1)[0]
        )
        assert await client.get_current_version(name) == 6


async def test_append_event_and_append_events_aliases(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        first = NewEvent(type="First", data=b"{}")
        position = await client.append_event(
            name, current_version=StreamState.NO_STREAM, event=first, timeout=DEADLINE
        )
        events = new_events(2)
        last = await client.append_events(name, current_version=0, events=events, timeout=DEADLINE)
        recorded = await client.get_stream(name)
        assert [e.id for e in recorded] == [first.id, events[0].id, events[1].id]
        assert recorded[0].commit_position == position
        assert recorded[2].commit_position == last
        with pytest.raises(WrongCurrentVersion):
            await client.append_event(name, current_version=0, event=NewEvent(type="X", data=b""))
        with pytest.raises(WrongCurrentVersion):
            await client.append_events(name, current_version=7, events=new_events(1))


@pytest.mark.parametrize("shape", ["one", "list"])
async def test_wrong_current_version_on_append(uri: str, shape: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:

        async def append(name: str, version: int | StreamState) -> int:
            events = new_events(1, "Bad")
            return await client.append_to_stream(
                name, current_version=version, events=events[0] if shape == "one" else events
            )

        missing = new_stream()
        for version in (0, 5, StreamState.EXISTS):
            with pytest.raises(WrongCurrentVersion) as info:
                await append(missing, version)
            assert isinstance(info.value, exc.EventStoreDBClientException)
        assert await client.get_current_version(missing) is StreamState.NO_STREAM

        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        for version in (StreamState.NO_STREAM, 0, 2, 5):
            with pytest.raises(WrongCurrentVersion) as info:
                await append(name, version)
            assert info.value.actual_version == 1
        assert await client.get_current_version(name) == 1  # none of the failed appends landed
        assert exc.WrongExpectedVersion is WrongCurrentVersion


async def test_appends_are_idempotent_on_event_ids(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        events = new_events(2)
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        again = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        assert again == position
        assert (
            await client.append_to_stream(name, current_version=StreamState.ANY, events=events)
            == position
        )
        first = (await client.get_stream(name))[0]
        # Re-sending only the first event: its own position (Append rpc).
        assert (
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=events[0]
            )
            == first.commit_position
        )
        assert len(await client.get_stream(name)) == 2
        # A batch whose ids only partly match is a conflict, not a replay.
        with pytest.raises(WrongCurrentVersion):
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=[events[0], *new_events(1)]
            )
        single = NewEvent(type="Once", data=b"{}")
        once = await client.append_to_stream(name, current_version=1, events=single)
        assert await client.append_to_stream(name, current_version=1, events=single) == once
        assert await client.get_current_version(name) == 2


@pytest.mark.parametrize("shape", ["one", "list"])
async def test_maximum_append_size(uri: str, shape: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        big = NewEvent(type="Big", data=b"x" * (1024 * 1024 + 1))
        with pytest.raises(MaximumAppendSizeExceededError):
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=big if shape == "one" else [big]
            )
        assert await client.get_current_version(name) is StreamState.NO_STREAM


# ---- reading streams -----------------------------------------------------------------


async def test_get_stream_arguments(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(5)
        )

        async def positions(**kwargs: Any) -> list[int]:
            return [event.stream_position for event in await client.get_stream(name, **kwargs)]

        assert await positions() == [0, 1, 2, 3, 4]
        assert await positions(stream_position=2) == [2, 3, 4]
        assert await positions(backwards=True) == [4, 3, 2, 1, 0]
        assert await positions(limit=2) == [0, 1]
        assert await positions(stream_position=3, backwards=True, limit=2) == [3, 2]
        assert await positions(stream_position=10) == []
        assert await positions(resolve_links=True) == [0, 1, 2, 3, 4]  # nothing to resolve
        assert await positions(timeout=DEADLINE) == [0, 1, 2, 3, 4]
        with pytest.raises(NotFound):
            await client.get_stream(new_stream())
        assert issubclass(exc.StreamNotFound, NotFound)


async def test_read_stream_is_a_lazy_iterator_with_stop_and_with(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        events = new_events(3)
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
        response = await client.read_stream(name)
        assert isinstance(response, AsyncReadResponse)
        assert response.__aiter__() is response
        assert [e.id for e in await collect(response)] == [e.id for e in events]
        async with await client.read_stream(name, stream_position=1, limit=1) as response:
            assert [e.stream_position for e in await collect(response)] == [1]
        async with await client.read_stream(name, backwards=True) as response:
            assert (await response.__anext__()).stream_position == 2
        response = await client.read_stream(name)
        assert (await response.__anext__()).stream_position == 0
        response.stop()
        response.stop()  # stopping twice is harmless
        missing = await client.read_stream(new_stream())  # no error until it is iterated
        with pytest.raises(NotFound):
            await missing.__anext__()


async def test_read_stream_ends_after_stop(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(3)
        )
        response = await client.read_stream(name)
        await response.__anext__()
        response.stop()
        # esdbclient 1.1.7: iterating a stopped response ends at once.
        assert await collect(response) == []


async def test_read_all_arguments(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        kind_a, kind_b = new_type("A"), new_type("B")
        events = [*new_events(2, kind_a), *new_events(2, kind_b, start=2)]
        last = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        recorded = await client.get_stream(name)
        first = recorded[0].commit_position
        assert first is not None

        async def read(**kwargs: Any) -> list[RecordedEvent]:
            return await collect(await client.read_all(**kwargs))

        forwards = await read(commit_position=first)  # inclusive
        assert [e.id for e in forwards] == [e.id for e in events]
        for got, want in zip(forwards, recorded):
            assert got.commit_position == want.commit_position
            assert got.prepare_position == want.prepare_position
            assert got.stream_position == want.stream_position
            assert got.stream_name == name
            assert_recent(got)
        first_two = await read(commit_position=first, limit=2)
        assert [e.id for e in first_two] == [e.id for e in events[:2]]
        backwards = await read(commit_position=last, backwards=True, limit=2)  # exclusive
        assert [e.id for e in backwards] == [events[2].id, events[1].id]
        assert (await read(backwards=True, limit=1))[0].commit_position == last
        only_a = await read(commit_position=first, filter_include=[kind_a])
        assert [e.id for e in only_a] == [e.id for e in events[:2]]
        both = await read(commit_position=first, filter_include=[kind_a, kind_b])
        assert len(both) == 4
        without_a = await read(
            commit_position=first, filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_a]
        )
        assert [e.id for e in without_a] == [e.id for e in events[2:]]
        by_name = await read(filter_by_stream_name=True, filter_include=[name])
        assert [e.id for e in by_name] == [e.id for e in events]
        not_by_name = await read(
            commit_position=first, filter_by_stream_name=True, filter_exclude=[name], limit=10
        )
        assert not [e for e in not_by_name if e.stream_name == name]
        resolving = await read(commit_position=first, resolve_links=True, timeout=DEADLINE)
        assert resolving[0].id == events[0].id
        # System events: hidden by the default filter, shown without one.
        assert not [e for e in await read() if e.type.startswith("$")]
        assert [e for e in await read(filter_exclude=()) if e.type == "$settings"]


async def test_get_current_version_and_commit_position(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        assert await client.get_current_version(new_stream()) is StreamState.NO_STREAM
        name = new_stream()
        kind = new_type()
        first = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1, kind)
        )
        last = await client.append_to_stream(name, current_version=0, events=new_events(2))
        assert await client.get_current_version(name) == 2
        assert await client.get_current_version(name, timeout=DEADLINE) == 2
        assert await client.get_commit_position() == last
        assert await client.get_commit_position(timeout=DEADLINE) == last
        assert await client.get_commit_position(filter_include=[kind]) == first
        by_name = await client.get_commit_position(
            filter_by_stream_name=True, filter_include=[name]
        )
        assert by_name == last
        assert await client.get_commit_position(filter_include=[new_type("Never")]) == 0
        system = await client.get_commit_position(filter_exclude=(), filter_include=[r"\$.*"])
        assert 0 < system < first


# ---- deleting ------------------------------------------------------------------------


async def test_delete_stream(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        with pytest.raises(NotFound):
            await client.delete_stream(new_stream(), current_version=StreamState.ANY)
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        for wrong in (0, 5, StreamState.NO_STREAM):
            with pytest.raises(WrongCurrentVersion):
                await client.delete_stream(name, current_version=wrong)
        assert await client.get_current_version(name) == 1
        deleted = await client.delete_stream(name, current_version=1, timeout=DEADLINE)  # type: ignore[func-returns-value]
        assert deleted is None
        with pytest.raises(NotFound):
            await client.get_stream(name)
        assert await client.get_current_version(name) is StreamState.NO_STREAM
        assert await client.get_stream_metadata(name) == ({"$tb": 2**63 - 1}, 0)
        # Soft-deleted streams can be written again; numbering continues.
        event = NewEvent(type="Again", data=b"{}")
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=event)
        (recorded,) = await client.get_stream(name)
        assert recorded.stream_position == 2
        assert recorded.id == event.id
        assert await client.get_stream_metadata(name) == ({"$tb": 2}, 1)
        await client.delete_stream(name, current_version=StreamState.EXISTS)
        assert await client.get_current_version(name) is StreamState.NO_STREAM
        await client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        assert [e.stream_position for e in await client.get_stream(name)] == [3]


async def test_tombstone_stream(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        with pytest.raises(WrongCurrentVersion):
            await client.tombstone_stream(name, current_version=0)
        tombstoned = await client.tombstone_stream(name, current_version=1)  # type: ignore[func-returns-value]
        assert tombstoned is None
        event = NewEvent(type="Late", data=b"{}")
        failures: list[Callable[[], Awaitable[object]]] = [
            lambda: client.get_stream(name),
            lambda: first_of(client.read_stream(name)),
            lambda: client.get_current_version(name),
            lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=event),
            lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=[event]),
            lambda: client.delete_stream(name, current_version=StreamState.ANY),
            lambda: client.tombstone_stream(name, current_version=StreamState.ANY),
            lambda: client.get_stream_metadata(name),
            lambda: first_of(client.subscribe_to_stream(name, timeout=DEADLINE)),
        ]
        for failure in failures:
            with pytest.raises(StreamIsDeleted):
                await failure()
        # Its metadata can still be set (as on a node), though not read.
        await client.set_stream_metadata(name, metadata={"a": 1})
        with pytest.raises(StreamIsDeleted):
            await client.get_stream_metadata(name)
        # A stream that never existed can be tombstoned too.
        never = new_stream()
        await client.tombstone_stream(never, current_version=StreamState.NO_STREAM)
        with pytest.raises(StreamIsDeleted):
            await client.get_stream(never)


# ---- metadata ------------------------------------------------------------------------


async def test_stream_metadata_round_trip(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        assert await client.get_stream_metadata(name) == ({}, StreamState.NO_STREAM)
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(5)
        )
        assert await client.get_stream_metadata(name) == ({}, StreamState.NO_STREAM)
        metadata: dict[str, Any] = {"$maxCount": 2, "custom": {"nested": [1, "x", None, True]}}
        written = await client.set_stream_metadata(name, metadata=metadata)  # type: ignore[func-returns-value]
        assert written is None
        assert await client.get_stream_metadata(name) == (metadata, 0)
        positions = [e.stream_position for e in await client.get_stream(name)]
        assert positions == [3, 4]  # $maxCount applies
        updated = {"owner": "me"}
        await client.set_stream_metadata(
            name, metadata=updated, current_version=0, timeout=DEADLINE
        )
        assert await client.get_stream_metadata(name, timeout=DEADLINE) == (updated, 1)
        assert len(await client.get_stream(name)) == 5
        with pytest.raises(WrongCurrentVersion):
            await client.set_stream_metadata(name, metadata={}, current_version=0)
        with pytest.raises(WrongCurrentVersion):
            await client.set_stream_metadata(
                name, metadata={}, current_version=StreamState.NO_STREAM
            )
        (event,) = await client.get_stream("$$" + name, backwards=True, limit=1)
        assert event.type == "$metadata"
        assert json.loads(event.data) == updated
