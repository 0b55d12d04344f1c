"""``auto_resubscribe=True``: a catch-up subscription survives dropped connections.

A :class:`DroppingProxy` sits between the subscribing client and the server and cuts
every connection on demand (the server keeps running; new connections go through); a
second client, connected directly, appends. Every event must arrive exactly once, in
order, across the drops.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    ServiceUnavailable,
    StreamState,
)
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._proxy import DroppingProxy
from tests.client_v1._support import DEADLINE, new_events, new_stream, new_type


@pytest.fixture
def proxy(uri: str) -> Iterator[DroppingProxy]:
    with DroppingProxy(int(uri.rsplit(":", 1)[1])) as forwarding:
        yield forwarding


@pytest.fixture
def direct(uri: str) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(uri) as client:
        yield client


def append_batches(
    client: EventStoreDBClient, name: str, kind: str, batches: int, size: int
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for _ in range(batches):
        events = new_events(size, kind)
        client.append_to_stream(name, current_version=StreamState.ANY, events=events)
        ids.extend(e.id for e in events)
    return ids


def take(items: Iterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    return [next(items) for _ in range(count)]


def drain(items: Iterator[RecordedEvent]) -> tuple[list[RecordedEvent], BaseException | None]:
    """The items up to the first error (at most 100), and that error."""
    received: list[RecordedEvent] = []
    try:
        for _ in range(100):
            received.append(next(items))
    except Exception as error:
        return received, error
    return received, None


def assert_exactly_once_in_order(received: list[RecordedEvent], sent: list[uuid.UUID]) -> None:
    ids = [e.id for e in received]
    assert len(ids) == len(set(ids)), "duplicates"
    assert ids == sent


def test_subscribe_to_all_resumes_after_drops(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    kind = new_type("Resume")
    name = new_stream()
    start = direct.get_commit_position()
    sent = append_batches(direct, name, kind, batches=6, size=50)
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        subscription = client.subscribe_to_all(
            commit_position=start, filter_include=[kind], auto_resubscribe=True, timeout=DEADLINE
        )
        received = take(subscription, 70)
        proxy.drop_connections()  # while catching up, responses still in flight
        received += take(subscription, 100)
        proxy.drop_connections()
        received += take(subscription, 130)  # all 300 recorded events
        proxy.drop_connections()  # while live, nothing in flight
        sent += append_batches(direct, name, kind, batches=2, size=10)
        received += take(subscription, 20)
        subscription.stop()
    assert_exactly_once_in_order(received, sent)
    # The first connection, then at least one more (drops that hit a connection already
    # cut while the client still drains what it had received need no new one).
    assert proxy.accepted >= 2


def test_subscribe_to_stream_resumes_after_drops(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    name = new_stream()
    sent = append_batches(direct, name, "Resume", batches=4, size=50)
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        subscription = client.subscribe_to_stream(
            name, stream_position=9, auto_resubscribe=True, timeout=DEADLINE
        )
        received = take(subscription, 40)
        proxy.drop_connections()
        received += take(subscription, 150)
        proxy.drop_connections()
        sent += append_batches(direct, name, "Resume", batches=3, size=1)
        received += take(subscription, 3)
        subscription.stop()
    assert_exactly_once_in_order(received, sent[10:])
    assert [e.stream_position for e in received] == list(range(10, 203))


def test_a_drop_while_blocked_in_next(direct: EventStoreDBClient, proxy: DroppingProxy) -> None:
    kind = new_type("Blocked")
    name = new_stream()
    received: list[RecordedEvent] = []
    failures: list[BaseException] = []
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        all_sub = client.subscribe_to_all(
            from_end=True,
            filter_include=[kind],
            include_checkpoints=True,
            window_size=1,
            checkpoint_interval_multiplier=1,
            auto_resubscribe=True,
            timeout=DEADLINE,
        )
        stream_sub = client.subscribe_to_stream(name, auto_resubscribe=True, timeout=DEADLINE)
        stream_received: list[RecordedEvent] = []

        def consume() -> None:
            try:
                while len(received) < 30:
                    item = next(all_sub)
                    if not item.is_checkpoint:
                        received.append(item)
                while len(stream_received) < 30:
                    stream_received.append(next(stream_sub))
            except BaseException as error:
                failures.append(error)

        consumer = threading.Thread(target=consume)
        consumer.start()
        sent: list[uuid.UUID] = []
        for _ in range(3):
            sent += append_batches(direct, name, kind, batches=1, size=10)
            time.sleep(0.15)  # the consumer drains and blocks in next()
            proxy.drop_connections()
        consumer.join(DEADLINE)
        assert not consumer.is_alive()
        all_sub.stop()
        stream_sub.stop()
    assert not failures, failures
    assert_exactly_once_in_order(received, sent)
    assert_exactly_once_in_order(stream_received, sent)


def test_without_auto_resubscribe_a_drop_is_service_unavailable(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    name = new_stream()
    direct.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        all_sub = client.subscribe_to_all(from_end=True, timeout=DEADLINE)
        stream_sub = client.subscribe_to_stream(name, timeout=DEADLINE)
        assert next(stream_sub).stream_position == 0
        proxy.drop_connections()
        direct.append_to_stream(name, current_version=1, events=new_events(1))
        # What was received before the drop may come first (position 1), then the error.
        before, error = drain(all_sub)
        assert (before, type(error)) == ([], ServiceUnavailable)
        before, error = drain(stream_sub)
        assert [e.stream_position for e in before] in ([], [1])
        assert type(error) is ServiceUnavailable
        # The client itself reconnects for the next call.
        assert client.get_current_version(name) == 2


def test_a_soft_deleted_stream_is_not_past_its_end(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    """The resubscription checks its checkpoint against the stream's last revision; a
    soft-deleted stream has none, but goes on after its old last one (its ``$tb``)."""
    name = new_stream()
    direct.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(3))
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        subscription = client.subscribe_to_stream(name, auto_resubscribe=True, timeout=DEADLINE)
        assert [e.stream_position for e in take(subscription, 3)] == [0, 1, 2]
        outcome: list[RecordedEvent | BaseException] = []

        def wait_for_next() -> None:
            try:
                outcome.append(next(subscription))
            except BaseException as error:
                outcome.append(error)

        waiting = threading.Thread(target=wait_for_next)
        waiting.start()
        direct.delete_stream(name, current_version=2)
        proxy.drop_connections()  # it resubscribes now, to a stream with no events
        time.sleep(0.5)
        late = new_events(1, start=3)
        direct.append_to_stream(name, current_version=StreamState.ANY, events=late)
        waiting.join(DEADLINE)
        subscription.stop()
    assert len(outcome) == 1
    event = outcome[0]
    assert isinstance(event, RecordedEvent), event
    assert (event.id, event.stream_position) == (late[0].id, 3)


def test_from_end_resumes_without_gap(direct: EventStoreDBClient, proxy: DroppingProxy) -> None:
    name = new_stream()
    direct.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    with EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
        subscription = client.subscribe_to_stream(
            name, from_end=True, auto_resubscribe=True, timeout=1.0
        )
        proxy.drop_connections()
        late = new_events(2, start=2)
        direct.append_to_stream(name, current_version=1, events=late)
        assert [e.id for e in take(subscription, 2)] == [e.id for e in late]


def test_resolved_links_resume_after_drops() -> None:
    category = "rs" + uuid.uuid4().hex[:12]
    stream = f"{category}-{uuid.uuid4().hex}"
    with (
        EmbeddedServer(run_projections="all") as server,
        DroppingProxy(server.port) as proxy,
        EventStoreDBClient(server.uri) as direct,
        EventStoreDBClient(f"127.0.0.1:{proxy.port}") as client,
    ):
        sent = append_batches(direct, stream, "Linked", batches=2, size=20)
        by_stream = client.subscribe_to_stream(
            f"$ce-{category}", resolve_links=True, auto_resubscribe=True, timeout=DEADLINE
        )
        by_all = client.subscribe_to_all(
            resolve_links=True,
            filter_exclude=(),
            filter_by_stream_name=True,
            filter_include=[rf"\$ce-{category}"],
            auto_resubscribe=True,
            timeout=DEADLINE,
        )
        got_stream, got_all = take(by_stream, 15), take(by_all, 15)
        proxy.drop_connections()
        sent += append_batches(direct, stream, "Linked", batches=1, size=5)
        got_stream += take(by_stream, 30)
        got_all += take(by_all, 30)
        by_stream.stop()
        by_all.stop()
    for received in (got_stream, got_all):
        assert_exactly_once_in_order(received, sent)
        assert [e.link.stream_position for e in received if e.link] == list(range(45))


def test_async_subscriptions_resume_after_drops(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    kind = new_type("AsyncResume")
    name = new_stream()
    start = direct.get_commit_position()
    sent = append_batches(direct, name, kind, batches=4, size=50)

    async def main() -> tuple[list[RecordedEvent], list[RecordedEvent]]:
        async with AsyncEventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
            all_sub = await client.subscribe_to_all(
                commit_position=start,
                filter_include=[kind],
                auto_resubscribe=True,
                timeout=DEADLINE,
            )
            stream_sub = await client.subscribe_to_stream(
                name, auto_resubscribe=True, timeout=DEADLINE
            )
            got_all = [await all_sub.__anext__() for _ in range(60)]
            got_stream = [await stream_sub.__anext__() for _ in range(90)]
            proxy.drop_connections()
            got_all += [await all_sub.__anext__() for _ in range(140)]
            got_stream += [await stream_sub.__anext__() for _ in range(110)]
            proxy.drop_connections()
            live = new_events(5, kind)
            # Appended from another thread's client while this loop waits.
            await asyncio.to_thread(direct.append_to_stream, name, current_version=199, events=live)
            sent.extend(e.id for e in live)
            got_all += [await all_sub.__anext__() for _ in range(5)]
            got_stream += [await stream_sub.__anext__() for _ in range(5)]
            all_sub.stop()
            stream_sub.stop()
            return got_all, got_stream

    got_all, got_stream = asyncio.run(asyncio.wait_for(main(), 30))
    assert_exactly_once_in_order(got_all, sent)
    assert_exactly_once_in_order(got_stream, sent)


def test_async_without_auto_resubscribe_a_drop_is_service_unavailable(
    direct: EventStoreDBClient, proxy: DroppingProxy
) -> None:
    name = new_stream()
    direct.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(1))

    async def main() -> None:
        async with AsyncEventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
            all_sub = await client.subscribe_to_all(from_end=True, timeout=DEADLINE)
            stream_sub = await client.subscribe_to_stream(name, timeout=DEADLINE)
            await stream_sub.__anext__()
            proxy.drop_connections()
            for subscription in (all_sub, stream_sub):
                before: list[RecordedEvent] = []
                with pytest.raises(ServiceUnavailable):
                    before.extend([await subscription.__anext__() for _ in range(10)])
                assert before == []
            event = NewEvent(type="After", data=b"{}")
            await client.append_to_stream(name, current_version=0, events=event)

    asyncio.run(asyncio.wait_for(main(), 30))
