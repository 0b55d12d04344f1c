"""AsyncEsdbClient (the esdbclient 0.5 API) against the embedded server and against the
same service logic hosted by grpcio, over real sockets.

Every test here runs on both drivers (asyncio: this module is the source of
``test_sync_client.py``, made by ``scripts/unasync.py``); what only one driver has
(threads, tasks) is in ``test_concurrency.py``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from esdb_wire import (
    ESDB_EVENTS_REGEX,
    AsyncEsdbClient,
    DeadlineExceeded,
    ExpectedPositionError,
    NewEvent,
    RecordedEvent,
    ServiceUnavailable,
    StreamNotFound,
)


def new_events(count: int, prefix: str = "Event") -> list[NewEvent]:
    return [
        NewEvent(type=f"{prefix}{i}", data=b'{"i": %d}' % i, metadata=b"{}") for i in range(count)
    ]


def stream() -> str:
    return f"stream-{uuid4()}"


async def collect(items: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    return [item async for item in items]


async def test_append_new_stream_then_expected_positions(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        first = await client.append_events(name, expected_position=None, events=new_events(1))
        assert first > 0
        second = await client.append_events(
            name, expected_position=0, events=new_events(2, "Next"), timeout=5
        )
        assert second > first
        assert await client.get_stream_position(name) == 2
        events = await collect(client.read_stream_events(name))
        assert [e.type for e in events] == ["Event0", "Next0", "Next1"]
        assert [e.stream_position for e in events] == [0, 1, 2]
        assert events[-1].commit_position == second
        assert all(e.stream_name == name for e in events)
        assert events[0].data == b'{"i": 0}'
        assert events[0].metadata == b"{}"


async def test_append_is_atomic_and_checks_expected_position(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        await client.append_events(name, None, new_events(2))
        with pytest.raises(ExpectedPositionError) as info:
            await client.append_events(name, expected_position=5, events=new_events(3, "Bad"))
        assert info.value.actual_version == 1
        with pytest.raises(ExpectedPositionError):
            await client.append_events(name, expected_position=None, events=new_events(1, "Bad"))
        assert await client.get_stream_position(name) == 1  # nothing of the failed appends
        # A negative expected position disables the check.
        await client.append_events(name, expected_position=-1, events=new_events(1, "Any"))
        assert await client.get_stream_position(name) == 2


async def test_new_event_ids_make_appends_idempotent(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        events = new_events(2)
        position = await client.append_events(name, None, events)
        assert await client.append_events(name, None, events) == position
        assert len(await collect(client.read_stream_events(name))) == 2


async def test_stream_position_of_unknown_stream_is_none(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        assert await client.get_stream_position(stream()) is None


async def test_read_stream_arguments(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        await client.append_events(name, None, new_events(5))
        read = client.read_stream_events
        assert [e.stream_position for e in await collect(read(name, position=2))] == [2, 3, 4]
        backwards = await collect(read(name, backwards=True))
        assert [e.stream_position for e in backwards] == [4, 3, 2, 1, 0]
        assert [e.stream_position for e in await collect(read(name, limit=2))] == [0, 1]
        back_from_3 = await collect(read(name, position=3, backwards=True, limit=2))
        assert [e.stream_position for e in back_from_3] == [3, 2]
        assert [e.stream_position for e in await collect(read(name, position=10))] == []
        everything = await collect(read(name, timeout=5))
        assert [e.stream_position for e in everything] == [0, 1, 2, 3, 4]


async def test_reading_a_missing_stream_raises_stream_not_found_when_iterated(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        events = client.read_stream_events(stream())  # a generator: nothing happens yet
        with pytest.raises(StreamNotFound):
            await collect(events)


async def test_read_all_arguments(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        position = await client.append_events(name, None, new_events(3, "AllRead"))
        first = await client.read_stream_events(name).__anext__()
        start = first.commit_position
        read = client.read_all_events
        forwards = await collect(read(position=start))
        assert [e.type for e in forwards] == ["AllRead0", "AllRead1", "AllRead2"]  # inclusive
        backwards = await collect(read(position=position, backwards=True, limit=2))
        assert [e.type for e in backwards] == ["AllRead1", "AllRead0"]  # exclusive
        last = await collect(read(backwards=True, limit=1))
        assert last[0].commit_position == position
        assert len(await collect(read(position=start, limit=1))) == 1
        only = await collect(read(position=start, filter_include=["AllRead1"]))
        assert [e.type for e in only] == ["AllRead1"]
        without = await collect(
            read(position=start, filter_exclude=[ESDB_EVENTS_REGEX, "AllRead1"])
        )
        assert [e.type for e in without] == ["AllRead0", "AllRead2"]
        skipped = await collect(
            read(position=start, filter_exclude=[ESDB_EVENTS_REGEX, "AllRead0"], limit=1, timeout=5)
        )
        assert [e.type for e in skipped] == ["AllRead1"]
        assert await collect(read(position=start, timeout=5))


async def test_read_all_excludes_system_events_by_default(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        everything = await collect(client.read_all_events(filter_exclude=()))
        assert any(e.type.startswith("$") for e in everything)
        assert not any(e.type.startswith("$") for e in await collect(client.read_all_events()))


async def test_get_commit_position(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        position = await client.append_events(stream(), None, new_events(1))
        assert await client.get_commit_position() == position
        assert await client.get_commit_position(timeout=5) == position


async def test_subscription_catches_up_then_goes_live(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        start = await client.get_commit_position()
        name = stream()
        await client.append_events(name, None, new_events(3, "Sub"))
        subscription = await client.subscribe_all_events(position=start)
        received = []
        async for event in subscription:
            received.append(event)
            if len(received) == 3:
                break
        assert [e.type for e in received] == ["Sub0", "Sub1", "Sub2"]
        # Live: appended while the subscription is open, by the same caller (no helper).
        await client.append_events(name, 2, new_events(2, "Live"))
        live = [await subscription.__anext__(), await subscription.__anext__()]
        assert [e.type for e in live] == ["Live0", "Live1"]
        subscription.stop()


async def test_subscription_position_is_exclusive_and_filters_apply(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        position = await client.append_events(name, None, new_events(1, "Before"))
        await client.append_events(name, 0, new_events(2, "After"))
        async with await client.subscribe_all_events(
            position=position, filter_include=["After1"]
        ) as sub:
            assert (await sub.__anext__()).type == "After1"
        async with await client.subscribe_all_events(
            position=position, filter_exclude=[ESDB_EVENTS_REGEX, "After0"]
        ) as sub:
            assert (await sub.__anext__()).type == "After1"


async def test_subscription_from_the_start_sees_the_first_event(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        async with await client.subscribe_all_events() as subscription:
            first = await subscription.__anext__()
        everything = await collect(client.read_all_events(limit=1))
        assert first == everything[0]


async def test_subscription_timeout_is_a_deadline(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        position = await client.get_commit_position()
        subscription = await client.subscribe_all_events(position=position, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await subscription.__anext__()
        assert time.monotonic() - started < 5


async def test_deleting_a_subscription_cancels_it(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        position = await client.get_commit_position()
        subscription = await client.subscribe_all_events(position=position)
        state = subscription._call._call  # the transport's record of the call
        del subscription
        gc.collect()  # PyPy finalises on collection, CPython at once
        await client.append_events(stream(), None, new_events(1))  # the next wait reaps it
        assert state.status is not None


async def test_unreachable_server_is_service_unavailable() -> None:
    async with AsyncEsdbClient(uri="127.0.0.1:1") as client:
        with pytest.raises(ServiceUnavailable):
            await client.get_commit_position()


async def test_recorded_events_carry_ids_content_type_and_time(uri: str) -> None:
    async with AsyncEsdbClient(uri=uri) as client:
        name = stream()
        event = NewEvent(type="Typed", data=b"\x00binary", metadata=b"meta")
        await client.append_events(name, None, [event])
        (recorded,) = await collect(client.read_stream_events(name))
        assert isinstance(recorded, RecordedEvent)
        assert recorded.id == event.id
        assert recorded == event
        assert recorded.content_type == "application/json"
        assert recorded.recorded_at is not None
        assert abs(recorded.recorded_at.timestamp() - time.time()) < 60
