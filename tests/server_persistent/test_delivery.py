"""Read: start points, acks, nacks, retries, parking, timeouts, disconnects, links, $all."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter

from esdb_wire.protos import persistent_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.records import ANY
from tests.server.helpers import event, link, new_store
from tests.server_persistent.support import (
    Consumer,
    ReadEvent,
    ack_id,
    append,
    create_all,
    create_stream,
    ctx,
    eventually,
    info_req,
    replay_req,
    revisions,
    run,
    service,
    stream_filter,
    type_filter,
)


async def create(svc: PersistentSubscriptionsService, *requests: persistent_pb2.CreateReq) -> None:
    for request in requests:
        await svc.Create(request, ctx())


async def until_stream(consumer: Consumer, stream: bytes) -> list[ReadEvent]:
    """Events up to and including the first one of ``stream``."""
    found = []
    while True:
        found.append(await consumer.next())
        if found[-1].event.stream_identifier.stream_name == stream:
            return found


async def info(
    svc: PersistentSubscriptionsService, stream: str | None, group: str
) -> persistent_pb2.SubscriptionInfo:
    return (await svc.GetInfo(info_req(stream, group), ctx())).subscription_info


# ---- start points ----


def test_start_from_start_revision_and_end() -> None:
    store = new_store()
    append(store, "s", 5)
    svc = service(store)

    async def main() -> None:
        await create(
            svc,
            create_stream("s", "start", start="start"),
            create_stream("s", "rev", start=3),
            create_stream("s", "end", start="end"),
        )
        append(store, "s", 2)  # revisions 5 and 6: after the groups were created
        from_start = Consumer(svc, "s", "start", buffer_size=100)
        assert await from_start.confirmation() == "s::start"
        assert revisions(await from_start.take(7)) == list(range(7))
        from_revision = Consumer(svc, "s", "rev", buffer_size=100)
        await from_revision.confirmation()
        assert revisions(await from_revision.take(4)) == [3, 4, 5, 6]  # inclusive
        from_end = Consumer(svc, "s", "end", buffer_size=100)
        await from_end.confirmation()
        assert revisions(await from_end.take(2)) == [5, 6]  # only events after creation
        await from_end.quiet()
        for consumer in (from_start, from_revision, from_end):
            await consumer.disconnect()

    run(main())


def test_all_from_start_position_and_end() -> None:
    store = new_store()
    records = append(store, "a", 3)
    svc = service(store)

    async def main() -> None:
        await create(
            svc,
            create_all("start", start="start"),
            create_all("at", start=records[1].position),
            create_all("end", start="end"),
        )
        append(store, "b", 1)
        at = Consumer(svc, None, "at", buffer_size=100)
        assert await at.confirmation() == "$all::at"
        got = await until_stream(at, b"b")
        assert got[0].commit_position == records[1].position  # inclusive
        assert [n for n in _names(got) if not n[0].startswith(b"$")] == [
            (b"a", 1),
            (b"a", 2),
            (b"b", 0),
        ]
        assert (b"$persistentSubscriptionConfig", 0) in _names(got)  # system events too
        end = Consumer(svc, None, "end", buffer_size=100)
        await end.confirmation()
        assert [n for n in _names(await until_stream(end, b"b")) if n[0] == b"b"] == [(b"b", 0)]
        await end.quiet()
        start = Consumer(svc, None, "start", buffer_size=1000)
        await start.confirmation()
        names = {name for name, _ in _names(await until_stream(start, b"b"))}
        assert {b"$settings", b"a", b"b"} <= names
        assert b"$epoch-information" not in names  # DefaultAllFilter
        for consumer in (at, end, start):
            await consumer.disconnect()

    run(main())


def test_event_fields_and_retry_count() -> None:
    store = new_store()
    append(store, "s", 1, data=b'{"x":1}', custom_metadata=b'{"m":2}')
    record = store.read_stream("s", 0, 1).records[0]  # type: ignore[union-attr]
    svc = service(store)

    async def main() -> tuple[ReadEvent, ReadEvent]:
        await create(svc, create_stream("s", "g"), create_stream("s", "h"))
        string = Consumer(svc, "s", "g")
        await string.confirmation()
        structured = Consumer(svc, "s", "h", structured=True)
        await structured.confirmation()
        result = (await string.next(), await structured.next())
        await string.disconnect()
        await structured.disconnect()
        return result

    as_string, as_structured = run(main())
    for found in (as_string, as_structured):
        assert found.WhichOneof("count") == "retry_count"
        assert found.retry_count == 0
        assert found.commit_position == record.position
        assert not found.HasField("link")
        recorded = found.event
        assert read_uuid(recorded.id) == record.event_id
        assert recorded.stream_identifier.stream_name == b"s"
        assert recorded.stream_revision == 0
        assert recorded.commit_position == recorded.prepare_position == record.position
        assert dict(recorded.metadata) == {
            "type": "Thing",
            "content-type": "application/json",
            "created": str(record.created),
        }
        assert recorded.data == b'{"x":1}'
        assert recorded.custom_metadata == b'{"m":2}'
    assert as_string.event.id.WhichOneof("value") == "string"
    assert as_structured.event.id.WhichOneof("value") == "structured"


def test_live_events_are_delivered() -> None:
    store = new_store()
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g"))
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        await consumer.quiet(0.05)
        append(store, "s", 2)
        assert revisions(await consumer.take(2)) == [0, 1]
        append(store, "other", 1)
        append(store, "s", 1)
        assert revisions(await consumer.take(1)) == [2]
        await consumer.disconnect()

    run(main())


# ---- in-flight limit, competing consumers ----


def test_buffer_size_limits_messages_in_flight() -> None:
    store = new_store()
    append(store, "s", 10)
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g"))
        consumer = Consumer(svc, "s", "g", buffer_size=3)
        await consumer.confirmation()
        first = await consumer.take(3)
        await consumer.quiet(0.05)
        consumer.ack(first[0])
        assert revisions(await consumer.take(1)) == [3]
        await consumer.quiet(0.05)
        consumer.ack(*first[1:])
        assert revisions(await consumer.take(2)) == [4, 5]
        await consumer.disconnect()

    run(main())


def test_competing_consumers_get_each_of_10000_events_once() -> None:
    store = new_store()
    total = 10_000
    stored = []
    for _ in range(10):
        stored += append(store, "big", total // 10)
    expected = {r.event_id for r in stored}
    svc = service(store)

    async def main() -> list[Counter[str]]:
        await create(svc, create_stream("big", "g", message_timeout_ms=60_000))
        consumers = [Consumer(svc, "big", "g", buffer_size=50) for _ in range(3)]
        for consumer in consumers:
            await consumer.confirmation()
        deliveries: Counter[object] = Counter()
        per_consumer: list[Counter[str]] = [Counter() for _ in consumers]
        done = asyncio.Event()

        async def work(index: int, consumer: Consumer) -> None:
            while not done.is_set():
                try:
                    found = await consumer.next(timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                event_id = ack_id(found)
                deliveries[event_id] += 1
                per_consumer[index]["events"] += 1
                consumer.ack(event_id)
                if len(deliveries) == total:
                    done.set()

        workers = [asyncio.ensure_future(work(i, c)) for i, c in enumerate(consumers)]
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.05)  # anything redelivered would show up now
        for worker in workers:
            worker.cancel()
        for consumer in consumers:
            await consumer.disconnect()
        assert set(deliveries) == expected
        assert set(deliveries.values()) == {1}
        found = await info(svc, "big", "g")
        assert found.outstanding_messages_count == 0
        return per_consumer

    per_consumer = run(main(), timeout=60)
    assert all(c["events"] > 1000 for c in per_consumer), per_consumer


def test_a_disconnected_consumers_messages_go_to_the_others() -> None:
    store = new_store()
    append(store, "s", 4)
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g", consumer_strategy="DispatchToSingle"))
        leaving = Consumer(svc, "s", "g", buffer_size=4)
        await leaving.confirmation()
        taken = await leaving.take(4)
        staying = Consumer(svc, "s", "g", buffer_size=10)
        await staying.confirmation()
        await staying.quiet(0.05)
        leaving.ack(taken[0])
        await leaving.settle()
        await leaving.disconnect()
        redelivered = await staying.take(3)
        assert revisions(redelivered) == [1, 2, 3]
        assert [e.retry_count for e in redelivered] == [1, 1, 1]
        staying.ack(*redelivered)
        await staying.quiet(0.05)
        assert (await info(svc, "s", "g")).outstanding_messages_count == 0
        await staying.disconnect()

    run(main())


# ---- nacks, retries, parking ----


def test_nack_retry_then_park_after_max_retry_count_then_replay() -> None:
    store = new_store()
    records = append(store, "s", 2)
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g", max_retry_count=2))
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        first, second = await consumer.take(2)
        consumer.ack(second)
        counts = [first.retry_count]
        current = first
        for _ in range(2):
            consumer.nack("Retry", current, reason="again")
            current = await consumer.next()
            assert current.event.stream_revision == 0
            counts.append(current.retry_count)
        assert counts == [0, 1, 2]  # delivered max_retry_count + 1 times
        consumer.nack("Retry", current)  # retry count reached: parked
        await consumer.quiet(0.05)
        found = await info(svc, "s", "g")
        assert found.parked_message_count == 1
        assert found.outstanding_messages_count == 0
        parked = store.read_stream("$persistentsubscription-s::g-parked", 0, 10)
        assert parked is not None
        (parked_link,) = parked.records
        assert parked_link.event_type == "$>"
        assert parked_link.data == b"0@s"
        assert not parked_link.is_json
        metadata = json.loads(parked_link.custom_metadata)
        assert metadata["reason"] == "Reached retry count of 2"
        assert "added" in metadata
        assert "subscriptionEventNumber" not in metadata  # 0 is a default value: left out

        await svc.ReplayParked(replay_req("s", "g"), ctx())
        replayed = await consumer.next()
        assert replayed.retry_count == 0
        assert replayed.event.stream_revision == 0
        assert read_uuid(replayed.event.id) == records[0].event_id
        assert read_uuid(replayed.link.id) == parked_link.event_id  # parked replays are links
        assert replayed.link.stream_identifier.stream_name == b"$persistentsubscription-s::g-parked"
        assert replayed.commit_position == parked_link.position
        assert replayed.event.commit_position == parked_link.position
        assert ack_id(replayed) == parked_link.event_id
        consumer.ack(replayed)
        await consumer.quiet(0.05)
        found = await info(svc, "s", "g")
        assert found.parked_message_count == 0
        assert found.outstanding_messages_count == 0
        assert store.metadata("$persistentsubscription-s::g-parked").truncate_before == 1
        await consumer.disconnect()

    run(main())


def test_nack_park_skip_stop_unknown() -> None:
    store = new_store()
    append(store, "s", 4)
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g"))
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        park, skip, stop, unknown = await consumer.take(4)
        consumer.nack("Park", park, reason="no way")
        consumer.nack("Skip", skip)
        consumer.nack("Stop", stop)
        consumer.nack("Unknown", unknown)
        again = await consumer.next()
        assert (again.event.stream_revision, again.retry_count) == (3, 1)
        await consumer.quiet(0.05)
        parked = store.read_stream("$persistentsubscription-s::g-parked", 0, 10)
        assert parked is not None
        (record,) = parked.records
        assert json.loads(record.custom_metadata)["reason"] == (
            "Client explicitly NAK'ed message.\nno way"
        )
        consumer.ack(again)
        await consumer.settle()
        found = await info(svc, "s", "g")
        assert (found.outstanding_messages_count, found.parked_message_count) == (0, 1)
        await consumer.disconnect()

    run(main())


def test_replay_parked_stop_at() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = service(store)

    async def main() -> None:
        await create(svc, create_stream("s", "g"))
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        events = await consumer.take(3)
        for found in events:
            consumer.nack("Park", found)
        await consumer.settle()
        assert (await info(svc, "s", "g")).parked_message_count == 3
        await svc.ReplayParked(replay_req("s", "g", stop_at=2), ctx())
        assert revisions(await consumer.take(2)) == [0, 1]
        await consumer.quiet(0.05)
        assert (await info(svc, "s", "g")).parked_message_count == 1
        await svc.ReplayParked(replay_req("s", "g"), ctx())
        assert revisions(await consumer.take(1)) == [2]
        assert (await info(svc, "s", "g")).parked_message_count == 0
        await consumer.disconnect()

    run(main())


def test_message_timeout_redelivers_then_parks() -> None:
    store = new_store()
    append(store, "s", 1)
    svc = service(store, tick_interval=0.01)

    async def main() -> None:
        await create(svc, create_stream("s", "g", message_timeout_ms=30, max_retry_count=1))
        first = Consumer(svc, "s", "g")
        await first.confirmation()
        assert (await first.next()).retry_count == 0
        again = await first.next(timeout=2)
        assert (again.event.stream_revision, again.retry_count) == (0, 1)

        async def is_parked() -> bool:  # it times out again: parked
            return (await info(svc, "s", "g")).parked_message_count == 1

        await eventually(is_parked)
        parked = store.read_stream("$persistentsubscription-s::g-parked", 0, 1)
        assert parked is not None
        assert json.loads(parked.records[0].custom_metadata)["reason"] == "Reached retry count of 1"
        await first.disconnect()

    run(main())


# ---- links ----


def test_resolved_links_are_acked_by_link_id() -> None:
    store = new_store()
    targets = append(store, "target", 2)
    store.append("links", ANY, [link(0, "target"), link(1, "target"), link(9, "target")])
    links = store.read_stream("links", 0, 10).records  # type: ignore[union-attr]
    svc = service(store)

    async def main() -> None:
        await create(
            svc,
            create_stream("links", "resolved", resolve_links=True),
            create_stream("links", "raw"),
        )
        resolved = Consumer(svc, "links", "resolved")
        await resolved.confirmation()
        first, second, missing = await resolved.take(3)
        assert read_uuid(first.event.id) == targets[0].event_id
        assert first.event.stream_identifier.stream_name == b"target"
        assert read_uuid(first.link.id) == links[0].event_id
        assert first.commit_position == links[0].position
        assert ack_id(first) == links[0].event_id
        assert not missing.HasField("event")  # target does not exist
        assert read_uuid(missing.link.id) == links[2].event_id
        resolved.ack(first, second, missing)
        await resolved.quiet(0.05)
        assert (await info(svc, "links", "resolved")).outstanding_messages_count == 0
        resolved.ack(targets[0].event_id)  # acking the target id does nothing harmful
        raw = Consumer(svc, "links", "raw")
        await raw.confirmation()
        unresolved = await raw.next()
        assert not unresolved.HasField("link")
        assert unresolved.event.metadata["type"] == "$>"
        assert read_uuid(unresolved.event.id) == links[0].event_id
        for consumer in (resolved, raw):
            await consumer.disconnect()

    run(main())


# ---- $all filters ----


def _names(events: list[ReadEvent]) -> list[tuple[bytes, int]]:
    return [(e.event.stream_identifier.stream_name, e.event.stream_revision) for e in events]


def test_all_with_filters() -> None:
    store = new_store()
    store.append("order-1", ANY, [event("Created"), event("Paid")])
    store.append("user-1", ANY, [event("Created")])
    store.append("order-2", ANY, [event("Shipped")])
    svc = service(store)

    async def main() -> None:
        await create(
            svc,
            create_all("by-regex", event_filter=stream_filter(regex="^order-")),
            create_all("by-prefix", event_filter=type_filter(prefixes=["Cre", "Ship"])),
            create_all("type-regex", event_filter=type_filter(regex="aid")),
        )
        by_regex = Consumer(svc, None, "by-regex", buffer_size=100)
        await by_regex.confirmation()
        assert _names(await by_regex.take(3)) == [(b"order-1", 0), (b"order-1", 1), (b"order-2", 0)]
        await by_regex.quiet(0.05)
        by_prefix = Consumer(svc, None, "by-prefix", buffer_size=100)
        await by_prefix.confirmation()
        assert _names(await by_prefix.take(3)) == [(b"order-1", 0), (b"user-1", 0), (b"order-2", 0)]
        type_regex = Consumer(svc, None, "type-regex", buffer_size=100)
        await type_regex.confirmation()
        assert _names(await type_regex.take(1)) == [(b"order-1", 1)]
        await type_regex.quiet(0.05)
        store.append("order-3", ANY, [event("Paid")])
        assert _names(await type_regex.take(1)) == [(b"order-3", 0)]
        for consumer in (by_regex, by_prefix, type_regex):
            await consumer.disconnect()

    run(main())


def test_filtered_all_checkpoints_over_skipped_events() -> None:
    store = new_store()
    for _ in range(3):
        append(store, "noise", 10)
    svc = service(store)

    async def main() -> None:
        await create(
            svc,
            create_all(
                "f",
                event_filter=stream_filter(regex="^wanted$"),
                max_checkpoint_count=20,
                min_checkpoint_count=20,
            ),
        )
        consumer = Consumer(svc, None, "f")
        await consumer.confirmation()
        await consumer.quiet(0.05)
        found = await info(svc, None, "f")
        assert found.last_checkpointed_event_position.startswith("C:")
        await consumer.disconnect()

    run(main())


def test_all_does_not_see_its_own_checkpoints_and_parked_messages() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = service(store)

    async def main() -> None:
        await create(
            svc, create_all("g", start="end", max_checkpoint_count=1, min_checkpoint_count=1)
        )
        consumer = Consumer(svc, None, "g")
        await consumer.confirmation()
        append(store, "s", 2)
        events = await until_stream(consumer, b"s")
        events.append(await consumer.next())
        first, second = events[-2:]
        assert _names([first, second]) == [(b"s", 3), (b"s", 4)]
        consumer.ack(*events[:-1])
        consumer.nack("Park", second)
        later: list[ReadEvent] = []
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                later.append(await consumer.next(timeout=0.1))
                consumer.ack(later[-1])
        # Their metadata streams ("$$...") pass the DefaultAllFilter, they do not.
        streams = {name for name, _ in _names(later)}
        assert streams <= {
            b"$$$persistentsubscription-$all::g-checkpoint",
            b"$$$persistentsubscription-$all::g-parked",
        }
        assert store.last_revision("$persistentsubscription-$all::g-checkpoint") >= 0
        assert store.last_revision("$persistentsubscription-$all::g-parked") == 0
        await consumer.disconnect()

    run(main())
