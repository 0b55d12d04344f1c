"""EsdbClient (the esdbclient 0.5 API) against the embedded server and against the same
service logic hosted by grpcio, over real sockets."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from esdb_wire import (
    ESDB_EVENTS_REGEX,
    DeadlineExceeded,
    EsdbClient,
    ExpectedPositionError,
    NewEvent,
    RecordedEvent,
    ServiceUnavailable,
    StreamNotFound,
)
from esdb_wire.exceptions import EventStoreDBClientException
from tests.servers import SERVER_KINDS, running_server


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "grpcio":
        from tests.peers import require_peer  # noqa: PLC0415

        require_peer("grpc")
    with running_server(request.param) as address:
        yield address


@pytest.fixture
def client(uri: str) -> Iterator[EsdbClient]:
    with EsdbClient(uri=uri) as esdb:
        yield esdb


def new_events(count: int, prefix: str = "Event") -> list[NewEvent]:
    return [
        NewEvent(type=f"{prefix}{i}", data=b'{"i": %d}' % i, metadata=b"{}") for i in range(count)
    ]


def stream() -> str:
    return f"stream-{uuid4()}"


def test_append_new_stream_then_expected_positions(client: EsdbClient) -> None:
    name = stream()
    first = client.append_events(name, expected_position=None, events=new_events(1))
    assert first > 0
    second = client.append_events(name, expected_position=0, events=new_events(2, "Next"))
    assert second > first
    assert client.get_stream_position(name) == 2
    events = list(client.read_stream_events(name))
    assert [e.type for e in events] == ["Event0", "Next0", "Next1"]
    assert [e.stream_position for e in events] == [0, 1, 2]
    assert events[-1].commit_position == second
    assert all(e.stream_name == name for e in events)
    assert events[0].data == b'{"i": 0}'
    assert events[0].metadata == b"{}"


def test_append_is_atomic_and_checks_expected_position(client: EsdbClient) -> None:
    name = stream()
    client.append_events(name, None, new_events(2))
    with pytest.raises(ExpectedPositionError) as info:
        client.append_events(name, expected_position=5, events=new_events(3, "Bad"))
    assert info.value.actual_version == 1
    with pytest.raises(ExpectedPositionError):
        client.append_events(name, expected_position=None, events=new_events(1, "Bad"))
    assert client.get_stream_position(name) == 1  # nothing of the failed appends landed
    # A negative expected position disables the check.
    client.append_events(name, expected_position=-1, events=new_events(1, "Any"))
    assert client.get_stream_position(name) == 2


def test_new_event_ids_make_appends_idempotent(client: EsdbClient) -> None:
    name = stream()
    events = new_events(2)
    position = client.append_events(name, None, events)
    assert client.append_events(name, None, events) == position
    assert len(list(client.read_stream_events(name))) == 2


def test_stream_position_of_unknown_stream_is_none(client: EsdbClient) -> None:
    assert client.get_stream_position(stream()) is None


def test_read_stream_arguments(client: EsdbClient) -> None:
    name = stream()
    client.append_events(name, None, new_events(5))
    read = client.read_stream_events
    assert [e.stream_position for e in read(name, position=2)] == [2, 3, 4]
    assert [e.stream_position for e in read(name, backwards=True)] == [4, 3, 2, 1, 0]
    assert [e.stream_position for e in read(name, limit=2)] == [0, 1]
    assert [e.stream_position for e in read(name, position=3, backwards=True, limit=2)] == [3, 2]
    assert [e.stream_position for e in read(name, position=10)] == []
    assert [e.stream_position for e in read(name, timeout=5)] == [0, 1, 2, 3, 4]


def test_reading_a_missing_stream_raises_stream_not_found_when_iterated(
    client: EsdbClient,
) -> None:
    events = client.read_stream_events(stream())  # a generator: nothing happens yet
    with pytest.raises(StreamNotFound):
        list(events)


def test_read_all_arguments(client: EsdbClient) -> None:
    name = stream()
    position = client.append_events(name, None, new_events(3, "AllRead"))
    first = next(iter(client.read_stream_events(name)))
    forwards = list(client.read_all_events(position=first.commit_position))
    assert [e.type for e in forwards] == ["AllRead0", "AllRead1", "AllRead2"]  # inclusive
    backwards = list(client.read_all_events(position=position, backwards=True, limit=2))
    assert [e.type for e in backwards] == ["AllRead1", "AllRead0"]  # exclusive
    last = list(client.read_all_events(backwards=True, limit=1))
    assert last[0].commit_position == position
    assert len(list(client.read_all_events(position=first.commit_position, limit=1))) == 1
    only = list(client.read_all_events(position=first.commit_position, filter_include=["AllRead1"]))
    assert [e.type for e in only] == ["AllRead1"]
    without = list(
        client.read_all_events(
            position=first.commit_position, filter_exclude=[ESDB_EVENTS_REGEX, "AllRead1"]
        )
    )
    assert [e.type for e in without] == ["AllRead0", "AllRead2"]
    assert list(client.read_all_events(position=first.commit_position, timeout=5))


def test_read_all_excludes_system_events_by_default(client: EsdbClient) -> None:
    everything = list(client.read_all_events(filter_exclude=()))
    assert any(e.type.startswith("$") for e in everything)
    assert not any(e.type.startswith("$") for e in client.read_all_events())


def test_get_commit_position(client: EsdbClient) -> None:
    position = client.append_events(stream(), None, new_events(1))
    assert client.get_commit_position() == position
    assert client.get_commit_position(timeout=5) == position


def test_subscription_catches_up_then_goes_live(client: EsdbClient) -> None:
    start = client.get_commit_position()
    name = stream()
    client.append_events(name, None, new_events(3, "Sub"))
    subscription = client.subscribe_all_events(position=start)
    received = []
    for event in subscription:
        received.append(event)
        if len(received) == 3:
            break
    assert [e.type for e in received] == ["Sub0", "Sub1", "Sub2"]
    # Live: appended while the subscription is open, in this same thread (no helper thread).
    client.append_events(name, 2, new_events(2, "Live"))
    live = [next(subscription), next(subscription)]
    assert [e.type for e in live] == ["Live0", "Live1"]
    subscription.stop()


def test_subscription_position_is_exclusive_and_filters_apply(client: EsdbClient) -> None:
    name = stream()
    position = client.append_events(name, None, new_events(1, "Before"))
    client.append_events(name, 0, new_events(2, "After"))
    with client.subscribe_all_events(position=position, filter_include=["After1"]) as sub:
        assert next(sub).type == "After1"
    with client.subscribe_all_events(
        position=position, filter_exclude=[ESDB_EVENTS_REGEX, "After0"]
    ) as sub:
        assert next(sub).type == "After1"


def test_subscription_from_the_start_sees_the_first_event(client: EsdbClient) -> None:
    with client.subscribe_all_events() as subscription:
        first = next(subscription)
    everything = list(client.read_all_events(limit=1))
    assert first == everything[0]


def test_subscription_timeout_is_a_deadline(client: EsdbClient) -> None:
    subscription = client.subscribe_all_events(position=client.get_commit_position(), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        next(subscription)
    assert time.monotonic() - started < 5


def test_deleting_a_subscription_cancels_it(client: EsdbClient) -> None:
    subscription = client.subscribe_all_events(position=client.get_commit_position())
    state = subscription._call._call  # the transport's record of the call
    del subscription
    gc.collect()  # PyPy finalises on collection, CPython at once
    client.append_events(stream(), None, new_events(1))  # the next wait reaps it
    assert state.status is not None


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


def test_many_threads_share_one_client(client: EsdbClient) -> None:
    names = [stream() for _ in range(16)]
    failures: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(10):
                client.append_events(name, i - 1 if i else None, new_events(1, f"T{i}"))
            assert [e.stream_position for e in client.read_stream_events(name)] == list(range(10))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures


def test_unreachable_server_is_service_unavailable() -> None:
    with EsdbClient(uri="127.0.0.1:1") as client, pytest.raises(ServiceUnavailable):
        client.get_commit_position()


def test_recorded_events_carry_ids_content_type_and_time(client: EsdbClient) -> None:
    name = stream()
    event = NewEvent(type="Typed", data=b"\x00binary", metadata=b"meta")
    client.append_events(name, None, [event])
    (recorded,) = list(client.read_stream_events(name))
    assert isinstance(recorded, RecordedEvent)
    assert recorded.id == event.id
    assert recorded == event
    assert recorded.content_type == "application/json"
    assert recorded.recorded_at is not None
    assert abs(recorded.recorded_at.timestamp() - time.time()) < 60
