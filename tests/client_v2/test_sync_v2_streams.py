# Generated from tests/client_v2/test_async_v2_streams.py by scripts/unasync.py; do not edit.
"""EventStoreDBClient on KurrentDB's v2 Streams API and secondary indexes, with
kurrentdbclient 1.3.5's names: ``multi_append_to_stream`` (AppendSession), ``append_records``
with consistency checks (AppendRecords), their typed errors, ``read_index`` and
``subscribe_to_index``, and the error of a server without the API."""

from __future__ import annotations

import json
import re

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, NotFound, StreamState
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
from tests.client_v1._support import DEADLINE
from tests.client_v1._sync_helpers import collect, take
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


def is_empty(client: EventStoreDBClient, stream_name: str) -> bool:
    """Whether ``stream_name`` has no events (or does not exist)."""
    try:
        return not client.get_stream(stream_name)
    except NotFound:
        return True


def types_in(client: EventStoreDBClient, stream_name: str) -> list[str]:
    return [event.type for event in client.get_stream(stream_name)]


# ---- multi_append_to_stream ------------------------------------------------------------


def test_multi_append_to_ten_streams_atomically(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        streams = [new_stream("order") for _ in range(10)]
        position = client.multi_append_to_stream(
            [NewEvents(name, events("Placed", "Paid"), StreamState.NO_STREAM) for name in streams]
        )
        for name in streams:
            assert types_in(client, name) == ["Placed", "Paid"]
        assert position == (client.get_stream(streams[-1]))[-1].commit_position
        position = client.multi_append_to_stream(
            NewEvents(streams[0], events("Shipped"), 1),
            timeout=DEADLINE,
            credentials=client.construct_call_credentials("admin", "changeit"),
        )
        (shipped,) = client.get_stream(streams[0], stream_position=2)
        assert (shipped.type, shipped.commit_position) == ("Shipped", position)


def test_multi_append_one_failing_expectation_writes_nothing_to_ten_streams(
    server: V2Server,
) -> None:
    with EventStoreDBClient(server.uri) as client:
        guard = new_stream("guard")
        client.multi_append_to_stream(NewEvents(guard, events("Seed"), StreamState.ANY))
        streams = [new_stream("order") for _ in range(9)]
        batch = [NewEvents(name, events("Placed"), StreamState.NO_STREAM) for name in streams]
        batch.insert(4, NewEvents(guard, events("Again"), 5))
        with pytest.raises(WrongCurrentVersion) as error:
            client.multi_append_to_stream(batch)
        assert error.value.stream_name == guard
        assert (error.value.expected_version, error.value.actual_version) == (5, 0)
        assert "revision conflict" in str(error.value)
        for name in streams:
            assert is_empty(client, name)
        assert types_in(client, guard) == ["Seed"]


def test_revision_conflicts_name_stream_states(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream()
        client.multi_append_to_stream(NewEvents(name, events("A", "B"), StreamState.ANY))
        with pytest.raises(WrongCurrentVersion) as error:
            client.multi_append_to_stream(NewEvents(name, events("C"), 0))
        assert (error.value.expected_version, error.value.actual_version) == (0, 1)
        with pytest.raises(WrongCurrentVersion) as error:
            client.multi_append_to_stream(NewEvents(name, events("C"), StreamState.NO_STREAM))
        assert error.value.expected_version is StreamState.NO_STREAM
        assert error.value.actual_version == 1
        missing = new_stream()
        with pytest.raises(WrongCurrentVersion) as error:
            client.multi_append_to_stream(NewEvents(missing, events("C"), StreamState.EXISTS))
        assert error.value.expected_version is StreamState.EXISTS
        assert error.value.actual_version is StreamState.NO_STREAM
        client.multi_append_to_stream(NewEvents(name, events("C"), 1))
        assert client.get_current_version(name) == 2


def test_multi_append_to_a_tombstoned_stream(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream("gone")
        client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
        client.tombstone_stream(name, current_version=StreamState.ANY)
        other = new_stream()
        with pytest.raises(StreamTombstonedError) as error:
            client.multi_append_to_stream(
                [
                    NewEvents(other, events("A"), StreamState.ANY),
                    NewEvents(name, events("B"), StreamState.ANY),
                ]
            )
        assert error.value.stream_name == name
        assert isinstance(error.value, StreamIsDeleted)
        assert isinstance(error.value, FailedPrecondition)
        assert is_empty(client, other)


def test_a_stream_twice_in_one_session(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream("dup")
        with pytest.raises(MultiAppendToSameStreamError) as error:
            client.multi_append_to_stream(
                [
                    NewEvents(name, events("A"), StreamState.ANY),
                    NewEvents(name.upper(), events("B"), StreamState.ANY),
                ]
            )
        assert error.value.stream_name == name.upper()
        assert is_empty(client, name)


def test_transaction_too_large(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        first, second = new_stream("big"), new_stream("big")
        half = events(*["T"] * 3, size=MAX_RECORD_SIZE - 1024)
        with pytest.raises(TransactionMaxSizeExceededError) as error:
            client.multi_append_to_stream(
                [
                    NewEvents(first, half, StreamState.ANY),
                    NewEvents(second, half, StreamState.ANY),
                ]
            )
        assert error.value.max_size == MAX_APPEND_SIZE
        assert error.value.size > MAX_APPEND_SIZE
        assert isinstance(error.value, MaximumAppendSizeExceededError)
        assert is_empty(client, first)
        assert is_empty(client, second)


def test_record_too_large(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream("big")
        (event,) = events("Huge", size=MAX_RECORD_SIZE + 1)
        with pytest.raises(RecordMaxSizeExceededError) as error:
            client.multi_append_to_stream(NewEvents(name, [event], StreamState.ANY))
        assert error.value.stream_name == name
        assert error.value.event_id == event.id
        assert error.value.size > MAX_RECORD_SIZE == error.value.max_size
        record = NewRecord(name, "Huge", event.data)
        with pytest.raises(RecordMaxSizeExceededError) as error:
            client.append_records(record)
        assert (error.value.stream_name, error.value.event_id) == (name, record.id)
        assert is_empty(client, name)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_stream_deleted(kind: str) -> None:
    name = new_stream("deleted")
    handlers = {paths.APPEND_SESSION: failing_session(stream_deleted(name))}
    with v2_server(kind, handlers=handlers) as server, EventStoreDBClient(server.uri) as client:
        with pytest.raises(StreamDeletedError) as error:
            client.multi_append_to_stream(NewEvents(name, events("A"), 3))
        assert error.value.stream_name == name
        assert isinstance(error.value, StreamIsDeleted)
        assert "has been deleted" in str(error.value)


def test_an_empty_session_is_refused(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        nothing: list[NewEvents] = []
        with pytest.raises(FailedPrecondition, match="no append requests"):
            client.multi_append_to_stream(nothing)


def test_metadata_becomes_properties(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream("props")
        event = NewEvent(type="Placed", data=b'{"a": 1}', metadata=b'{"user": "u1", "n": 2}')
        raw = NewEvent(type="Blob", data=b"\x00\x01", content_type="application/octet-stream")
        client.multi_append_to_stream(NewEvents(name, [event, raw], StreamState.NO_STREAM))
        placed, blob = client.get_stream(name)
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
                client.multi_append_to_stream(NewEvents(name, [bad], StreamState.ANY))
        assert len(client.get_stream(name)) == 2


# ---- append_records ----------------------------------------------------------------------


def test_append_records_one_failing_check_writes_nothing_to_ten_streams(
    server: V2Server,
) -> None:
    with EventStoreDBClient(server.uri) as client:
        guard = new_stream("guard")
        client.append_records(NewRecord(guard, "Seed", b"{}"))
        streams = [new_stream("order") for _ in range(10)]
        records = [NewRecord(name, "Placed", b"{}") for name in streams]
        checks = [StreamStateCheck(name, StreamState.NO_STREAM) for name in streams]
        with pytest.raises(ConsistencyChecksFailedError) as error:
            client.append_records(records, [*checks, StreamStateCheck(guard, 3)])
        (failure,) = error.value.failures
        assert failure.check_index == 10
        state = failure.stream_state_failure
        assert state is not None
        assert (state.stream_name, state.expected_state, state.actual_state) == (guard, 3, 0)
        for name in streams:
            assert is_empty(client, name)
        result = client.append_records(records, [*checks, StreamStateCheck(guard, 0)])
        assert sorted(result.stream_positions, key=lambda p: streams.index(p.stream_name)) == [
            StreamPositionResult(name, 0) for name in streams
        ]
        for name in streams:
            assert types_in(client, name) == ["Placed"]


def test_append_records_with_checks(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        first, second, deleted = new_stream("a"), new_stream("b"), new_stream("d")
        client.append_records(NewRecord(deleted, "A", b"{}"))
        client.delete_stream(deleted, current_version=0)
        result = client.append_records(
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
        recorded = client.get_stream(first)
        assert [e.type for e in recorded] == ["T1", "T3"]
        assert result.commit_position == recorded[-1].commit_position
        assert json.loads(recorded[-1].metadata)["p"] is True
        # One record and one check need no list; a check may name an unwritten stream.
        result = client.append_records(
            NewRecord(second, "T4", b"{}"), StreamStateCheck(first, 1), timeout=DEADLINE
        )
        assert result.stream_positions == (StreamPositionResult(second, 1),)


def test_every_failing_check_is_reported(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        exists, missing, written = new_stream("e"), new_stream("m"), new_stream("w")
        client.append_records(NewRecord(exists, "Seed", b"{}"))
        with pytest.raises(ConsistencyChecksFailedError) as error:
            client.append_records(
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
        assert is_empty(client, written)


def test_append_records_to_a_tombstoned_stream(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        name = new_stream("gone")
        client.append_records(NewRecord(name, "A", b"{}"))
        client.tombstone_stream(name, current_version=StreamState.ANY)
        with pytest.raises(ConsistencyChecksFailedError) as error:
            client.append_records(NewRecord(name, "B", b"{}"))
        (failure,) = error.value.failures
        assert failure.stream_state_failure is not None
        assert failure.stream_state_failure.actual_state == -6


# ---- secondary indexes -------------------------------------------------------------------


def test_read_index_by_category_and_event_type(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        category, event_type = new_category(), new_category()
        names = [f"{category}-{i}" for i in range(3)]
        client.append_records(
            [NewRecord(name, event_type, b"{}") for name in names]
            + [NewRecord(new_stream("other"), event_type, b"{}")]
            + [NewRecord(names[0], "Other", b"{}")]
        )
        by_category = collect(client.read_index(f"ce-{category}"))
        assert [(e.stream_name, e.type) for e in by_category] == [
            *[(name, event_type) for name in names],
            (names[0], "Other"),
        ]
        by_type = collect(client.read_index(f"$idx-et-{event_type}"))
        assert len(by_type) == 4
        assert {e.type for e in by_type} == {event_type}
        later = collect(
            client.read_index(
                f"ce-{category}", commit_position=by_category[1].commit_position, limit=2
            )
        )
        assert [e.id for e in later] == [e.id for e in by_category[1:3]]
        with pytest.raises(NotFound):
            collect(client.read_index("nope-x", timeout=DEADLINE))


def test_subscribe_to_index(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        category = new_category()
        client.multi_append_to_stream(
            NewEvents(f"{category}-1", events("A", "B"), StreamState.NO_STREAM)
        )
        subscription = client.subscribe_to_index(f"ce-{category}", timeout=DEADLINE)
        with subscription:
            recorded = take(subscription, 2)
            assert [e.type for e in recorded] == ["A", "B"]
            client.append_records(
                [NewRecord(new_stream("other"), "X", b"{}"), NewRecord(f"{category}-2", "C", b"{}")]
            )
            (live,) = take(subscription, 1)
            assert (live.stream_name, live.type) == (f"{category}-2", "C")
        after = client.subscribe_to_index(
            f"$idx-ce-{category}", commit_position=recorded[0].commit_position, timeout=DEADLINE
        )
        with after:
            assert [e.type for e in take(after, 2)] == ["B", "C"]


# ---- feature detection and routing --------------------------------------------------


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("without", ["v2", "server_features"])
def test_a_server_without_the_v2_api_gets_a_clear_error(kind: str, without: str) -> None:
    with v2_server(
        kind, v2=without != "v2", server_features=without != "server_features"
    ) as server:
        with EventStoreDBClient(server.uri) as client:
            name = new_stream()
            with pytest.raises(
                FeatureNotSupportedError, match=r"AppendSession \(KurrentDB 25\.1\+\)"
            ):
                client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
            with pytest.raises(
                FeatureNotSupportedError, match=r"AppendRecords \(KurrentDB 26\.1\+\)"
            ):
                client.append_records(NewRecord(name, "A", b"{}"))
            with pytest.raises(FeatureNotSupportedError, match="secondary indexes"):
                client.read_index("ce-v2")
            with pytest.raises(FeatureNotSupportedError, match=re.escape(server.uri)):
                client.subscribe_to_index("ce-v2")
            # The v1 API still works, and the server was asked once.
            client.append_to_stream(name, current_version=StreamState.ANY, events=events("A")[0])
            assert types_in(client, name) == ["A"]
        assert server.calls[paths.SUPPORTED_METHODS] == (1 if without == "v2" else 0)
        assert not any(server.calls[path] for path in (paths.APPEND_SESSION, paths.APPEND_RECORDS))


def test_server_features_are_asked_once_per_connection(server: V2Server) -> None:
    with EventStoreDBClient(server.uri) as client:
        before = server.calls[paths.SUPPORTED_METHODS]
        name = new_stream()
        client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
        client.append_records(NewRecord(name, "B", b"{}"))
        collect(client.read_index(f"ce-{name.partition('-')[0]}", limit=1))
        assert server.calls[paths.SUPPORTED_METHODS] == before + 1
        client.reconnect()
        client.append_records(NewRecord(name, "C", b"{}"))
        assert server.calls[paths.SUPPORTED_METHODS] == before + 2


def test_a_follower_redirects_to_the_leader(server: V2Server) -> None:
    handlers = {paths.APPEND_SESSION: failing_session(not_leader("127.0.0.1", server.port))}
    with v2_server(server.kind, handlers=handlers) as follower:
        name = new_stream()
        with EventStoreDBClient(follower.uri) as client:
            client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
            assert client.connection_target == server.uri
            assert follower.calls[paths.APPEND_SESSION] == 1
            assert types_in(client, name) == ["A"]
