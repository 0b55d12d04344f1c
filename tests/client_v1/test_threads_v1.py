"""One client shared by many callers: an EventStoreDBClient by threads, an
AsyncEventStoreDBClient by tasks; appends, reads and a subscription at once. (What the
two drivers share is tested on both by the generated ``test_sync_v1_*`` twins.)"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from esdb_wire import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    ServiceUnavailable,
    StreamState,
)
from esdb_wire.exceptions import CancelledByClient
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._proxy import DroppingProxy
from tests.client_v1._support import DEADLINE, new_stream, new_type

WRITERS = 8
APPENDS = 12  # per writer; even ones append one event, odd ones a list of two


def test_eight_threads_append_and_read_while_one_subscribes(uri: str) -> None:
    kind = new_type("Shared")
    names = [new_stream("thread") for _ in range(WRITERS)]
    sent: dict[str, list[uuid.UUID]] = {name: [] for name in names}
    expected_total = WRITERS * (APPENDS // 2) * 3
    failures: list[BaseException] = []
    received: list[RecordedEvent] = []
    done = threading.Event()

    with EventStoreDBClient(uri) as client:
        subscription = client.subscribe_to_all(
            from_end=True, filter_include=[kind], timeout=DEADLINE * 2
        )

        def subscribe() -> None:
            try:
                for event in subscription:
                    received.append(event)
                    if len(received) == expected_total:
                        break
            except BaseException as error:
                failures.append(error)
            finally:
                done.set()

        def write(name: str) -> None:
            try:
                version: int | StreamState = StreamState.NO_STREAM
                positions: list[int] = []
                for index in range(APPENDS):
                    if index % 2 == 0:
                        event = NewEvent(type=kind, data=b'{"i": %d}' % index)
                        batch = [event]
                        position = client.append_to_stream(
                            name, current_version=version, events=event
                        )
                    else:
                        batch = [NewEvent(type=kind, data=b"{}") for _ in range(2)]
                        position = client.append_to_stream(
                            name, current_version=version, events=batch
                        )
                    positions.append(position)
                    sent[name].extend(e.id for e in batch)
                    version = len(sent[name]) - 1
                    assert client.get_current_version(name) == version
                    # Reads interleave with the other threads' writes.
                    (last,) = client.get_stream(name, backwards=True, limit=1)
                    assert last.id == batch[-1].id
                    assert last.commit_position == position
                assert positions == sorted(positions)
                recorded = client.get_stream(name)
                assert [e.id for e in recorded] == sent[name]
                assert [e.stream_position for e in recorded] == list(range(len(recorded)))
                from_all = list(client.read_all(filter_by_stream_name=True, filter_include=[name]))
                assert [e.id for e in from_all] == sent[name]
            except BaseException as error:
                failures.append(error)

        consumer = threading.Thread(target=subscribe, name="subscriber")
        consumer.start()
        writers = [threading.Thread(target=write, args=(name,)) for name in names]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(30)
        assert not [thread for thread in writers if thread.is_alive()]
        done.wait(DEADLINE)
        subscription.stop()
        consumer.join(10)
        assert not consumer.is_alive()

    assert not failures, failures
    assert len(received) == expected_total
    ids = [e.id for e in received]
    assert len(set(ids)) == expected_total
    assert set(ids) == {i for per_stream in sent.values() for i in per_stream}
    positions = [e.commit_position for e in received]
    assert positions == sorted(positions)  # type: ignore[type-var]
    for name in names:  # each stream's events arrive in stream order
        assert [e.id for e in received if e.stream_name == name] == sent[name]


def test_threads_survive_a_dropped_connection_without_spurious_cancellation() -> None:
    with EmbeddedServer() as server, DroppingProxy(server.port) as proxy:
        client = EventStoreDBClient(f"127.0.0.1:{proxy.port}")
        cancelled: list[BaseException] = []
        stop = threading.Event()

        def work() -> None:
            name = new_stream("drop")
            while not stop.is_set():
                try:
                    client.append_to_stream(
                        name, current_version=StreamState.ANY, events=NewEvent("A", b"{}")
                    )
                    client.get_stream(name, backwards=True, limit=1)
                except CancelledByClient as error:
                    cancelled.append(error)
                    stop.set()
                except ServiceUnavailable:
                    pass  # a call in flight when the connection broke is not retried

        threads = [threading.Thread(target=work) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
            proxy.drop_connections()
        stop.set()
        for thread in threads:
            thread.join(10)
        client.close()
        assert not [thread for thread in threads if thread.is_alive()]
        assert cancelled == []


async def test_concurrent_tasks_append_while_one_subscribes(uri: str) -> None:
    kind = new_type("Conc")
    names = [new_stream() for _ in range(8)]
    async with AsyncEventStoreDBClient(uri) as client:
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
        received = [await subscription.__anext__() for _ in range(80)]
        subscription.stop()
    assert sorted(e.id for e in received) == sorted(i for ids in results for i in ids)
    positions = [e.commit_position for e in received]
    assert positions == sorted(positions)  # type: ignore[type-var]
