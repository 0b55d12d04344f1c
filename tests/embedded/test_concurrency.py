"""Many clients and subscriptions at once against one embedded server, on both server
HTTP/2 engines (see :func:`tests.engines.server_http2_engine`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from esdb_wire import EsdbClient, NewEvent, RecordedEvent
from esdb_wire.server.embedded import EmbeddedServer
from tests.engines import server_http2_engine

__all__ = ["server_http2_engine"]

WRITERS = 50
EVENTS_PER_WRITER = 20
SUBSCRIBERS = 10


@pytest.fixture
def server(server_http2_engine: str) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(http2_engine=server_http2_engine) as running:
        yield running


def test_fifty_writers_and_ten_subscriptions_see_every_event_once_in_order(
    server: EmbeddedServer,
) -> None:
    start = EsdbClient(uri=server.uri).get_commit_position()
    total = WRITERS * EVENTS_PER_WRITER
    received: list[list[RecordedEvent]] = [[] for _ in range(SUBSCRIBERS)]
    written: list[UUID] = []
    failures: list[BaseException] = []
    ready = threading.Barrier(SUBSCRIBERS + 1)

    def subscriber(index: int) -> None:
        try:
            with EsdbClient(uri=server.uri) as client:
                subscription = client.subscribe_all_events(position=start, timeout=60)
                ready.wait(10)
                for event in subscription:
                    received[index].append(event)
                    if len(received[index]) == total:
                        break
                subscription.stop()
        except BaseException as exc:
            failures.append(exc)

    def writer() -> None:
        try:
            with EsdbClient(uri=server.uri) as client:
                name = f"writer-{uuid4()}"
                for index in range(EVENTS_PER_WRITER):
                    event = NewEvent("W", b'{"i": %d}' % index)
                    written.append(event.id)
                    client.append_events(name, index - 1 if index else None, [event])
        except BaseException as exc:
            failures.append(exc)

    subscribers = [threading.Thread(target=subscriber, args=(i,)) for i in range(SUBSCRIBERS)]
    for thread in subscribers:
        thread.start()
    ready.wait(10)
    writers = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers + subscribers:
        thread.join(120)
    assert not failures
    assert len(written) == total
    for events in received:
        ids = [event.id for event in events]
        assert len(ids) == total
        assert len(set(ids)) == total  # exactly once
        assert set(ids) == set(written)
        positions = [event.commit_position or 0 for event in events]
        assert positions == sorted(positions)  # commit order


def test_threads_share_one_client_while_one_iterates_a_subscription(
    server: EmbeddedServer,
) -> None:
    with EsdbClient(uri=server.uri) as client:
        start = client.get_commit_position()
        failures: list[BaseException] = []
        seen: list[RecordedEvent] = []

        def follow() -> None:
            try:
                for event in client.subscribe_all_events(position=start, timeout=60):
                    seen.append(event)
                    if len(seen) == 8 * 25:
                        return
            except BaseException as exc:
                failures.append(exc)

        def work() -> None:
            try:
                name = f"t-{uuid4()}"
                for index in range(25):
                    client.append_events(name, index - 1 if index else None, [NewEvent("X", b"{}")])
                    events = list(client.read_stream_events(name, backwards=True, limit=1))
                    assert events[0].stream_position == index
            except BaseException as exc:
                failures.append(exc)

        follower = threading.Thread(target=follow)
        follower.start()
        workers = [threading.Thread(target=work) for _ in range(8)]
        for thread in workers:
            thread.start()
        for thread in [*workers, follower]:
            thread.join(60)
        assert not failures
        assert len(seen) == 200
        assert len({event.id for event in seen}) == 200
