"""AsyncEventStoreDBClient's catch-up subscriptions and resolved links against the embedded
server and the grpcio-hosted services (asyncio: the source of
``test_sync_v1_subscriptions.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

import esdb_wire.client.aio_responses as responses_module
from esdb_wire import (
    DEFAULT_EXCLUDE_FILTER,
    AsyncCatchupSubscription,
    AsyncEventStoreDBClient,
    CaughtUp,
    Checkpoint,
    DeadlineExceeded,
    NewEvent,
    RecordedEvent,
    ServiceUnavailable,
    StreamState,
)
from esdb_wire.exceptions import CheckpointPastTheEnd
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._async_helpers import collect, take
from tests.client_v1._support import DEADLINE, assert_recorded, new_events, new_stream, new_type

ZERO = uuid.UUID(int=0)


async def test_subscribe_to_all_position_is_exclusive_then_live(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        events = new_events(3)
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
        recorded = await client.get_stream(name)
        start = recorded[0].commit_position
        async with await client.subscribe_to_all(
            commit_position=start, timeout=DEADLINE
        ) as subscription:
            assert subscription.subscription_id
            caught = await take(subscription, 2)
            assert [e.id for e in caught] == [events[1].id, events[2].id]
            for got, want in zip(caught, recorded[1:]):
                assert got.commit_position == want.commit_position
                assert got.stream_position == want.stream_position
            live = new_events(2, start=3)
            position = await client.append_to_stream(name, current_version=2, events=live)
            delivered = await take(subscription, 2)
            assert [e.id for e in delivered] == [e.id for e in live]
            assert delivered[-1].commit_position == position
            assert_recorded(delivered[0], live[0], name, 3)


async def test_subscribe_to_all_from_the_start_and_from_the_end(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        async with await client.subscribe_to_all(timeout=DEADLINE) as subscription:
            first = await subscription.__anext__()
        assert first == (await collect(await client.read_all(limit=1)))[0]
        kind = new_type()
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1, kind)
        )
        subscription = await client.subscribe_to_all(
            from_end=True, filter_include=[kind], resolve_links=True, timeout=DEADLINE
        )
        live = new_events(1, kind)
        await client.append_to_stream(name, current_version=0, events=live)
        assert (await subscription.__anext__()).id == live[0].id
        subscription.stop()


async def test_subscribe_to_all_filters(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name, other = new_stream(), new_stream()
        kind_a, kind_b = new_type("A"), new_type("B")
        start = await client.get_commit_position()
        a = await client.append_to_stream(
            name, current_version=StreamState.ANY, events=new_events(1, kind_a)
        )
        await client.append_to_stream(
            other, current_version=StreamState.ANY, events=new_events(1, kind_b)
        )
        await client.append_to_stream(
            name, current_version=StreamState.ANY, events=new_events(1, kind_b)
        )

        async def first(**kwargs: Any) -> RecordedEvent:
            async with await client.subscribe_to_all(
                commit_position=start, timeout=DEADLINE, **kwargs
            ) as sub:
                return await sub.__anext__()

        assert (await first(filter_include=[kind_b])).stream_name == other
        assert (await first(filter_include=[kind_a, kind_b])).commit_position == a
        skipped = await first(filter_exclude=[*DEFAULT_EXCLUDE_FILTER, kind_a])
        assert (skipped.type, skipped.stream_name) == (kind_b, other)
        by_name = await first(filter_by_stream_name=True, filter_include=[other])
        assert (by_name.type, by_name.stream_name) == (kind_b, other)
        by_name_one = await first(filter_by_stream_name=True, filter_include=[other], window_size=1)
        assert by_name_one == by_name
        not_name = await first(filter_by_stream_name=True, filter_exclude=[name])
        assert not_name.stream_name == other


async def test_subscribe_to_all_checkpoints_and_caught_up(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        kind_a, kind_b = new_type("A"), new_type("B")
        start = await client.get_commit_position(filter_exclude=())
        pattern = [kind_a, kind_b] * 5
        for kind in pattern:
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=new_events(1, kind)
            )
        recorded = await client.get_stream(name)
        positions = [event.commit_position for event in recorded]
        subscription = await client.subscribe_to_all(
            commit_position=start,
            filter_include=[kind_a],
            include_checkpoints=True,
            window_size=2,
            checkpoint_interval_multiplier=2,
            include_caught_up=True,
            timeout=DEADLINE,
        )
        assert isinstance(subscription, AsyncCatchupSubscription)
        assert subscription.subscription_id
        items = []
        async for item in subscription:
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
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=new_events(1, kind)
            )
        live = await client.get_stream(name, stream_position=10)
        got = [describe(item) for item in await take(subscription, 3)]
        assert got == [
            ("RecordedEvent", live[0].commit_position),
            ("RecordedEvent", live[2].commit_position),
            ("Checkpoint", live[3].commit_position),
        ]
        subscription.stop()
        # Without include_checkpoints / include_caught_up: events only.
        async with await client.subscribe_to_all(
            commit_position=start,
            filter_include=[kind_a],
            window_size=2,
            checkpoint_interval_multiplier=2,
            timeout=DEADLINE,
        ) as plain:
            events = await take(plain, 7)
            assert [e.stream_position for e in events] == [0, 2, 4, 6, 8, 10, 12]


async def test_subscribe_to_stream(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        events = new_events(5)
        await client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
        async with await client.subscribe_to_stream(name, timeout=DEADLINE) as subscription:
            assert isinstance(subscription, AsyncCatchupSubscription)
            assert subscription.subscription_id
            first = await subscription.__anext__()
            assert_recorded(first, events[0], name, 0)
        subscription = await client.subscribe_to_stream(
            name, stream_position=2, include_caught_up=True, timeout=DEADLINE
        )
        got = await take(subscription, 3)
        assert [e.stream_position for e in got[:2]] == [3, 4]  # exclusive
        assert isinstance(got[2], CaughtUp)
        live = NewEvent(type="Live", data=b"{}")
        position = await client.append_to_stream(name, current_version=4, events=live)
        recorded = await subscription.__anext__()
        assert_recorded(recorded, live, name, 5, position)
        subscription.stop()
        # from_end: only what is appended afterwards.
        tail = await client.subscribe_to_stream(
            name, from_end=True, include_caught_up=True, resolve_links=True, timeout=DEADLINE
        )
        assert (await tail.__anext__()).is_caught_up
        late = new_events(1)
        await client.append_to_stream(name, current_version=5, events=late)
        assert (await tail.__anext__()).id == late[0].id
        await tail.aclose()
        # A stream that does not exist yet: caught up at once, then its first events.
        missing = new_stream()
        async with await client.subscribe_to_stream(
            missing, include_caught_up=True, resolve_links=False, timeout=DEADLINE
        ) as waiting:
            assert (await waiting.__anext__()).is_caught_up
            created = new_events(1)
            await client.append_to_stream(
                missing, current_version=StreamState.NO_STREAM, events=created
            )
            assert (await waiting.__anext__()).id == created[0].id


async def test_subscription_timeout_is_a_deadline(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        for subscription in (
            await client.subscribe_to_all(from_end=True, timeout=0.3),
            await client.subscribe_to_stream(new_stream(), timeout=0.3),
        ):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await subscription.__anext__()
            assert time.monotonic() - started < 3


async def test_one_caller_appends_between_subscription_reads(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        all_sub = await client.subscribe_to_all(
            from_end=True, filter_include=["Ping.*"], timeout=DEADLINE
        )
        stream_sub = await client.subscribe_to_stream(name, timeout=DEADLINE)
        for index in range(20):
            event = NewEvent(type=f"Ping{index}", data=b"{}")
            version: int | StreamState = index - 1 if index else StreamState.NO_STREAM
            position = await client.append_to_stream(name, current_version=version, events=event)
            from_all = await all_sub.__anext__()
            from_stream = await stream_sub.__anext__()
            assert from_all.id == from_stream.id == event.id
            assert from_all.commit_position == from_stream.commit_position == position
            assert from_stream.stream_position == index
        all_sub.stop()
        stream_sub.stop()


async def test_subscription_ends_after_stop(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(3)
        )
        subscription = await client.subscribe_to_stream(name, timeout=DEADLINE)
        await subscription.__anext__()
        subscription.stop()
        # esdbclient 1.1.7: iterating a stopped subscription ends at once.
        assert await collect(subscription) == []


async def test_stop_is_awaitable_as_in_esdbclient(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        name = new_stream()
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        response = await client.read_stream(name)
        await response.__anext__()
        await response.stop()
        subscription = await client.subscribe_to_stream(name, timeout=DEADLINE)
        await subscription.stop()
        assert await collect(response) == []
        assert await collect(subscription) == []


# ---- links (standard projections, embedded only) -------------------------------------


async def test_resolve_links_through_category_and_event_type_streams(
    projections: EmbeddedServer,
) -> None:
    category = "cat" + uuid.uuid4().hex[:12]
    kind_a, kind_b = new_type("A"), new_type("B")
    first, second = f"{category}-{uuid.uuid4().hex}", f"{category}-{uuid.uuid4().hex}"
    async with AsyncEventStoreDBClient(projections.uri) as client:
        a_events = new_events(2, kind_a)
        await client.append_to_stream(first, current_version=StreamState.NO_STREAM, events=a_events)
        b_event = NewEvent(type=kind_b, data=b'{"b": 1}', metadata=b'{"mb": 1}')
        await client.append_to_stream(second, current_version=StreamState.NO_STREAM, events=b_event)
        originals = [*await client.get_stream(first), *await client.get_stream(second)]
        category_stream = f"$ce-{category}"

        links = await client.get_stream(category_stream)
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
            for got, target in zip(resolved, targets):
                assert got == target  # same type, data, stream, positions, id
                assert got.prepare_position == target.prepare_position
                assert got.link is not None
                assert got.is_resolved_event
                assert got.link.type == "$>"
                assert got.link.data == f"{target.stream_position}@{target.stream_name}".encode()
                assert got.ack_id == got.link.id
                assert got.link.id != target.id

        resolved = list(await client.get_stream(category_stream, resolve_links=True))
        check_resolved(resolved, originals)
        assert [e.link.stream_position for e in resolved if e.link] == [0, 1, 2]
        assert [e.link.stream_name for e in resolved if e.link] == [category_stream] * 3
        assert [e.link.id for e in resolved if e.link] == [e.id for e in links]
        type_stream = await client.get_stream(f"$et-{kind_a}", resolve_links=True)
        check_resolved(list(type_stream), originals[:2])
        backwards = await client.get_stream(
            category_stream, resolve_links=True, backwards=True, limit=1
        )
        check_resolved(list(backwards), originals[2:])

        from_all = await collect(
            await client.read_all(
                resolve_links=True,
                filter_exclude=(),
                filter_by_stream_name=True,
                filter_include=[rf"\$ce-{category}"],
            )
        )
        check_resolved(from_all, originals)
        unresolved = await collect(
            await client.read_all(
                filter_exclude=(), filter_by_stream_name=True, filter_include=[rf"\$ce-{category}"]
            )
        )
        assert [e.id for e in unresolved] == [e.id for e in links]

        async with await client.subscribe_to_stream(
            category_stream, resolve_links=True, timeout=DEADLINE
        ) as subscription:
            check_resolved(await take(subscription, 3), originals)
            live = NewEvent(type=kind_b, data=b"{}")
            await client.append_to_stream(second, current_version=0, events=live)
            got = await subscription.__anext__()
            assert got.id == live.id
            assert got.link is not None
            assert got.link.stream_position == 3
        async with await client.subscribe_to_all(
            resolve_links=True,
            filter_exclude=(),
            filter_by_stream_name=True,
            filter_include=[rf"\$et-{kind_b}"],
            timeout=DEADLINE,
        ) as subscription:
            got_b = await take(subscription, 2)
            assert [e.id for e in got_b] == [b_event.id, live.id]
            assert all(e.link is not None and e.link.stream_name == f"$et-{kind_b}" for e in got_b)


async def test_resolve_links_skips_links_to_deleted_events(projections: EmbeddedServer) -> None:
    category = "del" + uuid.uuid4().hex[:12]
    kept, gone = f"{category}-{uuid.uuid4().hex}", f"{category}-{uuid.uuid4().hex}"
    async with AsyncEventStoreDBClient(projections.uri) as client:
        await client.append_to_stream(
            gone, current_version=StreamState.NO_STREAM, events=new_events(1)
        )
        keep = new_events(1)
        await client.append_to_stream(kept, current_version=StreamState.NO_STREAM, events=keep)
        await client.tombstone_stream(gone, current_version=0)
        resolved = await client.get_stream(f"$ce-{category}", resolve_links=True)
        assert [e.id for e in resolved if e.stream_name == kept] == [keep[0].id]
        assert not [e for e in resolved if e.stream_name == gone and e.type != "$streamDeleted"]


# ---- the server goes away (issue 15): never a silent end -----------------------------
# Each test runs a server of its own, stops it gracefully (GOAWAY; its calls are cancelled,
# CANCELLED without an ``exception`` trailer, once the grace is over) and may start a new
# one, with an empty log, on the same port.

GRACE = 0.2


async def _subscribe_both(
    client: AsyncEventStoreDBClient, name: str, kind: str, auto_resubscribe: bool
) -> list[AsyncCatchupSubscription]:
    """A subscription to the stream ``name`` and one to the events of ``kind`` in $all."""
    return [
        await client.subscribe_to_stream(name, auto_resubscribe=auto_resubscribe, timeout=DEADLINE),
        await client.subscribe_to_all(
            filter_include=[kind], auto_resubscribe=auto_resubscribe, timeout=DEADLINE
        ),
    ]


async def _append_to(server: EmbeddedServer, name: str, kind: str, count: int) -> list[uuid.UUID]:
    """Append with a client of its own (the subscriptions' client may still be reconnecting)."""
    events = new_events(count, kind)
    async with AsyncEventStoreDBClient(server.esdb_uri) as writer:
        await writer.append_to_stream(name, current_version=StreamState.ANY, events=events)
    return [event.id for event in events]


async def test_a_subscription_raises_when_the_server_shuts_down() -> None:
    with EmbeddedServer() as server:
        name, kind = new_stream(), new_type()
        sent = await _append_to(server, name, kind, 2)
        async with AsyncEventStoreDBClient(server.esdb_uri) as client:
            subscriptions = await _subscribe_both(client, name, kind, auto_resubscribe=False)
            for subscription in subscriptions:
                assert [e.id for e in await take(subscription, 2)] == sent
            server.stop(grace=GRACE)
            for subscription in subscriptions:
                with pytest.raises(ServiceUnavailable):
                    await subscription.__anext__()
                subscription.stop()
                assert await collect(subscription) == []  # stopped: now it ends


async def test_auto_resubscribe_goes_on_after_a_graceful_restart() -> None:
    server = EmbeddedServer().start()
    try:
        name, kind = new_stream(), new_type()
        async with AsyncEventStoreDBClient(server.esdb_uri) as client:
            subscriptions = await _subscribe_both(client, name, kind, auto_resubscribe=True)
            server.stop(grace=GRACE)
            server = EmbeddedServer(port=server.port).start()  # an empty log
            sent = await _append_to(server, name, kind, 2)
            for subscription in subscriptions:
                assert [e.id for e in await take(subscription, 2)] == sent
                subscription.stop()
    finally:
        server.stop()


async def test_auto_resubscribe_past_the_end_of_a_restarted_server_raises() -> None:
    server = EmbeddedServer().start()
    try:
        name, kind = new_stream(), new_type()
        await _append_to(server, name, kind, 3)
        async with AsyncEventStoreDBClient(server.esdb_uri) as client:
            stream_sub, all_sub = await _subscribe_both(client, name, kind, auto_resubscribe=True)
            received = await take(stream_sub, 3)
            last_position = (await take(all_sub, 3))[-1].commit_position
            server.stop(grace=GRACE)
            server = EmbeddedServer(port=server.port).start()  # an empty log
            await _append_to(server, name, kind, 1)
            with pytest.raises(CheckpointPastTheEnd) as stream_error:
                await stream_sub.__anext__()
            assert stream_error.value.checkpoint == received[-1].stream_position == 2
            assert stream_error.value.last_position == 0
            with pytest.raises(CheckpointPastTheEnd) as all_error:
                await all_sub.__anext__()
            assert all_error.value.checkpoint == last_position
            stream_sub.stop()
            all_sub.stop()
    finally:
        server.stop()


async def test_auto_resubscribe_logs_each_retry_and_names_them_when_it_gives_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(responses_module, "RESUBSCRIBE_FOR", 1.0)
    with EmbeddedServer() as server:
        async with AsyncEventStoreDBClient(server.esdb_uri) as client:
            subscription = await client.subscribe_to_stream(
                new_stream(), auto_resubscribe=True, timeout=DEADLINE
            )
            server.stop(grace=GRACE)  # and not back
            with caplog.at_level(logging.INFO, logger="esdb_wire.client"):
                started = time.monotonic()
                with pytest.raises(ServiceUnavailable) as info:
                    await subscription.__anext__()
            assert time.monotonic() - started < 1.0 + 2.0
    retries = [r for r in caplog.records if "resubscription attempt" in r.getMessage()]
    assert len(retries) >= 2
    assert all(r.name == "esdb_wire.client" for r in retries)
    message = str(info.value)
    assert f"({len(retries)} attempts)" in message
    assert "the last one failed with" in message
