"""How each consumer strategy spreads messages over the consumers of a group."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.records import ANY, ProposedEvent
from tests.server.helpers import event, link, new_store
from tests.server_persistent.support import (
    Consumer,
    ReadEvent,
    append,
    create_all,
    create_stream,
    ctx,
    revisions,
    run,
    service,
    stream_filter,
)


async def connect(
    svc: PersistentSubscriptionsService, stream: str | None, count: int, buffer_size: int
) -> list[Consumer]:
    consumers = [Consumer(svc, stream, "g", buffer_size) for _ in range(count)]
    for consumer in consumers:
        await consumer.confirmation()
    return consumers


async def drain(consumers: list[Consumer]) -> None:
    for consumer in consumers:
        await consumer.quiet(0.05)


def test_round_robin_alternates() -> None:
    store = new_store()
    svc = service(store)

    async def main() -> None:
        await svc.Create(create_stream("s", "g", consumer_strategy="RoundRobin"), ctx())
        first, second = await connect(svc, "s", 2, buffer_size=10)
        append(store, "s", 6)
        assert revisions(await first.take(3)) == [0, 2, 4]
        assert revisions(await second.take(3)) == [1, 3, 5]
        await drain([first, second])
        for consumer in (first, second):
            await consumer.disconnect()

    run(main())


def test_round_robin_skips_full_consumers() -> None:
    store = new_store()
    svc = service(store)

    async def main() -> None:
        await svc.Create(create_stream("s", "g", consumer_strategy="RoundRobin"), ctx())
        small = Consumer(svc, "s", "g", buffer_size=1)
        await small.confirmation()
        large = Consumer(svc, "s", "g", buffer_size=10)
        await large.confirmation()
        append(store, "s", 5)
        assert revisions(await small.take(1)) == [0]
        assert revisions(await large.take(4)) == [1, 2, 3, 4]
        await drain([small, large])
        for consumer in (small, large):
            await consumer.disconnect()

    run(main())


def test_dispatch_to_single_fills_one_consumer_first() -> None:
    store = new_store()
    svc = service(store)

    async def main() -> None:
        await svc.Create(create_stream("s", "g", consumer_strategy="DispatchToSingle"), ctx())
        first, second = await connect(svc, "s", 2, buffer_size=4)
        append(store, "s", 6)
        taken = await first.take(4)
        assert revisions(taken) == [0, 1, 2, 3]
        assert revisions(await second.take(2)) == [4, 5]
        await drain([first, second])
        # The head consumer moved to the back once it was full: the next goes to `second`.
        first.ack(*taken)
        append(store, "s", 1)
        assert revisions(await second.take(1)) == [6]
        for consumer in (first, second):
            await consumer.disconnect()

    run(main())


def _by_consumer(consumers: list[Consumer]) -> dict[bytes, set[int]]:
    """Stream (of the resolved event) -> the consumers that got its events."""
    owners: dict[bytes, set[int]] = defaultdict(set)
    for index, consumer in enumerate(consumers):
        for found in consumer.received:
            owners[found.event.stream_identifier.stream_name].add(index)
    return owners


async def take_all(consumers: list[Consumer], total: int) -> None:
    taken = 0
    while taken < total:
        progressed = False
        for consumer in consumers:
            try:
                await consumer.next(timeout=0.05)
            except asyncio.TimeoutError:
                continue
            taken += 1
            progressed = True
        assert progressed or taken < total


def test_pinned_keeps_each_source_stream_on_one_consumer() -> None:
    store = new_store()
    svc = service(store)
    streams = [f"p-{i}" for i in range(8)]

    async def main() -> None:
        request = create_all(
            "g", event_filter=stream_filter(regex="^p-"), consumer_strategy="Pinned"
        )
        await svc.Create(request, ctx())
        consumers = await connect(svc, None, 2, buffer_size=100)
        for _ in range(3):
            for stream in streams:
                append(store, stream, 1)
        await take_all(consumers, 24)
        owners = _by_consumer(consumers)
        assert set(owners) == {s.encode() for s in streams}
        assert all(len(indexes) == 1 for indexes in owners.values()), owners
        assert {next(iter(i)) for i in owners.values()} == {0, 1}  # both were used
        for consumer in consumers:
            await consumer.disconnect()

    run(main())


def test_pinned_uses_the_stream_of_resolved_links() -> None:
    store = new_store()
    svc = service(store)
    for i in range(4):
        append(store, f"t-{i}", 3)
    links = [link(r, f"t-{i}") for r in range(3) for i in range(4)]

    async def main() -> None:
        request = create_stream("links", "g", consumer_strategy="Pinned", resolve_links=True)
        await svc.Create(request, ctx())
        consumers = await connect(svc, "links", 2, buffer_size=100)
        store.append("links", ANY, links)
        await take_all(consumers, 12)
        owners = _by_consumer(consumers)
        assert len(owners) == 4
        assert all(len(indexes) == 1 for indexes in owners.values()), owners
        for consumer in consumers:
            await consumer.disconnect()

    run(main())


def test_pinned_by_correlation() -> None:
    store = new_store()
    svc = service(store)

    def correlated(correlation: str) -> ProposedEvent:
        metadata = json.dumps({"$correlationId": correlation}).encode()
        return event(custom_metadata=metadata)

    async def main() -> None:
        request = create_stream("s", "g", consumer_strategy="PinnedByCorrelation")
        await svc.Create(request, ctx())
        consumers = await connect(svc, "s", 3, buffer_size=100)
        correlations = [f"c-{i}" for i in range(6)]
        events = [correlated(c) for _ in range(3) for c in correlations]
        store.append("s", ANY, [*events, event(), event()])
        await take_all(consumers, len(events) + 2)
        owners: dict[str, set[int]] = defaultdict(set)
        for index, consumer in enumerate(consumers):
            for found in consumer.received:
                metadata = found.event.custom_metadata
                key = json.loads(metadata)["$correlationId"] if metadata else "stream:s"
                owners[key].add(index)
        assert set(owners) == {*correlations, "stream:s"}
        assert all(len(indexes) == 1 for indexes in owners.values()), owners
        assert len({next(iter(i)) for i in owners.values()}) > 1
        for consumer in consumers:
            await consumer.disconnect()

    run(main())


def test_pinned_moves_on_when_the_owner_is_full() -> None:
    store = new_store()
    svc = service(store)

    async def main() -> None:
        request = create_all(
            "g", event_filter=stream_filter(regex="^q-"), consumer_strategy="Pinned"
        )
        await svc.Create(request, ctx())
        first, second = await connect(svc, None, 2, buffer_size=2)
        store.append("q-a", ANY, [event() for _ in range(4)])
        store.append("q-b", ANY, [event()])
        taken: list[ReadEvent] = []
        for consumer in (first, second):
            taken += await consumer.take(2 if consumer is first else 1)
        names = sorted(e.event.stream_identifier.stream_name for e in taken)
        assert names == [b"q-a", b"q-a", b"q-b"]  # q-b is not held up behind q-a
        for consumer in (first, second):
            await consumer.disconnect()

    run(main())
