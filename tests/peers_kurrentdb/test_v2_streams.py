"""kurrentdbclient 1.3.5 against the embedded server: multi-stream appends
(``multi_append_to_stream`` over AppendSession, ``append_records`` with consistency checks
over AppendRecords), its typed errors from the rich error details, secondary index reads
and subscriptions, and the 25.1 caught-up fields."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.peers_kurrentdb.conftest import MAX_APPEND_SIZE, kurrentdbclient_or_skip

kdb = kurrentdbclient_or_skip()
errors = kdb.exceptions
NewEvent = kdb.NewEvent
NewEvents = kdb.NewEvents
NewRecord = kdb.NewRecord
StreamState = kdb.StreamState
StreamStateCheck = kdb.StreamStateCheck


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def events(*types: str) -> list[Any]:
    return [NewEvent(type=t, data=b"{}") for t in types]


def stream_is_empty(client: Any, name: str) -> bool:
    try:
        return len(client.get_stream(name)) == 0
    except errors.NotFoundError:
        return True


# ---- multi_append_to_stream ------------------------------------------------------------


def test_multi_append_to_ten_streams_atomically(client: Any) -> None:
    streams = [unique("order") for _ in range(10)]
    position = client.multi_append_to_stream(
        [NewEvents(name, events("Placed", "Paid"), StreamState.NO_STREAM) for name in streams]
    )
    last = client.get_stream(streams[-1])[-1]
    assert position == last.commit_position
    for name in streams:
        assert [e.type for e in client.get_stream(name)] == ["Placed", "Paid"]
    assert client.get_current_version(streams[0]) == 1


def test_multi_append_conflict_writes_nothing(client: Any) -> None:
    taken = unique("taken")
    client.multi_append_to_stream(NewEvents(taken, events("Seed"), StreamState.ANY))
    streams = [unique("order") for _ in range(9)]
    batch = [NewEvents(name, events("Placed"), StreamState.NO_STREAM) for name in streams]
    batch.append(NewEvents(taken, events("Again"), 5))
    with pytest.raises(errors.WrongCurrentVersionError) as error:
        client.multi_append_to_stream(batch)
    assert error.value.stream_name == taken
    assert (error.value.expected_version, error.value.actual_version) == (5, 0)
    assert all(stream_is_empty(client, name) for name in streams)
    assert len(client.get_stream(taken)) == 1


def test_multi_append_expects_revision_zero(client: Any) -> None:
    name = unique("zero")
    client.multi_append_to_stream(NewEvents(name, events("A", "B"), StreamState.NO_STREAM))
    with pytest.raises(errors.WrongCurrentVersionError):
        client.multi_append_to_stream(NewEvents(name, events("C"), 0))
    client.multi_append_to_stream(NewEvents(name, events("C"), 1))
    assert client.get_current_version(name) == 2


def test_multi_append_same_stream_twice(client: Any) -> None:
    name = unique("dup")
    batch = [
        NewEvents(name, events("A"), StreamState.ANY),
        NewEvents(name.upper(), events("B"), StreamState.ANY),
    ]
    with pytest.raises(errors.MultiAppendToSameStreamError) as error:
        client.multi_append_to_stream(batch)
    assert error.value.stream_name == name.upper()
    assert stream_is_empty(client, name)


def test_multi_append_to_a_tombstoned_stream(client: Any) -> None:
    name = unique("gone")
    client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
    client.tombstone_stream(name, current_version=StreamState.ANY)
    with pytest.raises(errors.StreamTombstonedError):
        client.multi_append_to_stream(NewEvents(name, events("B"), StreamState.ANY))


def test_multi_append_transaction_too_large(client: Any) -> None:
    name = unique("big")
    payload = [NewEvent(type="T", data=b"x" * 20_000) for _ in range(4)]
    with pytest.raises(errors.TransactionMaxSizeExceededError) as error:
        client.multi_append_to_stream(NewEvents(name, payload, StreamState.ANY))
    assert error.value.max_size == MAX_APPEND_SIZE
    assert stream_is_empty(client, name)


def test_metadata_becomes_properties_seen_by_v1_readers(client: Any) -> None:
    name = unique("props")
    event = NewEvent(type="Placed", data=b'{"a":1}', metadata=b'{"user":"u1","tenant":"t"}')
    client.multi_append_to_stream(NewEvents(name, [event], StreamState.NO_STREAM))
    (recorded,) = client.get_stream(name)
    assert recorded.id == event.id
    assert recorded.content_type == "application/json"
    assert json.loads(recorded.metadata) == {
        "user": "u1",
        "tenant": "t",
        "$schema.name": "Placed",
        "$schema.format": "Json",
    }


# ---- append_records ----------------------------------------------------------------------


def test_append_records_with_checks(client: Any) -> None:
    first, second = unique("a"), unique("b")
    result = client.append_records(
        [
            NewRecord(first, "T1", b"{}"),
            NewRecord(second, "T2", b"{}"),
            NewRecord(first, "T3", b"{}"),
        ],
        checks=[StreamStateCheck(first, StreamState.NO_STREAM)],
    )
    positions = {p.stream_name: p.stream_position for p in result.stream_positions}
    assert positions == {first: 1, second: 0}
    assert result.commit_position == client.get_stream(first)[-1].commit_position
    assert [e.type for e in client.get_stream(first)] == ["T1", "T3"]
    result = client.append_records(
        NewRecord(second, "T4", b"{}"), checks=StreamStateCheck(first, 1)
    )
    assert [(p.stream_name, p.stream_position) for p in result.stream_positions] == [(second, 1)]


def test_one_failing_check_writes_nothing_to_ten_streams(client: Any) -> None:
    guard = unique("guard")
    client.append_records(NewRecord(guard, "Seed", b"{}"))
    streams = [unique("order") for _ in range(10)]
    records = [NewRecord(name, "Placed", b"{}") for name in streams]
    checks = [StreamStateCheck(name, StreamState.NO_STREAM) for name in streams]
    with pytest.raises(errors.ConsistencyChecksFailedError) as error:
        client.append_records(records, checks=[*checks, StreamStateCheck(guard, 3)])
    (failure,) = error.value.failures
    assert failure.check_index == 10
    state = failure.stream_state_failure
    assert (state.stream_name, state.expected_state, state.actual_state) == (guard, 3, 0)
    assert all(stream_is_empty(client, name) for name in streams)
    client.append_records(records, checks=[*checks, StreamStateCheck(guard, 0)])
    assert all(len(client.get_stream(name)) == 1 for name in streams)


def test_every_failing_check_is_reported(client: Any) -> None:
    exists, missing = unique("exists"), unique("missing")
    client.append_records(NewRecord(exists, "Seed", b"{}"))
    with pytest.raises(errors.ConsistencyChecksFailedError) as error:
        client.append_records(
            NewRecord(unique("w"), "T", b"{}"),
            checks=[
                StreamStateCheck(exists, StreamState.NO_STREAM),
                StreamStateCheck(missing, StreamState.EXISTS),
            ],
        )
    found = [
        (f.check_index, f.stream_state_failure.stream_name, f.stream_state_failure.actual_state)
        for f in error.value.failures
    ]
    assert found == [(0, exists, 0), (1, missing, -1)]


def test_append_records_to_a_tombstoned_stream(client: Any) -> None:
    name = unique("gone")
    client.append_records(NewRecord(name, "A", b"{}"))
    client.tombstone_stream(name, current_version=StreamState.ANY)
    with pytest.raises(errors.ConsistencyChecksFailedError) as error:
        client.append_records(NewRecord(name, "B", b"{}"))
    assert error.value.failures[0].stream_state_failure.actual_state == -6


# ---- secondary indexes -------------------------------------------------------------------


def test_read_index_by_category_and_event_type(client: Any) -> None:
    category = f"cat{uuid.uuid4().hex[:8]}"
    event_type = f"Type{uuid.uuid4().hex[:8]}"
    names = [f"{category}-{i}" for i in range(3)]
    client.append_records(
        [NewRecord(name, event_type, b"{}") for name in names]
        + [NewRecord(unique("other"), event_type, b"{}")]
    )
    by_category = list(client.read_index(f"ce-{category}"))
    assert [e.stream_name for e in by_category] == names
    assert [e.stream_name for e in client.read_index(f"$idx-ce-{category}", limit=2)] == names[:2]
    from_second = client.read_index(
        f"ce-{category}", commit_position=by_category[1].commit_position
    )
    assert [e.stream_name for e in from_second] == names[1:]
    assert len(list(client.read_index(f"et-{event_type}"))) == 4


def test_subscribe_to_index(client: Any) -> None:
    category = f"sub{uuid.uuid4().hex[:8]}"
    client.append_records(NewRecord(f"{category}-1", "A", b"{}"))
    subscription = client.subscribe_to_index(f"ce-{category}", timeout=10)
    try:
        first = next(iter(subscription))
        client.append_records(
            [NewRecord(unique("noise"), "A", b"{}"), NewRecord(f"{category}-2", "B", b"{}")]
        )
        second = next(iter(subscription))
    finally:
        subscription.stop()
    assert [(first.stream_name, first.type), (second.stream_name, second.type)] == [
        (f"{category}-1", "A"),
        (f"{category}-2", "B"),
    ]


# ---- caught-up fields --------------------------------------------------------------------


def test_caught_up_carries_time_and_position(client: Any) -> None:
    name = unique("caught")
    client.append_records([NewRecord(name, "A", b"{}"), NewRecord(name, "B", b"{}")])
    subscription = client.subscribe_to_stream(name, include_caught_up=True, timeout=10)
    try:
        received = [next(iter(subscription)) for _ in range(3)]
    finally:
        subscription.stop()
    caught_up = received[-1]
    assert isinstance(caught_up, kdb.CaughtUp)
    assert caught_up.stream_position == 1
    assert caught_up.recorded_at is not None
    subscription = client.subscribe_to_all(include_caught_up=True, from_end=True, timeout=10)
    try:
        caught_up = next(iter(subscription))
    finally:
        subscription.stop()
    assert isinstance(caught_up, kdb.CaughtUp)
    assert caught_up.commit_position > 0
    assert caught_up.recorded_at is not None


# ---- asyncio client ----------------------------------------------------------------------


def test_async_client(uri: str) -> None:
    async def scenario() -> None:
        client = kdb.AsyncKurrentDBClient(uri=uri)
        await client.connect()
        try:
            streams = [unique("async") for _ in range(3)]
            position = await client.multi_append_to_stream(
                [NewEvents(name, events("A"), StreamState.NO_STREAM) for name in streams]
            )
            assert position > 0
            with pytest.raises(errors.ConsistencyChecksFailedError):
                await client.append_records(
                    [NewRecord(name, "B", b"{}") for name in streams],
                    checks=[StreamStateCheck(streams[0], 7)],
                )
            result = await client.append_records(
                [NewRecord(name, "B", b"{}") for name in streams],
                checks=[StreamStateCheck(streams[0], 0)],
            )
            assert {p.stream_position for p in result.stream_positions} == {1}
            category = streams[0].partition("-")[0]
            read = await client.read_index(f"ce-{category}")
            assert len([event async for event in read]) >= 6
        finally:
            await client.close()

    asyncio.run(scenario())
