"""Checkpoints: when they are written, what they hold, and resuming after them."""

from __future__ import annotations

import json

from esdb_wire.protos import persistent_pb2, shared_pb2
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.store import EventStore
from tests.server.helpers import new_store
from tests.server_persistent.support import (
    Consumer,
    append,
    create_all,
    create_stream,
    ctx,
    eventually,
    info_req,
    revisions,
    run,
    service,
    stream_filter,
)

CHECKPOINT_STREAM = "$persistentsubscription-s::g-checkpoint"


def checkpoints(store: EventStore, stream: str = CHECKPOINT_STREAM) -> list[str]:
    """The checkpoint events' positions (the stream keeps the last two)."""
    found = store.read_stream(stream, 0, 100)
    if found is None:
        return []
    for record in found.records:
        assert record.event_type == "$SubscriptionCheckpoint"
        assert record.is_json
    return [json.loads(record.data) for record in found.records]


async def info(
    svc: PersistentSubscriptionsService, stream: str | None
) -> persistent_pb2.SubscriptionInfo:
    return (await svc.GetInfo(info_req(stream, "g"), ctx())).subscription_info


def test_checkpoint_after_max_checkpoint_count() -> None:
    store = new_store()
    append(store, "s", 10)
    svc = service(store)

    async def main() -> None:
        request = create_stream(
            "s", "g", max_checkpoint_count=5, min_checkpoint_count=5, checkpoint_after_ms=60_000
        )
        await svc.Create(request, ctx())
        consumer = Consumer(svc, "s", "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(10)
        consumer.ack(*events[:4])
        await consumer.settle()
        assert checkpoints(store) == []
        consumer.ack(events[4])
        await consumer.settle()
        assert checkpoints(store) == ["4"]  # JSON strings: '"4"'
        assert (await info(svc, "s")).last_checkpointed_event_position == "4"
        await consumer.disconnect()

    run(main())
    metadata = store.metadata(CHECKPOINT_STREAM)
    assert metadata.max_count == 2
    assert metadata.raw is not None
    assert metadata.raw["$acl"]["$mr"] == "$all"  # type: ignore[index]


def test_an_unacked_message_holds_the_checkpoint_back() -> None:
    store = new_store()
    append(store, "s", 6)
    svc = service(store)

    async def main() -> None:
        request = create_stream("s", "g", max_checkpoint_count=1, min_checkpoint_count=1)
        await svc.Create(request, ctx())
        consumer = Consumer(svc, "s", "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(6)
        consumer.ack(events[0], events[1], events[3], events[4], events[5])
        await consumer.settle()
        assert checkpoints(store)[-1] == "1"
        consumer.ack(events[2])
        await consumer.settle()
        assert checkpoints(store)[-1] == "5"
        await consumer.disconnect()

    run(main())


def test_time_based_checkpoint_needs_min_count_and_a_tick() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = service(store, tick_interval=0.01)

    async def main() -> None:
        request = create_stream(
            "s", "g", max_checkpoint_count=1000, min_checkpoint_count=3, checkpoint_after_ms=20
        )
        await svc.Create(request, ctx())
        consumer = Consumer(svc, "s", "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(3)
        consumer.ack(*events[:2])
        await consumer.quiet(0.1)
        assert checkpoints(store) == []  # 2 < min_checkpoint_count
        consumer.ack(events[2])

        async def written() -> bool:
            return checkpoints(store) == ["2"]

        await eventually(written)
        await consumer.disconnect()

    run(main())


def test_checkpoint_after_zero_never_checkpoints_by_time() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = service(store, tick_interval=0.01)

    async def main() -> None:
        request = create_stream(
            "s", "g", max_checkpoint_count=1000, min_checkpoint_count=1, checkpoint_after_ms=0
        )
        await svc.Create(request, ctx())
        consumer = Consumer(svc, "s", "g", buffer_size=10)
        await consumer.confirmation()
        consumer.ack(*await consumer.take(3))
        await consumer.quiet(0.1)
        assert checkpoints(store) == []
        await consumer.disconnect()

    run(main())


def test_a_new_service_resumes_after_the_checkpoint() -> None:
    store = new_store()
    append(store, "s", 10)
    first = service(store)

    async def consume_some() -> None:
        request = create_stream("s", "g", max_checkpoint_count=4, min_checkpoint_count=4)
        await first.Create(request, ctx())
        consumer = Consumer(first, "s", "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(10)
        consumer.ack(*events[:4])  # the count reaches 4: checkpoint at 3
        await consumer.settle()
        consumer.ack(*events[4:6])  # 2 more: below max_checkpoint_count
        await consumer.settle()
        await consumer.disconnect()

    run(consume_some())
    assert checkpoints(store) == ["3"]
    first.close()
    second = service(store)

    async def resume() -> None:
        found = await info(second, "s")
        assert found.last_checkpointed_event_position == "3"
        consumer = Consumer(second, "s", "g", buffer_size=10)
        await consumer.confirmation()
        assert revisions(await consumer.take(6)) == [4, 5, 6, 7, 8, 9]
        await consumer.quiet(0.05)
        await consumer.disconnect()

    run(resume())


def test_restart_subsystem_resumes_after_the_checkpoint() -> None:
    store = new_store()
    append(store, "s", 5)
    svc = service(store)

    async def main() -> None:
        request = create_stream("s", "g", max_checkpoint_count=2, min_checkpoint_count=2)
        await svc.Create(request, ctx())
        consumer = Consumer(svc, "s", "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(5)
        consumer.ack(*events[:2])
        await consumer.settle()
        await svc.RestartSubsystem(shared_pb2.Empty(), ctx())
        await consumer.error()
        again = Consumer(svc, "s", "g", buffer_size=10)
        await again.confirmation()
        assert revisions(await again.take(3)) == [2, 3, 4]
        await again.disconnect()

    run(main())


def test_all_checkpoint_and_resume() -> None:
    store = new_store()
    records = append(store, "x-1", 4)
    first = service(store)
    stream = "$persistentsubscription-$all::g-checkpoint"

    async def consume_some() -> None:
        request = create_all(
            "g",
            start=records[0].position,
            event_filter=stream_filter(prefixes=["x-"]),
            max_checkpoint_count=2,
            min_checkpoint_count=2,
        )
        await first.Create(request, ctx())
        consumer = Consumer(first, None, "g", buffer_size=10)
        await consumer.confirmation()
        events = await consumer.take(4)
        consumer.ack(*events[:2])
        await consumer.settle()
        await consumer.disconnect()

    run(consume_some())
    position = records[1].position
    assert checkpoints(store, stream) == [f"C:{position}/P:{position}"]
    first.close()
    second = service(store)

    async def resume() -> None:
        found = await info(second, None)
        assert found.last_checkpointed_event_position == f"C:{position}/P:{position}"
        consumer = Consumer(second, None, "g", buffer_size=10)
        await consumer.confirmation()
        resumed = await consumer.take(2)
        assert [e.event.stream_revision for e in resumed] == [2, 3]
        await consumer.disconnect()

    run(resume())
