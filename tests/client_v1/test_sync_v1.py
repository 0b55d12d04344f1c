"""EventStoreDBClient (the esdbclient 1.1.7 API) against the embedded server and against the
same service logic hosted by grpcio: every method and argument, with exact results."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from esdb_wire import (
    DEFAULT_EXCLUDE_FILTER,
    CaughtUp,
    Checkpoint,
    ClusterMember,
    DeadlineExceeded,
    EventStoreDBClient,
    MaximumAppendSizeExceededError,
    NewEvent,
    NotFound,
    RecordedEvent,
    ServiceUnavailable,
    StreamIsDeleted,
    StreamState,
    WrongCurrentVersion,
)
from esdb_wire import exceptions as exc
from esdb_wire.client import paths
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._support import (
    DEADLINE,
    assert_recent,
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

ZERO = uuid.UUID(int=0)


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    require_grpcio(request.param)
    with running_server(request.param) as address:
        yield address


@pytest.fixture(scope="module")
def client(uri: str, http2_engine: str) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(uri) as esdb:
        yield esdb


@pytest.fixture(scope="module")
def projections() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(run_projections="all") as server:
        yield server


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


def test_append_one_event_and_read_back_every_field(client: EventStoreDBClient) -> None:
    name = new_stream()
    event = NewEvent(
        type="OrderPlaced",
        data=b"\x00\x01binary",
        metadata=b'{"corr": 1}',
        content_type="application/octet-stream",
        id=uuid.uuid4(),
    )
    position = client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=event)
    assert isinstance(position, int)
    assert position > 0
    recorded = client.get_stream(name)
    assert isinstance(recorded, tuple)
    assert len(recorded) == 1
    assert_recorded(recorded[0], event, name, 0, position)
    assert recorded[0] == event  # a RecordedEvent equals the NewEvent with its id
    assert client.get_current_version(name) == 0
    assert client.get_commit_position() == position


def test_append_many_events_is_atomic_and_returns_the_last_position(
    client: EventStoreDBClient,
) -> None:
    name = new_stream()
    events = new_events(3)
    position = client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    recorded = client.get_stream(name)
    assert len(recorded) == 3
    for index, (got, sent) in enumerate(zip(recorded, events)):
        assert_recorded(got, sent, name, index)
    assert recorded[-1].commit_position == position
    positions = [event.commit_position for event in recorded]
    assert positions == sorted(set(positions))  # type: ignore[type-var]
    # Any iterable of events: a generator, appended after version 2.
    more = new_events(2, start=3)
    last = client.append_to_stream(name, current_version=2, events=(e for e in more))
    assert last > position
    assert client.get_current_version(name) == 4
    assert [e.id for e in client.get_stream(name, stream_position=3)] == [e.id for e in more]
    # StreamState.ANY and StreamState.EXISTS on an existing stream.
    client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
    client.append_to_stream(name, current_version=StreamState.EXISTS, events=new_events(1)[0])
    assert client.get_current_version(name) == 6


def test_append_event_and_append_events_aliases(client: EventStoreDBClient) -> None:
    name = new_stream()
    first = NewEvent(type="First", data=b"{}")
    position = client.append_event(name, current_version=StreamState.NO_STREAM, event=first)
    events = new_events(2)
    last = client.append_events(name, current_version=0, events=events, timeout=DEADLINE)
    recorded = client.get_stream(name)
    assert [e.id for e in recorded] == [first.id, events[0].id, events[1].id]
    assert recorded[0].commit_position == position
    assert recorded[2].commit_position == last
    with pytest.raises(WrongCurrentVersion):
        client.append_event(name, current_version=0, event=NewEvent(type="X", data=b"{}"))
    with pytest.raises(WrongCurrentVersion):
        client.append_events(name, current_version=7, events=new_events(1))


@pytest.mark.parametrize("shape", ["one", "list"])
def test_wrong_current_version_on_append(client: EventStoreDBClient, shape: str) -> None:
    def append(name: str, version: int | StreamState) -> int:
        events = new_events(1, "Bad")
        return client.append_to_stream(
            name, current_version=version, events=events[0] if shape == "one" else events
        )

    missing = new_stream()
    for version in (0, 5, StreamState.EXISTS):
        with pytest.raises(WrongCurrentVersion) as info:
            append(missing, version)
        assert isinstance(info.value, exc.EventStoreDBClientException)
    assert client.get_current_version(missing) is StreamState.NO_STREAM

    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    for version in (StreamState.NO_STREAM, 0, 2, 5):
        with pytest.raises(WrongCurrentVersion) as info:
            append(name, version)
        assert info.value.actual_version == 1
    assert client.get_current_version(name) == 1  # nothing of the failed appends landed
    assert exc.WrongExpectedVersion is WrongCurrentVersion


def test_appends_are_idempotent_on_event_ids(client: EventStoreDBClient) -> None:
    name = new_stream()
    events = new_events(2)
    position = client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    assert (
        client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
        == position
    )
    assert client.append_to_stream(name, current_version=StreamState.ANY, events=events) == position
    first = client.get_stream(name)[0]
    # Re-sending only the first event: its own position (Append rpc).
    assert (
        client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events[0])
        == first.commit_position
    )
    assert len(client.get_stream(name)) == 2
    # A batch whose ids only partly match is a conflict, not a replay.
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=[events[0], *new_events(1)]
        )
    single = NewEvent(type="Once", data=b"{}")
    once = client.append_to_stream(name, current_version=1, events=single)
    assert client.append_to_stream(name, current_version=1, events=single) == once
    assert client.get_current_version(name) == 2


@pytest.mark.parametrize("shape", ["one", "list"])
def test_maximum_append_size(client: EventStoreDBClient, shape: str) -> None:
    name = new_stream()
    big = NewEvent(type="Big", data=b"x" * (1024 * 1024 + 1))
    with pytest.raises(MaximumAppendSizeExceededError):
        client.append_to_stream(
            name, current_version=StreamState.ANY, events=big if shape == "one" else [big]
        )
    assert client.get_current_version(name) is StreamState.NO_STREAM


# ---- reading streams -----------------------------------------------------------------


def test_get_stream_arguments(client: EventStoreDBClient) -> None:
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(5))

    def positions(**kwargs: Any) -> list[int]:
        return [event.stream_position for event in client.get_stream(name, **kwargs)]

    assert positions() == [0, 1, 2, 3, 4]
    assert positions(stream_position=2) == [2, 3, 4]
    assert positions(backwards=True) == [4, 3, 2, 1, 0]
    assert positions(limit=2) == [0, 1]
    assert positions(stream_position=3, backwards=True, limit=2) == [3, 2]
    assert positions(stream_position=10) == []
    assert positions(resolve_links=True) == [0, 1, 2, 3, 4]  # nothing to resolve
    assert positions(timeout=DEADLINE) == [0, 1, 2, 3, 4]
    with pytest.raises(NotFound):
        client.get_stream(new_stream())
    assert issubclass(exc.StreamNotFound, NotFound)


def test_read_stream_is_a_lazy_iterator_with_stop_and_with(client: EventStoreDBClient) -> None:
    name = new_stream()
    events = new_events(3)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    response = client.read_stream(name)
    assert iter(response) is response
    assert [e.id for e in response] == [e.id for e in events]
    with client.read_stream(name, stream_position=1, limit=1) as response:
        assert [e.stream_position for e in response] == [1]
    with client.read_stream(name, backwards=True) as response:
        assert next(response).stream_position == 2
    response = client.read_stream(name)
    assert next(response).stream_position == 0
    response.stop()
    response.stop()  # stopping twice is harmless
    missing = client.read_stream(new_stream())  # no error until it is iterated
    with pytest.raises(NotFound):
        next(missing)


def test_read_stream_ends_after_stop(client: EventStoreDBClient) -> None:
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(3))
    response = client.read_stream(name)
    next(response)
    response.stop()
    # esdbclient 1.1.7: iterating a stopped response raises StopIteration.
    assert list(response) == []


def test_read_all_arguments(client: EventStoreDBClient) -> None:
    name = new_stream()
    kind_a, kind_b = new_type("A"), new_type("B")
    events = [*new_events(2, kind_a), *new_events(2, kind_b, start=2)]
    last = client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    recorded = client.get_stream(name)
    first = recorded[0].commit_position
    assert first is not None

    def read(**kwargs: Any) -> list[RecordedEvent]:
        return list(client.read_all(**kwargs))

    forwards = read(commit_position=first)  # inclusive
    assert [e.id for e in forwards] == [e.id for e in events]
    for got, want in zip(forwards, recorded):
        assert got.commit_position == want.commit_position
        assert got.prepare_position == want.prepare_position
        assert got.stream_position == want.stream_position
        assert got.stream_name == name
        assert_recent(got)
    assert [e.id for e in read(commit_position=first, limit=2)] == [e.id for e in events[:2]]
    backwards = read(commit_position=last, backwards=True, limit=2)  # exclusive
    assert [e.id for e in backwards] == [events[2].id, events[1].id]
    assert read(backwards=True, limit=1)[0].commit_position == last
    only_a = read(commit_position=first, filter_include=[kind_a])
    assert [e.id for e in only_a] == [e.id for e in events[:2]]
    both = read(commit_position=first, filter_include=[kind_a, kind_b])
    assert len(both) == 4
    without_a = read(commit_position=first, filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_a])
    assert [e.id for e in without_a] == [e.id for e in events[2:]]
    by_name = read(filter_by_stream_name=True, filter_include=[name])
    assert [e.id for e in by_name] == [e.id for e in events]
    not_by_name = read(
        commit_position=first, filter_by_stream_name=True, filter_exclude=[name], limit=10
    )
    assert not [e for e in not_by_name if e.stream_name == name]
    assert read(commit_position=first, resolve_links=True, timeout=DEADLINE)[0].id == events[0].id
    # System events: hidden by the default filter, shown without one.
    assert not [e for e in read() if e.type.startswith("$")]
    assert [e for e in read(filter_exclude=()) if e.type == "$settings"]


def test_get_current_version_and_commit_position(client: EventStoreDBClient) -> None:
    assert client.get_current_version(new_stream()) is StreamState.NO_STREAM
    name = new_stream()
    kind = new_type()
    first = client.append_to_stream(
        name, current_version=StreamState.NO_STREAM, events=new_events(1, kind)
    )
    last = client.append_to_stream(name, current_version=0, events=new_events(2))
    assert client.get_current_version(name) == 2
    assert client.get_current_version(name, timeout=DEADLINE) == 2
    assert client.get_commit_position() == last
    assert client.get_commit_position(filter_include=[kind]) == first
    assert client.get_commit_position(filter_by_stream_name=True, filter_include=[name]) == last
    assert client.get_commit_position(filter_include=[new_type("Never")]) == 0
    system = client.get_commit_position(filter_exclude=(), filter_include=[r"\$.*"])
    assert 0 < system < first


# ---- deleting ------------------------------------------------------------------------


def test_delete_stream(client: EventStoreDBClient) -> None:
    with pytest.raises(NotFound):
        client.delete_stream(new_stream(), current_version=StreamState.ANY)
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    for wrong in (0, 5, StreamState.NO_STREAM):
        with pytest.raises(WrongCurrentVersion):
            client.delete_stream(name, current_version=wrong)
    assert client.get_current_version(name) == 1
    assert client.delete_stream(name, current_version=1, timeout=DEADLINE) is None  # type: ignore[func-returns-value]
    with pytest.raises(NotFound):
        client.get_stream(name)
    assert client.get_current_version(name) is StreamState.NO_STREAM
    assert client.get_stream_metadata(name) == ({"$tb": 2**63 - 1}, 0)
    # Soft-deleted streams can be written again; numbering continues.
    event = NewEvent(type="Again", data=b"{}")
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=event)
    (recorded,) = client.get_stream(name)
    assert recorded.stream_position == 2
    assert recorded.id == event.id
    assert client.get_stream_metadata(name) == ({"$tb": 2}, 1)
    client.delete_stream(name, current_version=StreamState.EXISTS)
    assert client.get_current_version(name) is StreamState.NO_STREAM


def test_tombstone_stream(client: EventStoreDBClient) -> None:
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    with pytest.raises(WrongCurrentVersion):
        client.tombstone_stream(name, current_version=0)
    assert client.tombstone_stream(name, current_version=1) is None  # type: ignore[func-returns-value]
    event = NewEvent(type="Late", data=b"{}")
    failures: list[Callable[[], object]] = [
        lambda: client.get_stream(name),
        lambda: next(client.read_stream(name)),
        lambda: client.get_current_version(name),
        lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=event),
        lambda: client.append_to_stream(name, current_version=StreamState.ANY, events=[event]),
        lambda: client.delete_stream(name, current_version=StreamState.ANY),
        lambda: client.tombstone_stream(name, current_version=StreamState.ANY),
        lambda: client.get_stream_metadata(name),
        lambda: client.set_stream_metadata(name, metadata={"a": 1}),
        lambda: next(client.subscribe_to_stream(name, timeout=DEADLINE)),
    ]
    for failure in failures:
        with pytest.raises(StreamIsDeleted):
            failure()
    # A stream that never existed can be tombstoned too.
    never = new_stream()
    client.tombstone_stream(never, current_version=StreamState.NO_STREAM)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(never)


# ---- metadata ------------------------------------------------------------------------


def test_stream_metadata_round_trip(client: EventStoreDBClient) -> None:
    name = new_stream()
    assert client.get_stream_metadata(name) == ({}, StreamState.NO_STREAM)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(5))
    assert client.get_stream_metadata(name) == ({}, StreamState.NO_STREAM)
    metadata: dict[str, Any] = {"$maxCount": 2, "custom": {"nested": [1, "x", None, True]}}
    assert client.set_stream_metadata(name, metadata=metadata) is None  # type: ignore[func-returns-value]
    assert client.get_stream_metadata(name) == (metadata, 0)
    assert [e.stream_position for e in client.get_stream(name)] == [3, 4]  # $maxCount applies
    updated = {"owner": "me"}
    client.set_stream_metadata(name, metadata=updated, current_version=0, timeout=DEADLINE)
    assert client.get_stream_metadata(name, timeout=DEADLINE) == (updated, 1)
    assert len(client.get_stream(name)) == 5
    with pytest.raises(WrongCurrentVersion):
        client.set_stream_metadata(name, metadata={}, current_version=0)
    with pytest.raises(WrongCurrentVersion):
        client.set_stream_metadata(name, metadata={}, current_version=StreamState.NO_STREAM)
    (event,) = client.get_stream("$$" + name, backwards=True, limit=1)
    assert event.type == "$metadata"
    assert json.loads(event.data) == updated


# ---- catch-up subscriptions ----------------------------------------------------------


def test_subscribe_to_all_position_is_exclusive_then_live(client: EventStoreDBClient) -> None:
    name = new_stream()
    events = new_events(3)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    recorded = client.get_stream(name)
    start = recorded[0].commit_position
    with client.subscribe_to_all(commit_position=start, timeout=DEADLINE) as subscription:
        assert subscription.subscription_id
        caught = [next(subscription), next(subscription)]
        assert [e.id for e in caught] == [events[1].id, events[2].id]
        for got, want in zip(caught, recorded[1:]):
            assert got.commit_position == want.commit_position
            assert got.stream_position == want.stream_position
        live = new_events(2, start=3)
        position = client.append_to_stream(name, current_version=2, events=live)
        delivered = [next(subscription), next(subscription)]
        assert [e.id for e in delivered] == [e.id for e in live]
        assert delivered[-1].commit_position == position
        assert_recorded(delivered[0], live[0], name, 3)


def test_subscribe_to_all_from_the_start_and_from_the_end(client: EventStoreDBClient) -> None:
    with client.subscribe_to_all(timeout=DEADLINE) as subscription:
        first = next(subscription)
    assert first == next(iter(client.read_all(limit=1)))
    kind = new_type()
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(1, kind))
    subscription = client.subscribe_to_all(from_end=True, filter_include=[kind], timeout=DEADLINE)
    live = new_events(1, kind)
    client.append_to_stream(name, current_version=0, events=live)
    assert next(subscription).id == live[0].id
    subscription.stop()


def test_subscribe_to_all_filters(client: EventStoreDBClient) -> None:
    name, other = new_stream(), new_stream()
    kind_a, kind_b = new_type("A"), new_type("B")
    start = client.get_commit_position()
    a = client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1, kind_a))
    client.append_to_stream(other, current_version=StreamState.ANY, events=new_events(1, kind_b))
    client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1, kind_b))

    def first(**kwargs: Any) -> RecordedEvent:
        with client.subscribe_to_all(commit_position=start, timeout=DEADLINE, **kwargs) as sub:
            return next(sub)

    assert first(filter_include=[kind_b]).stream_name == other
    assert first(filter_include=[kind_a, kind_b]).commit_position == a
    skipped = first(filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_a])
    assert (skipped.type, skipped.stream_name) == (kind_b, other)
    by_name = first(filter_by_stream_name=True, filter_include=[other])
    assert (by_name.type, by_name.stream_name) == (kind_b, other)
    not_name = first(filter_by_stream_name=True, filter_exclude=[name])
    assert not_name.stream_name == other


def test_subscribe_to_all_checkpoints_and_caught_up(client: EventStoreDBClient) -> None:
    name = new_stream()
    kind_a, kind_b = new_type("A"), new_type("B")
    start = client.get_commit_position(filter_exclude=())
    pattern = [kind_a, kind_b] * 5
    for kind in pattern:
        client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1, kind))
    recorded = client.get_stream(name)
    positions = [event.commit_position for event in recorded]
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=[kind_a],
        include_checkpoints=True,
        window_size=2,
        checkpoint_interval_multiplier=2,
        include_caught_up=True,
        timeout=DEADLINE,
    )
    items = []
    for item in subscription:
        items.append(item)
        if item.is_caught_up:
            break

    def describe(item: RecordedEvent) -> tuple[str, int | None]:
        return (type(item).__name__, item.commit_position)

    # A checkpoint every window_size * multiplier = 4 records considered, one when
    # catching up ends, then the caught-up marker.
    expected = [
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
    assert [describe(item) for item in items] == expected
    checkpoint = items[2]
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.is_checkpoint
    assert not checkpoint.is_caught_up
    assert checkpoint.prepare_position == checkpoint.commit_position
    assert checkpoint.id == ZERO
    assert isinstance(items[-1], CaughtUp)
    assert items[-1].is_caught_up
    assert items[-1].id == ZERO
    # Live: 4 more records considered make one more checkpoint.
    for kind in [kind_a, kind_b, kind_a, kind_b]:
        client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1, kind))
    live = client.get_stream(name, stream_position=10)
    got = [describe(next(subscription)) for _ in range(3)]
    assert got == [
        ("RecordedEvent", live[0].commit_position),
        ("RecordedEvent", live[2].commit_position),
        ("Checkpoint", live[3].commit_position),
    ]
    subscription.stop()
    # Without include_checkpoints / include_caught_up: events only.
    with client.subscribe_to_all(
        commit_position=start,
        filter_include=[kind_a],
        window_size=2,
        checkpoint_interval_multiplier=2,
        timeout=DEADLINE,
    ) as plain:
        assert [next(plain).stream_position for _ in range(7)] == [0, 2, 4, 6, 8, 10, 12]


def test_subscribe_to_stream(client: EventStoreDBClient) -> None:
    name = new_stream()
    events = new_events(5)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    with client.subscribe_to_stream(name, timeout=DEADLINE) as subscription:
        assert subscription.subscription_id
        first = next(subscription)
        assert_recorded(first, events[0], name, 0)
    subscription = client.subscribe_to_stream(
        name, stream_position=2, include_caught_up=True, timeout=DEADLINE
    )
    got = [next(subscription) for _ in range(3)]
    assert [e.stream_position for e in got[:2]] == [3, 4]  # exclusive
    assert isinstance(got[2], CaughtUp)
    live = NewEvent(type="Live", data=b"{}")
    position = client.append_to_stream(name, current_version=4, events=live)
    recorded = next(subscription)
    assert_recorded(recorded, live, name, 5, position)
    subscription.stop()
    # from_end: only what is appended afterwards.
    with client.subscribe_to_stream(
        name, from_end=True, include_caught_up=True, timeout=DEADLINE
    ) as tail:
        assert next(tail).is_caught_up
        late = new_events(1)
        client.append_to_stream(name, current_version=5, events=late)
        assert next(tail).id == late[0].id
    # A stream that does not exist yet: caught up at once, then its first events.
    missing = new_stream()
    with client.subscribe_to_stream(
        missing, include_caught_up=True, resolve_links=False, timeout=DEADLINE
    ) as waiting:
        assert next(waiting).is_caught_up
        created = new_events(1)
        client.append_to_stream(missing, current_version=StreamState.NO_STREAM, events=created)
        assert next(waiting).id == created[0].id


def test_subscription_timeout_is_a_deadline(client: EventStoreDBClient) -> None:
    for subscription in (
        client.subscribe_to_all(from_end=True, timeout=0.3),
        client.subscribe_to_stream(new_stream(), timeout=0.3),
    ):
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            next(subscription)
        assert time.monotonic() - started < 3


def test_a_single_thread_appends_between_subscription_reads(client: EventStoreDBClient) -> None:
    name = new_stream()
    all_sub = client.subscribe_to_all(from_end=True, filter_include=["Ping.*"], timeout=DEADLINE)
    stream_sub = client.subscribe_to_stream(name, timeout=DEADLINE)
    for index in range(20):
        event = NewEvent(type=f"Ping{index}", data=b"{}")
        version: int | StreamState = index - 1 if index else StreamState.NO_STREAM
        position = client.append_to_stream(name, current_version=version, events=event)
        from_all = next(all_sub)
        from_stream = next(stream_sub)
        assert from_all.id == from_stream.id == event.id
        assert from_all.commit_position == from_stream.commit_position == position
        assert from_stream.stream_position == index
    all_sub.stop()
    stream_sub.stop()


# ---- gossip, credentials, timeouts, lifecycle ----------------------------------------


def test_read_gossip(client: EventStoreDBClient, uri: str) -> None:
    members = client.read_gossip()
    assert len(members) == 1
    (member,) = members
    assert isinstance(member, ClusterMember)
    assert member.state == "NODE_STATE_LEADER"
    assert member.address == "127.0.0.1"
    assert member.port == int(uri.rsplit(":", 1)[1])
    assert client.read_gossip(timeout=DEADLINE) == members


def test_every_method_times_out_with_deadline_exceeded(uri: str) -> None:
    port = int(uri.rsplit(":", 1)[1])
    proxy = BlackholeProxy(port)
    name = new_stream()
    try:
        with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
            # Connect and learn the server's features before the path goes dead.
            client.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
            proxy.blackhole()
            t = 0.1
            one = NewEvent(type="T", data=b"{}")
            calls: list[Callable[[], object]] = [
                lambda: client.append_to_stream(
                    name, current_version=StreamState.ANY, events=one, timeout=t
                ),
                lambda: client.append_to_stream(
                    name, current_version=StreamState.ANY, events=[one], timeout=t
                ),
                lambda: client.append_event(
                    name, current_version=StreamState.ANY, event=one, timeout=t
                ),
                lambda: client.append_events(
                    name, current_version=StreamState.ANY, events=[one], timeout=t
                ),
                lambda: client.get_stream(name, timeout=t),
                lambda: next(client.read_stream(name, timeout=t)),
                lambda: next(client.read_all(timeout=t)),
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
                    call()
                assert time.monotonic() - started < 2
    finally:
        proxy.close()


def test_first_batch_append_honours_its_timeout() -> None:
    with EmbeddedServer() as server:
        check_first_batch_append_timeout(server.port)


def check_first_batch_append_timeout(port: int) -> None:
    proxy = BlackholeProxy(port)
    try:
        with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
            # GossipTimeout=2 instead of the default 5 s, to keep the test short.
            client.settings = client.settings._replace(gossip_timeout=2.0)
            client.get_commit_position()  # connected
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.append_to_stream(
                    new_stream(), current_version=StreamState.ANY, events=new_events(1), timeout=0.2
                )
            assert time.monotonic() - started < 1.5
    finally:
        proxy.close()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_credentials_are_accepted_but_not_sent_over_plaintext(kind: str) -> None:
    with recording_server(kind) as server, EventStoreDBClient(server.uri) as client:
        credentials = client.construct_call_credentials("admin", "changeit")
        name = new_stream()
        one = NewEvent(type="T", data=b"{}")
        client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=one, credentials=credentials
        )
        client.append_to_stream(
            name, current_version=0, events=new_events(2), credentials=credentials
        )
        client.append_event(
            name, current_version=2, event=new_events(1)[0], credentials=credentials
        )
        client.append_events(name, current_version=3, events=new_events(1), credentials=credentials)
        assert len(client.get_stream(name, credentials=credentials)) == 5
        assert len(list(client.read_stream(name, credentials=credentials))) == 5
        assert list(client.read_all(credentials=credentials, limit=1))
        assert client.get_current_version(name, credentials=credentials) == 4
        assert client.get_commit_position(credentials=credentials) > 0
        client.set_stream_metadata(name, metadata={"a": 1}, credentials=credentials)
        assert client.get_stream_metadata(name, credentials=credentials) == ({"a": 1}, 0)
        with client.subscribe_to_all(credentials=credentials, timeout=DEADLINE) as sub:
            next(sub)
        with client.subscribe_to_stream(name, credentials=credentials, timeout=DEADLINE) as sub:
            next(sub)
        assert client.read_gossip(credentials=credentials)
        client.delete_stream(name, current_version=4, credentials=credentials)
        client.tombstone_stream(name, current_version=StreamState.ANY, credentials=credentials)
        calls = server.calls
        assert len(calls) >= 17
        for call in calls:
            assert "authorization" not in call.metadata, rpc_name(call.path)
        streams_calls = [call for call in calls if "/event_store.client.streams." in call.path]
        for call in streams_calls:
            assert call.metadata["connection-name"] == client.settings.connection_name
        writes = {paths.APPEND, paths.BATCH_APPEND, paths.DELETE, paths.TOMBSTONE}
        for call in streams_calls:
            if call.path in writes:
                assert call.metadata["requires-leader"] == "true", rpc_name(call.path)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_one_event_uses_append_and_a_list_uses_batch_append(kind: str) -> None:
    with recording_server(kind) as server, EventStoreDBClient(server.uri) as client:
        name = new_stream()
        client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1)[0]
        )
        assert [rpc_name(p) for p in server.paths()] == ["Streams.Append"]
        server.clear()
        client.append_to_stream(name, current_version=0, events=new_events(2))
        client.append_to_stream(name, current_version=2, events=new_events(1))  # a 1-item list
        client.append_events(name, current_version=3, events=new_events(1))
        client.append_event(name, current_version=4, event=new_events(1)[0])
        client.set_stream_metadata(name, metadata={})
        assert [rpc_name(p) for p in server.paths()] == [
            "ServerFeatures.GetSupportedMethods",  # asked once per connection
            "Streams.BatchAppend",
            "Streams.BatchAppend",
            "Streams.BatchAppend",
            "Streams.Append",
            "Streams.Append",
        ]
        assert client.get_current_version(name) == 5


@pytest.mark.parametrize("server_features", [True, False])
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_without_batch_append_a_list_uses_append(kind: str, server_features: bool) -> None:
    with (
        recording_server(kind, batch_append=False, server_features=server_features) as server,
        EventStoreDBClient(server.uri) as client,
    ):
        name = new_stream()
        events = new_events(3)
        position = client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        with pytest.raises(WrongCurrentVersion):
            client.append_to_stream(name, current_version=0, events=new_events(2))
        client.append_to_stream(name, current_version=2, events=new_events(2))
        rpcs = [rpc_name(p) for p in server.paths() if "Streams.Read" not in rpc_name(p)]
        # (Without the service the server answers UNIMPLEMENTED before the recorder.)
        asked = ["ServerFeatures.GetSupportedMethods"] if server_features else []
        assert rpcs == [*asked, "Streams.Append", "Streams.Append", "Streams.Append"]
        recorded = client.get_stream(name)
        assert [e.id for e in recorded[:3]] == [e.id for e in events]
        assert recorded[2].commit_position == position


def test_close_and_context_manager(uri: str) -> None:
    with EventStoreDBClient(uri) as client:
        assert not client.is_closed
        assert client.connection_target == uri
        client.get_commit_position()
    assert client.is_closed
    # (esdbclient 1.1.7 silently reconnects here instead.)
    with pytest.raises(ServiceUnavailable):
        client.get_commit_position()
    client.close()  # closing twice is harmless


def test_esdb_connection_string(uri: str) -> None:
    esdb_uri = f"esdb://{uri}?Tls=false"
    skip_without_connection_strings(esdb_uri)
    with EventStoreDBClient(esdb_uri) as client:
        name = new_stream()
        position = client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        assert client.get_stream(name)[-1].commit_position == position
        assert client.read_gossip()[0].port == int(uri.rsplit(":", 1)[1])


def test_unreachable_server_is_service_unavailable() -> None:
    with EventStoreDBClient("127.0.0.1:1") as client, pytest.raises(ServiceUnavailable):
        client.get_commit_position()


# ---- links (standard projections, embedded only) -------------------------------------


def test_resolve_links_through_category_and_event_type_streams(
    projections: EmbeddedServer,
) -> None:
    category = "cat" + uuid.uuid4().hex[:12]
    kind_a, kind_b = new_type("A"), new_type("B")
    first, second = f"{category}-{uuid.uuid4().hex}", f"{category}-{uuid.uuid4().hex}"
    with EventStoreDBClient(projections.uri) as client:
        a_events = new_events(2, kind_a)
        client.append_to_stream(first, current_version=StreamState.NO_STREAM, events=a_events)
        b_event = NewEvent(type=kind_b, data=b'{"b": 1}', metadata=b'{"mb": 1}')
        client.append_to_stream(second, current_version=StreamState.NO_STREAM, events=b_event)
        originals = [*client.get_stream(first), *client.get_stream(second)]
        category_stream = f"$ce-{category}"

        links = client.get_stream(category_stream)
        assert [e.type for e in links] == ["$>"] * 3
        assert [e.data for e in links] == [
            f"0@{first}".encode(),
            f"1@{first}".encode(),
            f"0@{second}".encode(),
        ]
        assert [e.stream_name for e in links] == [category_stream] * 3
        assert [e.stream_position for e in links] == [0, 1, 2]
        assert all(e.link is None and e.is_link_event for e in links)

        def check_resolved(resolved: list[RecordedEvent], targets: list[RecordedEvent]) -> None:
            assert len(resolved) == len(targets)
            for index, (got, target) in enumerate(zip(resolved, targets)):
                assert got == target  # same type, data, stream, positions, id
                assert got.prepare_position == target.prepare_position
                assert got.link is not None
                assert got.is_resolved_event
                assert got.link.type == "$>"
                assert got.link.data == f"{target.stream_position}@{target.stream_name}".encode()
                assert got.ack_id == got.link.id
                assert got.link.id != target.id
                del index

        resolved = list(client.get_stream(category_stream, resolve_links=True))
        check_resolved(resolved, originals)
        assert [e.link.stream_position for e in resolved if e.link] == [0, 1, 2]
        assert [e.link.stream_name for e in resolved if e.link] == [category_stream] * 3
        assert [e.link.id for e in resolved if e.link] == [e.id for e in links]
        type_stream = client.get_stream(f"$et-{kind_a}", resolve_links=True)
        check_resolved(list(type_stream), originals[:2])
        backwards = client.get_stream(category_stream, resolve_links=True, backwards=True, limit=1)
        check_resolved(list(backwards), originals[2:])

        from_all = list(
            client.read_all(
                resolve_links=True,
                filter_exclude=(),
                filter_by_stream_name=True,
                filter_include=[rf"\$ce-{category}"],
            )
        )
        check_resolved(from_all, originals)
        unresolved = list(
            client.read_all(
                filter_exclude=(), filter_by_stream_name=True, filter_include=[rf"\$ce-{category}"]
            )
        )
        assert [e.id for e in unresolved] == [e.id for e in links]

        with client.subscribe_to_stream(
            category_stream, resolve_links=True, timeout=DEADLINE
        ) as subscription:
            check_resolved([next(subscription) for _ in range(3)], originals)
            live = NewEvent(type=kind_b, data=b"{}")
            client.append_to_stream(second, current_version=0, events=live)
            got = next(subscription)
            assert got.id == live.id
            assert got.link is not None
            assert got.link.stream_position == 3
        with client.subscribe_to_all(
            resolve_links=True,
            filter_exclude=(),
            filter_by_stream_name=True,
            filter_include=[rf"\$et-{kind_b}"],
            timeout=DEADLINE,
        ) as subscription:
            got_b = [next(subscription), next(subscription)]
            assert [e.id for e in got_b] == [b_event.id, live.id]
            assert all(e.link is not None and e.link.stream_name == f"$et-{kind_b}" for e in got_b)


def test_resolve_links_skips_links_to_deleted_events(projections: EmbeddedServer) -> None:
    category = "del" + uuid.uuid4().hex[:12]
    kept, gone = f"{category}-{uuid.uuid4().hex}", f"{category}-{uuid.uuid4().hex}"
    with EventStoreDBClient(projections.uri) as client:
        client.append_to_stream(gone, current_version=StreamState.NO_STREAM, events=new_events(1))
        keep = new_events(1)
        client.append_to_stream(kept, current_version=StreamState.NO_STREAM, events=keep)
        client.tombstone_stream(gone, current_version=0)
        resolved = client.get_stream(f"$ce-{category}", resolve_links=True)
        assert [e.id for e in resolved if e.stream_name == kept] == [keep[0].id]
        assert not [e for e in resolved if e.stream_name == gone and e.type != "$streamDeleted"]


def test_subscription_ends_after_stop(client: EventStoreDBClient) -> None:
    name = new_stream()
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(3))
    subscription = client.subscribe_to_stream(name, timeout=DEADLINE)
    next(subscription)
    subscription.stop()
    # esdbclient 1.1.7: iterating a stopped subscription raises StopIteration.
    assert list(subscription) == []


def test_a_slow_feature_probe_does_not_disable_batch_append() -> None:
    with (
        recording_server("embedded", features_delays=[1.0]) as server,
        EventStoreDBClient(server.uri) as client,
    ):
        client.settings = client.settings._replace(gossip_timeout=0.3)
        name = new_stream()
        client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
        server.clear()
        client.append_to_stream(name, current_version=1, events=new_events(2))
        assert "Streams.BatchAppend" in [rpc_name(p) for p in server.paths()]
