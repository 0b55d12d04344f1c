"""Catch-up subscriptions through Streams.Read: confirmation, catch-up, caught_up, live."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from esdb_wire.protos import streams_pb2
from esdb_wire.server.records import ANY, DELETED_STREAM, Record
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.helpers import (
    EMPTY,
    Options,
    ctx,
    decoded,
    event,
    kinds,
    link,
    new_store,
    read_all_req,
    revisions,
    service,
    subscribe_stream_req,
)

ReadResp = streams_pb2.ReadResp
Stream = AsyncIterator[ReadResp]


def run_async(test: Callable[[EventStore, StreamsService], Coroutine[Any, Any, None]]) -> None:
    store = new_store()
    asyncio.run(test(store, service(store)))


async def take(subscription: Stream, count: int) -> list[ReadResp]:
    return [await asyncio.wait_for(subscription.__anext__(), 1) for _ in range(count)]


async def blocked(subscription: Stream) -> asyncio.Future[ReadResp]:
    """Start pulling the next message and check that none is ready."""
    pending = asyncio.ensure_future(subscription.__anext__())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not pending.done()
    return pending


def records_of(store: EventStore, stream: str) -> list[Record]:
    found = store.read_stream(stream, 0, 1000)
    assert found is not None
    return found.records


def assert_confirmation(response: ReadResp) -> None:
    assert response.WhichOneof("content") == "confirmation"
    assert str(uuid.UUID(response.confirmation.subscription_id)) == (
        response.confirmation.subscription_id
    )


# ---- stream subscriptions ----------------------------------------------------------


def test_stream_subscription_catches_up_exclusively_then_goes_live() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event() for _ in range(3)])
        subscription = decoded(svc.Read(subscribe_stream_req("s", start=0), ctx()))
        first, *history, caught_up = await take(subscription, 4)
        assert_confirmation(first)
        assert revisions(history) == [1, 2]
        assert caught_up.WhichOneof("content") == "caught_up"
        pending = await blocked(subscription)
        store.append("s", ANY, [event(), event()])
        live = [await asyncio.wait_for(pending, 1), *await take(subscription, 1)]
        assert revisions(live) == [3, 4]
        assert live[0].event.event.id.WhichOneof("value") == "string"

    run_async(test)


def test_stream_subscription_from_start_includes_revision_zero() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event(), event()])
        other = [event() for _ in range(2)]
        store.append("other", ANY, other)
        responses = await take(decoded(svc.Read(subscribe_stream_req("s"), ctx())), 4)
        assert kinds(responses) == ["confirmation", "event", "event", "caught_up"]
        assert revisions(responses) == [0, 1]

    run_async(test)


def test_stream_subscription_from_end_sends_only_new_events() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event(), event()])
        subscription = decoded(svc.Read(subscribe_stream_req("s", from_end=True), ctx()))
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]
        pending = await blocked(subscription)
        store.append("other", ANY, [event()])
        for _ in range(5):
            await asyncio.sleep(0)
        assert not pending.done()
        store.append("s", ANY, [event()])
        assert revisions([await asyncio.wait_for(pending, 1)]) == [2]

    run_async(test)


def test_stream_subscription_past_the_end_is_caught_up_at_once() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event()])
        subscription = decoded(svc.Read(subscribe_stream_req("s", start=5), ctx()))
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]
        pending = await blocked(subscription)
        store.append("s", ANY, [event() for _ in range(6)])
        assert revisions([await asyncio.wait_for(pending, 1)]) == [6]

    run_async(test)


def test_subscription_to_a_missing_stream_waits_for_it() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        subscription = decoded(svc.Read(subscribe_stream_req("later"), ctx()))
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]
        pending = await blocked(subscription)
        store.append("later", ANY, [event()])
        assert revisions([await asyncio.wait_for(pending, 1)]) == [0]

    run_async(test)


def test_subscription_to_a_soft_deleted_stream_gets_the_recreated_events() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event(), event()])
        store.delete("s", ANY)
        subscription = decoded(svc.Read(subscribe_stream_req("s"), ctx()))
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]
        pending = await blocked(subscription)
        store.append("s", ANY, [event()])
        assert revisions([await asyncio.wait_for(pending, 1)]) == [2]

    run_async(test)


def test_subscription_to_a_tombstoned_stream_fails_after_confirmation() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event()])
        store.tombstone("s", ANY)
        subscription = decoded(svc.Read(subscribe_stream_req("s"), ctx()))
        assert kinds(await take(subscription, 1)) == ["confirmation"]
        with pytest.raises(StatusError) as caught:
            await take(subscription, 1)
        assert caught.value.code == StatusCode.FAILED_PRECONDITION
        assert caught.value.message == "Event stream 's' is deleted."
        assert caught.value.trailing_metadata == (
            ("exception", "stream-deleted"),
            ("stream-name", "s"),
        )

    run_async(test)


def test_live_tombstone_delivers_the_stream_deleted_event_then_fails() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event()])
        subscription = decoded(svc.Read(subscribe_stream_req("s"), ctx()))
        assert kinds(await take(subscription, 3)) == ["confirmation", "event", "caught_up"]
        pending = await blocked(subscription)
        store.append("s", ANY, [event()])
        store.tombstone("s", ANY)
        last_event = await asyncio.wait_for(pending, 1)
        (deleted,) = await take(subscription, 1)
        assert revisions([last_event, deleted]) == [1, DELETED_STREAM]
        assert deleted.event.event.metadata["type"] == "$streamDeleted"
        with pytest.raises(StatusError) as caught:
            await take(subscription, 1)
        assert caught.value.message == "Event stream 's' is deleted."

    run_async(test)


def test_stream_subscription_resolves_links() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("target", ANY, [event("Target")])
        store.append("links", ANY, [link(0, "target")])
        request = subscribe_stream_req("links", resolve_links=True)
        _, resolved, _ = await take(decoded(svc.Read(request, ctx())), 3)
        assert resolved.event.event.metadata["type"] == "Target"
        assert resolved.event.link.stream_identifier.stream_name == b"links"

    run_async(test)


# ---- $all subscriptions -------------------------------------------------------------


def all_subscription(
    svc: StreamsService,
    *,
    position: int | None = None,
    from_end: bool = False,
    filter_options: Options.FilterOptions | None = None,
) -> Stream:
    request = read_all_req(
        position=position, from_end=from_end, filter_options=filter_options, subscribe=True
    )
    return decoded(svc.Read(request, ctx()))


def test_all_subscription_from_start_includes_system_events_but_no_checkpoints() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event(), event()])
        responses = await take(all_subscription(svc), 5)
        assert kinds(responses) == ["confirmation", "event", "event", "event", "caught_up"]
        names = [r.event.event.stream_identifier.stream_name for r in responses[1:4]]
        assert names == [b"$settings", b"s", b"s"]

    run_async(test)


def test_all_subscription_from_a_position_is_exclusive_and_goes_live() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event() for _ in range(3)])
        first = records_of(store, "s")[0]
        subscription = all_subscription(svc, position=first.position)
        responses = await take(subscription, 4)
        assert kinds(responses) == ["confirmation", "event", "event", "caught_up"]
        assert revisions(responses) == [1, 2]
        pending = await blocked(subscription)
        store.append("t", ANY, [event()])
        live = await asyncio.wait_for(pending, 1)
        assert live.event.event.stream_identifier.stream_name == b"t"
        assert live.event.commit_position == store.last_position

    run_async(test)


def test_all_subscription_from_end_is_caught_up_at_once() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("s", ANY, [event()])
        subscription = all_subscription(svc, from_end=True)
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]
        pending = await blocked(subscription)
        store.append("s", ANY, [event()])
        assert revisions([await asyncio.wait_for(pending, 1)]) == [1]

    run_async(test)


def keep_filter(window: int, multiplier: int) -> Options.FilterOptions:
    expression = Options.FilterOptions.Expression(prefix=["Keep"])
    return Options.FilterOptions(
        event_type=expression, max=window, checkpointIntervalMultiplier=multiplier
    )


def checkpoint_position(response: ReadResp) -> int:
    checkpoint = response.checkpoint
    assert checkpoint.commit_position == checkpoint.prepare_position
    return checkpoint.commit_position


def test_filtered_subscription_checkpoints_every_interval_of_considered_events() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        start = store.last_position
        store.append("a", ANY, [event(t) for t in ("Keep", "Drop", "Drop", "Keep", "Drop")])
        e = records_of(store, "a")
        subscription = all_subscription(svc, position=start, filter_options=keep_filter(2, 1))
        responses = await take(subscription, 7)
        assert kinds(responses) == [
            "confirmation",
            "event",
            "checkpoint",
            "event",
            "checkpoint",
            "checkpoint",
            "caught_up",
        ]
        assert revisions(responses) == [0, 3]
        assert [checkpoint_position(r) for r in responses if r.HasField("checkpoint")] == [
            e[1].position,
            e[3].position,
            e[4].position,
        ]
        pending = await blocked(subscription)
        store.append("b", ANY, [event("Drop"), event("Keep")])
        f = records_of(store, "b")
        live = [await asyncio.wait_for(pending, 1), *await take(subscription, 1)]
        assert kinds(live) == ["event", "checkpoint"]
        assert live[0].event.event.stream_identifier.stream_name == b"b"
        assert checkpoint_position(live[1]) == f[1].position

    run_async(test)


def test_end_of_catch_up_checkpoint_is_not_repeated() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        start = store.last_position
        store.append("a", ANY, [event("Drop") for _ in range(4)])
        e = records_of(store, "a")
        subscription = all_subscription(svc, position=start, filter_options=keep_filter(2, 1))
        responses = await take(subscription, 4)
        assert kinds(responses) == ["confirmation", "checkpoint", "checkpoint", "caught_up"]
        assert [checkpoint_position(r) for r in responses[1:3]] == [e[1].position, e[3].position]

    run_async(test)


def test_filtered_subscription_from_end_sends_no_checkpoint_before_caught_up() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        store.append("a", ANY, [event("Keep")])
        subscription = all_subscription(svc, from_end=True, filter_options=keep_filter(1, 1))
        assert kinds(await take(subscription, 2)) == ["confirmation", "caught_up"]

    run_async(test)


def test_count_window_is_32_times_the_multiplier() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        start = store.last_position
        store.append("a", ANY, [event("Drop") for _ in range(33)])
        e = records_of(store, "a")
        options = Options.FilterOptions(
            event_type=Options.FilterOptions.Expression(regex="^Keep"),
            count=EMPTY,
            checkpointIntervalMultiplier=1,
        )
        subscription = all_subscription(svc, position=start, filter_options=options)
        responses = await take(subscription, 4)
        assert kinds(responses) == ["confirmation", "checkpoint", "checkpoint", "caught_up"]
        assert checkpoint_position(responses[1]) == e[31].position
        assert checkpoint_position(responses[2]) == e[32].position

    run_async(test)


def test_zero_checkpoint_multiplier_fails_before_confirmation() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        subscription = all_subscription(svc, filter_options=keep_filter(2, 0))
        with pytest.raises(StatusError) as caught:
            await take(subscription, 1)
        assert caught.value.code == StatusCode.UNKNOWN
        assert caught.value.message == "Exception was thrown by handler."

    run_async(test)


def test_filtered_subscription_applies_the_default_filter_first() -> None:
    async def test(store: EventStore, svc: StreamsService) -> None:
        everything = Options.FilterOptions(
            stream_identifier=Options.FilterOptions.Expression(regex=""),
            max=100,
            checkpointIntervalMultiplier=100,
        )
        everything.stream_identifier.prefix.append("$")
        subscription = all_subscription(svc, filter_options=everything)
        responses = await take(subscription, 4)
        assert kinds(responses) == ["confirmation", "event", "checkpoint", "caught_up"]
        assert responses[1].event.event.stream_identifier.stream_name == b"$settings"
        assert checkpoint_position(responses[2]) == store.last_position

    run_async(test)
