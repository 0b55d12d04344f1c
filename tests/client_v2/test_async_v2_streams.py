"""AsyncEventStoreDBClient on KurrentDB's v2 Streams API and secondary indexes, with
kurrentdbclient 1.3.5's names: ``multi_append_to_stream`` (AppendSession), ``append_records``
with consistency checks (AppendRecords), their typed errors, ``read_index`` and
``subscribe_to_index``, and the error of a server without the API (asyncio: the source of
``test_sync_v2_streams.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

import json
import re

import pytest

from esdb_wire import AsyncEventStoreDBClient, NewEvent, NotFound, StreamState
from esdb_wire.client import paths
from esdb_wire.exceptions import (
    ConsistencyChecksFailedError,
    FailedPrecondition,
    FeatureNotSupportedError,
    MaximumAppendSizeExceededError,
    MultiAppendToSameStreamError,
    ProgrammingError,
    RecordMaxSizeExceededError,
    StreamDeletedError,
    StreamIsDeleted,
    StreamTombstonedError,
    TransactionMaxSizeExceededError,
    WrongCurrentVersion,
)
from esdb_wire.records import (
    STREAM_DELETED,
    AppendRecordsResult,
    NewEvents,
    NewRecord,
    StreamPositionResult,
    StreamStateCheck,
)
from tests.client_v1._async_helpers import collect, take
from tests.client_v1._support import DEADLINE
from tests.client_v2._support import (
    MAX_APPEND_SIZE,
    MAX_RECORD_SIZE,
    V2Server,
    events,
    failing_session,
    new_category,
    new_stream,
    not_leader,
    stream_deleted,
    v2_server,
)
from tests.servers import SERVER_KINDS


async def is_empty(client: AsyncEventStoreDBClient, stream_name: str) -> bool:
    """Whether ``stream_name`` has no events (or does not exist)."""
    try:
        return not await client.get_stream(stream_name)
    except NotFound:
        return True


async def types_in(client: AsyncEventStoreDBClient, stream_name: str) -> list[str]:
    return [event.type for event in await client.get_stream(stream_name)]


# ---- multi_append_to_stream ------------------------------------------------------------


async def test_multi_append_to_ten_streams_atomically(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        streams = [new_stream("order") for _ in range(10)]
        position = await client.multi_append_to_stream(
            [NewEvents(name, events("Placed", "Paid"), StreamState.NO_STREAM) for name in streams]
        )
        for name in streams:
            assert await types_in(client, name) == ["Placed", "Paid"]
        assert position == (await client.get_stream(streams[-1]))[-1].commit_position
        position = await client.multi_append_to_stream(
            NewEvents(streams[0], events("Shipped"), 1),
            timeout=DEADLINE,
            credentials=client.construct_call_credentials("admin", "changeit"),
        )
        (shipped,) = await client.get_stream(streams[0], stream_position=2)
        assert (shipped.type, shipped.commit_position) == ("Shipped", position)


async def test_multi_append_one_failing_expectation_writes_nothing_to_ten_streams(
    server: V2Server,
) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        guard = new_stream("guard")
        await client.multi_append_to_stream(NewEvents(guard, events("Seed"), StreamState.ANY))
        streams = [new_stream("order") for _ in range(9)]
        batch = [NewEvents(name, events("Placed"), StreamState.NO_STREAM) for name in streams]
        batch.insert(4, NewEvents(guard, events("Again"), 5))
        with pytest.raises(WrongCurrentVersion) as error:
            await client.multi_append_to_stream(batch)
        assert error.value.stream_name == guard
        assert (error.value.expected_version, error.value.actual_version) == (5, 0)
        assert "revision conflict" in str(error.value)
        for name in streams:
            assert await is_empty(client, name)
        assert await types_in(client, guard) == ["Seed"]


async def test_revision_conflicts_name_stream_states(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream()
        await client.multi_append_to_stream(NewEvents(name, events("A", "B"), StreamState.ANY))
        with pytest.raises(WrongCurrentVersion) as error:
            await client.multi_append_to_stream(NewEvents(name, events("C"), 0))
        assert (error.value.expected_version, error.value.actual_version) == (0, 1)
        with pytest.raises(WrongCurrentVersion) as error:
            await client.multi_append_to_stream(NewEvents(name, events("C"), StreamState.NO_STREAM))
        assert error.value.expected_version is StreamState.NO_STREAM
        assert error.value.actual_version == 1
        missing = new_stream()
        with pytest.raises(WrongCurrentVersion) as error:
            await client.multi_append_to_stream(NewEvents(missing, events("C"), StreamState.EXISTS))
        assert error.value.expected_version is StreamState.EXISTS
        assert error.value.actual_version is StreamState.NO_STREAM
        await client.multi_append_to_stream(NewEvents(name, events("C"), 1))
        assert await client.get_current_version(name) == 2


async def test_multi_append_to_a_tombstoned_stream(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream("gone")
        await client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
        await client.tombstone_stream(name, current_version=StreamState.ANY)
        other = new_stream()
        with pytest.raises(StreamTombstonedError) as error:
            await client.multi_append_to_stream(
                [
                    NewEvents(other, events("A"), StreamState.ANY),
                    NewEvents(name, events("B"), StreamState.ANY),
                ]
            )
        assert error.value.stream_name == name
        assert isinstance(error.value, StreamIsDeleted)
        assert isinstance(error.value, FailedPrecondition)
        assert await is_empty(client, other)


async def test_a_stream_twice_in_one_session(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream("dup")
        with pytest.raises(MultiAppendToSameStreamError) as error:
            await client.multi_append_to_stream(
                [
                    NewEvents(name, events("A"), StreamState.ANY),
                    NewEvents(name.upper(), events("B"), StreamState.ANY),
                ]
            )
        assert error.value.stream_name == name.upper()
        assert await is_empty(client, name)


async def test_transaction_too_large(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        first, second = new_stream("big"), new_stream("big")
        half = events(*["T"] * 3, size=MAX_RECORD_SIZE - 1024)
        with pytest.raises(TransactionMaxSizeExceededError) as error:
            await client.multi_append_to_stream(
                [
                    NewEvents(first, half, StreamState.ANY),
                    NewEvents(second, half, StreamState.ANY),
                ]
            )
        assert error.value.max_size == MAX_APPEND_SIZE
        assert error.value.size > MAX_APPEND_SIZE
        assert isinstance(error.value, MaximumAppendSizeExceededError)
        assert await is_empty(client, first)
        assert await is_empty(client, second)


async def test_record_too_large(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream("big")
        (event,) = events("Huge", size=MAX_RECORD_SIZE + 1)
        with pytest.raises(RecordMaxSizeExceededError) as error:
            await client.multi_append_to_stream(NewEvents(name, [event], StreamState.ANY))
        assert error.value.stream_name == name
        assert error.value.event_id == event.id
        assert error.value.size > MAX_RECORD_SIZE == error.value.max_size
        record = NewRecord(name, "Huge", event.data)
        with pytest.raises(RecordMaxSizeExceededError) as error:
            await client.append_records(record)
        assert (error.value.stream_name, error.value.event_id) == (name, record.id)
        assert await is_empty(client, name)


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_stream_deleted(kind: str) -> None:
    name = new_stream("deleted")
    handlers = {paths.APPEND_SESSION: failing_session(stream_deleted(name))}
    with v2_server(kind, handlers=handlers) as server:
        async with AsyncEventStoreDBClient(server.uri) as client:
            with pytest.raises(StreamDeletedError) as error:
                await client.multi_append_to_stream(NewEvents(name, events("A"), 3))
            assert error.value.stream_name == name
            assert isinstance(error.value, StreamIsDeleted)
            assert "has been deleted" in str(error.value)


async def test_an_empty_session_is_refused(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        nothing: list[NewEvents] = []
        with pytest.raises(FailedPrecondition, match="no append requests"):
            await client.multi_append_to_stream(nothing)


async def test_metadata_becomes_properties(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream("props")
        event = NewEvent(type="Placed", data=b'{"a": 1}', metadata=b'{"user": "u1", "n": 2}')
        raw = NewEvent(type="Blob", data=b"\x00\x01", content_type="application/octet-stream")
        await client.multi_append_to_stream(NewEvents(name, [event, raw], StreamState.NO_STREAM))
        placed, blob = await client.get_stream(name)
        assert (placed.id, placed.data, placed.content_type) == (
            event.id,
            event.data,
            "application/json",
        )
        assert json.loads(placed.metadata) == {
            "user": "u1",
            "n": 2,
            "$schema.name": "Placed",
            "$schema.format": "Json",
        }
        assert blob.content_type == "application/octet-stream"
        assert json.loads(blob.metadata)["$schema.format"] == "Bytes"
        for metadata in (b"[1, 2]", b"not json"):
            bad = NewEvent(type="T", data=b"{}", metadata=metadata)
            with pytest.raises(ProgrammingError):
                await client.multi_append_to_stream(NewEvents(name, [bad], StreamState.ANY))
        assert len(await client.get_stream(name)) == 2


# ---- append_records ----------------------------------------------------------------------


async def test_append_records_one_failing_check_writes_nothing_to_ten_streams(
    server: V2Server,
) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        guard = new_stream("guard")
        await client.append_records(NewRecord(guard, "Seed", b"{}"))
        streams = [new_stream("order") for _ in range(10)]
        records = [NewRecord(name, "Placed", b"{}") for name in streams]
        checks = [StreamStateCheck(name, StreamState.NO_STREAM) for name in streams]
        with pytest.raises(ConsistencyChecksFailedError) as error:
            await client.append_records(records, [*checks, StreamStateCheck(guard, 3)])
        (failure,) = error.value.failures
        assert failure.check_index == 10
        state = failure.stream_state_failure
        assert state is not None
        assert (state.stream_name, state.expected_state, state.actual_state) == (guard, 3, 0)
        for name in streams:
            assert await is_empty(client, name)
        result = await client.append_records(records, [*checks, StreamStateCheck(guard, 0)])
        assert sorted(result.stream_positions, key=lambda p: streams.index(p.stream_name)) == [
            StreamPositionResult(name, 0) for name in streams
        ]
        for name in streams:
            assert await types_in(client, name) == ["Placed"]


async def test_append_records_with_checks(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        first, second, deleted = new_stream("a"), new_stream("b"), new_stream("d")
        await client.append_records(NewRecord(deleted, "A", b"{}"))
        await client.delete_stream(deleted, current_version=0)
        result = await client.append_records(
            [
                NewRecord(first, "T1", b"{}"),
                NewRecord(second, "T2", b"{}"),
                NewRecord(first, "T3", b'{"k": "v"}', metadata=b'{"p": true}'),
            ],
            checks=[
                StreamStateCheck(first, StreamState.NO_STREAM),
                StreamStateCheck(deleted, STREAM_DELETED),
            ],
        )
        assert isinstance(result, AppendRecordsResult)
        positions = {p.stream_name: p.stream_position for p in result.stream_positions}
        assert positions == {first: 1, second: 0}
        recorded = await client.get_stream(first)
        assert [e.type for e in recorded] == ["T1", "T3"]
        assert result.commit_position == recorded[-1].commit_position
        assert json.loads(recorded[-1].metadata)["p"] is True
        # One record and one check need no list; a check may name an unwritten stream.
        result = await client.append_records(
            NewRecord(second, "T4", b"{}"), StreamStateCheck(first, 1), timeout=DEADLINE
        )
        assert result.stream_positions == (StreamPositionResult(second, 1),)


async def test_every_failing_check_is_reported(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        exists, missing, written = new_stream("e"), new_stream("m"), new_stream("w")
        await client.append_records(NewRecord(exists, "Seed", b"{}"))
        with pytest.raises(ConsistencyChecksFailedError) as error:
            await client.append_records(
                NewRecord(written, "T", b"{}"),
                checks=[
                    StreamStateCheck(exists, StreamState.NO_STREAM),
                    StreamStateCheck(missing, StreamState.EXISTS),
                ],
            )
        found = [
            (f.check_index, s.stream_name, s.expected_state, s.actual_state)
            for f in error.value.failures
            if (s := f.stream_state_failure) is not None
        ]
        assert found == [(0, exists, -1, 0), (1, missing, -4, -1)]
        assert await is_empty(client, written)


async def test_append_records_to_a_tombstoned_stream(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        name = new_stream("gone")
        await client.append_records(NewRecord(name, "A", b"{}"))
        await client.tombstone_stream(name, current_version=StreamState.ANY)
        with pytest.raises(ConsistencyChecksFailedError) as error:
            await client.append_records(NewRecord(name, "B", b"{}"))
        (failure,) = error.value.failures
        assert failure.stream_state_failure is not None
        assert failure.stream_state_failure.actual_state == -6


# ---- secondary indexes -------------------------------------------------------------------


async def test_read_index_by_category_and_event_type(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        category, event_type = new_category(), new_category()
        names = [f"{category}-{i}" for i in range(3)]
        await client.append_records(
            [NewRecord(name, event_type, b"{}") for name in names]
            + [NewRecord(new_stream("other"), event_type, b"{}")]
            + [NewRecord(names[0], "Other", b"{}")]
        )
        by_category = await collect(await client.read_index(f"ce-{category}"))
        assert [(e.stream_name, e.type) for e in by_category] == [
            *[(name, event_type) for name in names],
            (names[0], "Other"),
        ]
        by_type = await collect(await client.read_index(f"$idx-et-{event_type}"))
        assert len(by_type) == 4
        assert {e.type for e in by_type} == {event_type}
        later = await collect(
            await client.read_index(
                f"ce-{category}", commit_position=by_category[1].commit_position, limit=2
            )
        )
        assert [e.id for e in later] == [e.id for e in by_category[1:3]]
        with pytest.raises(NotFound):
            await collect(await client.read_index("nope-x", timeout=DEADLINE))


async def test_subscribe_to_index(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        category = new_category()
        await client.multi_append_to_stream(
            NewEvents(f"{category}-1", events("A", "B"), StreamState.NO_STREAM)
        )
        subscription = await client.subscribe_to_index(f"ce-{category}", timeout=DEADLINE)
        async with subscription:
            recorded = await take(subscription, 2)
            assert [e.type for e in recorded] == ["A", "B"]
            await client.append_records(
                [NewRecord(new_stream("other"), "X", b"{}"), NewRecord(f"{category}-2", "C", b"{}")]
            )
            (live,) = await take(subscription, 1)
            assert (live.stream_name, live.type) == (f"{category}-2", "C")
        after = await client.subscribe_to_index(
            f"$idx-ce-{category}", commit_position=recorded[0].commit_position, timeout=DEADLINE
        )
        async with after:
            assert [e.type for e in await take(after, 2)] == ["B", "C"]


# ---- feature detection and routing --------------------------------------------------


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("without", ["v2", "server_features"])
async def test_a_server_without_the_v2_api_gets_a_clear_error(kind: str, without: str) -> None:
    with v2_server(
        kind, v2=without != "v2", server_features=without != "server_features"
    ) as server:
        async with AsyncEventStoreDBClient(server.uri) as client:
            name = new_stream()
            with pytest.raises(
                FeatureNotSupportedError, match=r"AppendSession \(KurrentDB 25\.1\+\)"
            ):
                await client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
            with pytest.raises(
                FeatureNotSupportedError, match=r"AppendRecords \(KurrentDB 26\.1\+\)"
            ):
                await client.append_records(NewRecord(name, "A", b"{}"))
            with pytest.raises(FeatureNotSupportedError, match="secondary indexes"):
                await client.read_index("ce-v2")
            with pytest.raises(FeatureNotSupportedError, match=re.escape(server.uri)):
                await client.subscribe_to_index("ce-v2")
            # The v1 API still works, and the server was asked once.
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=events("A")[0]
            )
            assert await types_in(client, name) == ["A"]
        assert server.calls[paths.SUPPORTED_METHODS] == (1 if without == "v2" else 0)
        assert not any(server.calls[path] for path in (paths.APPEND_SESSION, paths.APPEND_RECORDS))


async def test_server_features_are_asked_once_per_connection(server: V2Server) -> None:
    async with AsyncEventStoreDBClient(server.uri) as client:
        before = server.calls[paths.SUPPORTED_METHODS]
        name = new_stream()
        await client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
        await client.append_records(NewRecord(name, "B", b"{}"))
        await collect(await client.read_index(f"ce-{name.partition('-')[0]}", limit=1))
        assert server.calls[paths.SUPPORTED_METHODS] == before + 1
        await client.reconnect()
        await client.append_records(NewRecord(name, "C", b"{}"))
        assert server.calls[paths.SUPPORTED_METHODS] == before + 2


async def test_a_follower_redirects_to_the_leader(server: V2Server) -> None:
    handlers = {paths.APPEND_SESSION: failing_session(not_leader("127.0.0.1", server.port))}
    with v2_server(server.kind, handlers=handlers) as follower:
        name = new_stream()
        async with AsyncEventStoreDBClient(follower.uri) as client:
            await client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
            assert client.connection_target == server.uri
            assert follower.calls[paths.APPEND_SESSION] == 1
            assert await types_in(client, name) == ["A"]
