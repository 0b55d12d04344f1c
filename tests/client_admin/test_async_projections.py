"""Projection management through AsyncEventStoreDBClient against the embedded server with
its JavaScript engine (asyncio: the source of ``test_sync_projections.py``, made by
``scripts/unasync.py``): continuous, one-time and transient projections, partitioned
state, emit/linkTo, results, disable/enable with checkpoints, reset, abort, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    EmbeddedServer,
    NewEvent,
    ProjectionStatistics,
    RecordedEvent,
    StreamState,
)
from esdb_wire.client.aio_backend import async_sleep
from esdb_wire.exceptions import AlreadyExists, NotFound
from tests.peers import require_peer

STEP = 0.05
STEPS = 200  # 10 s

COUNTER = """fromStream('STREAM').when({
  $init: function(){ return {n: 0}; },
  Tick: function(s, e){ s.n += 1; }
}).outputState()"""


def counter(stream: str) -> str:
    """A query counting the ``Tick`` events of ``stream``."""
    return COUNTER.replace("STREAM", stream)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    require_peer("py_mini_racer")  # the `projections` extra
    with EmbeddedServer(run_projections="all") as running:
        yield running


def unique(prefix: str) -> str:
    return f"{prefix}{uuid4().hex[:12]}"


async def ticks(client: AsyncEventStoreDBClient, stream: str, count: int) -> None:
    events = [NewEvent("Tick", b"{}") for _ in range(count)]
    await client.append_to_stream(stream, current_version=StreamState.ANY, events=events)


async def statistics_when(
    client: AsyncEventStoreDBClient, name: str, ready: Callable[[ProjectionStatistics], bool]
) -> ProjectionStatistics:
    """The projection's statistics once ``ready`` says yes (or fail after 10 s)."""
    for _ in range(STEPS):
        stats = await client.get_projection_statistics(name)
        if ready(stats):
            return stats
        await async_sleep(STEP)
    raise AssertionError(f"{name}: not there yet: {stats}")


async def state_when(
    client: AsyncEventStoreDBClient, name: str, expected: Any, partition: str = ""
) -> None:
    """Wait until the projection's state (of ``partition``) is ``expected``."""
    for _ in range(STEPS):
        state = await client.get_projection_state(name, partition)
        if state.value == expected:
            return
        await async_sleep(STEP)
    raise AssertionError(f"{name}/{partition}: state {state.value!r}, not {expected!r}")


async def events_when(
    client: AsyncEventStoreDBClient, stream: str, count: int, *, resolve_links: bool = False
) -> tuple[RecordedEvent, ...]:
    """The stream's events once it has ``count`` of them."""
    found: tuple[RecordedEvent, ...] = ()
    for _ in range(STEPS):
        try:
            found = await client.get_stream(stream, resolve_links=resolve_links)
        except NotFound:
            found = ()
        if len(found) >= count:
            return found
        await async_sleep(STEP)
    raise AssertionError(f"{stream}: {len(found)} events, not {count}")


async def test_a_continuous_projection_round_trip(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name, stream = unique("count-"), unique("ticks-")
        await ticks(client, stream, 3)
        await client.create_projection(name=name, query=counter(stream))
        await state_when(client, name, {"n": 3.0})
        assert (await client.get_projection_result(name)).value == {"n": 3.0}
        stats = await client.get_projection_statistics(name=name)  # esdbclient's keyword
        assert (stats.name, stats.effective_name, stats.mode) == (name, name, "Continuous")
        assert stats.status == "Running"
        assert stats.events_processed_after_restart == 3
        assert stats.progress == 100.0
        with pytest.raises(AlreadyExists):
            await client.create_projection(name=name, query=counter(stream))

        everything = await client.list_all_projection_statistics()
        continuous = await client.list_continuous_projection_statistics()
        standard = {"$streams", "$by_category", "$by_event_type", "$stream_by_category"}
        assert standard | {name} <= {s.name for s in everything}
        assert standard | {name} <= {s.name for s in continuous}
        assert {s.mode for s in continuous} == {"Continuous"}

        # A new query: the projection restarts from its checkpoint with it.
        await client.update_projection(
            name, query=counter(stream).replace("s.n += 1", "s.n += 10"), emit_enabled=None
        )
        stats = await statistics_when(client, name, lambda s: s.version == 1)
        await ticks(client, stream, 1)
        await state_when(client, name, {"n": 13.0})

        await client.disable_projection(name)
        await client.delete_projection(
            name, delete_state_stream=True, delete_checkpoint_stream=True
        )
        with pytest.raises(NotFound):
            await client.get_projection_statistics(name)
        assert name not in {s.name for s in await client.list_all_projection_statistics()}


async def test_partitioned_state_and_result(server: EmbeddedServer) -> None:
    category = unique("shop")
    query = """fromCategory('CATEGORY')
      .partitionBy(function(e){ return e.body.region; })
      .when({
        $init: function(){ return {qty: 0}; },
        Sold: function(s, e){ s.qty += e.body.qty; }
      })
      .transformBy(function(s){ return {doubled: s.qty * 2}; })""".replace("CATEGORY", category)
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name = unique("regions-")
        await client.create_projection(name=name, query=query)
        for stream, region, qty in [("1", "eu", 2), ("2", "us", 5), ("1", "eu", 1)]:
            event = NewEvent("Sold", json.dumps({"region": region, "qty": qty}).encode())
            await client.append_to_stream(
                f"{category}-{stream}", current_version=StreamState.ANY, events=event
            )
        await state_when(client, name, {"qty": 3.0}, "eu")
        await state_when(client, name, {"qty": 5.0}, "us")
        assert (await client.get_projection_result(name, "eu")).value == {"doubled": 6.0}
        assert (await client.get_projection_result(name, partition="us")).value == {"doubled": 10.0}
        stats = await client.get_projection_statistics(name)
        assert stats.events_processed_after_restart == 3
        await client.abort_projection(name)


async def test_emit_and_link_to_then_delete_the_emitted_streams(server: EmbeddedServer) -> None:
    orders = unique("orders-")
    audit, linked = f"audit-{orders}", f"linked-{orders}"
    query = (
        """fromStream('ORDERS').when({
          Placed: function(s, e){
            emit('AUDIT', 'Seen', {id: e.body.id});
            linkTo('LINKED', e);
          }
        })""".replace("ORDERS", orders)
        .replace("AUDIT", audit)
        .replace("LINKED", linked)
    )
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name = unique("mirror-")
        await client.create_projection(
            name=name, query=query, emit_enabled=True, track_emitted_streams=True
        )
        await client.append_to_stream(
            orders, current_version=StreamState.NO_STREAM, events=NewEvent("Placed", b'{"id": 7}')
        )
        (seen,) = await events_when(client, audit, 1)
        assert (seen.type, json.loads(seen.data)) == ("Seen", {"id": 7})
        (placed,) = await events_when(client, linked, 1, resolve_links=True)
        assert (placed.type, placed.stream_name) == ("Placed", orders)
        assert placed.link is not None
        assert (placed.link.type, placed.link.stream_name) == ("$>", linked)

        await client.disable_projection(name)
        await client.delete_projection(
            name,
            delete_emitted_streams=True,
            delete_state_stream=True,
            delete_checkpoint_stream=True,
        )
        for _ in range(STEPS):
            versions = {await client.get_current_version(s) for s in (audit, linked)}
            if versions == {StreamState.NO_STREAM}:
                break
            await async_sleep(STEP)
        assert versions == {StreamState.NO_STREAM}


async def test_emitting_without_emit_enabled_faults_the_projection(
    server: EmbeddedServer,
) -> None:
    stream = unique("noisy-")
    query = "fromStream('STREAM').when({$any: function(s, e){ emit('x', 'T', {}); }})"
    query = query.replace("STREAM", stream)
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name = unique("noisy-")
        await client.create_projection(name=name, query=query)
        await ticks(client, stream, 1)
        stats = await statistics_when(client, name, lambda s: s.status.startswith("Faulted"))
        assert stats.state_reason == "'emit' is not allowed by the projection/configuration/mode"


async def test_a_one_time_projection_writes_its_result(server: EmbeddedServer) -> None:
    stream = unique("pay-")
    query = """fromStream('STREAM').when({
      $init: function(){ return {total: 0}; },
      Paid: function(s, e){ s.total += e.body.amount; }
    }).transformBy(function(s){ return {total: s.total, currency: 'EUR'}; })""".replace(
        "STREAM", stream
    )
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        paid = [NewEvent("Paid", b'{"amount": 3}'), NewEvent("Paid", b'{"amount": 4}')]
        await client.append_to_stream(stream, current_version=StreamState.ANY, events=paid)
        before = {s.name for s in await client.list_all_projection_statistics()}
        await client.create_one_time_projection(query=query)
        (created,) = [
            s for s in await client.list_all_projection_statistics() if s.name not in before
        ]
        assert created.mode == "OneTime"
        stats = await statistics_when(client, created.name, lambda s: s.status.startswith("Comp"))
        assert stats.status == "Completed/Stopped/Writing results"
        assert stats.events_processed_after_restart == 2
        result = await client.get_projection_result(created.name)
        assert result.value == {"total": 7.0, "currency": "EUR"}
        assert (await client.get_projection_state(created.name)).value == {"total": 7.0}
        continuous = await client.list_continuous_projection_statistics()
        assert created.name not in {s.name for s in continuous}


async def test_disable_and_enable_with_checkpoints_then_reset_and_abort(
    server: EmbeddedServer,
) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name, stream = unique("ticker-"), unique("ticks-")
        await client.create_projection(name=name, query=counter(stream))
        await ticks(client, stream, 3)
        await state_when(client, name, {"n": 3.0})

        await client.disable_projection(name)  # with a checkpoint
        stats = await client.get_projection_statistics(name)
        assert (stats.status, stats.last_checkpoint) == ("Stopped", f"{stream}: 2")
        checkpoints = await client.get_stream(f"$projections-{name}-checkpoint")
        assert checkpoints[-1].type == "$ProjectionCheckpoint"
        assert json.loads(checkpoints[-1].data)[0] == {"n": 3}

        await ticks(client, stream, 1)  # while disabled
        await async_sleep(0.2)
        assert (await client.get_projection_state(name)).value == {"n": 3.0}
        await client.enable_projection(name)  # on from the checkpoint: one more event
        stats = await statistics_when(client, name, lambda s: s.events_processed_after_restart > 0)
        assert stats.status == "Running"
        await state_when(client, name, {"n": 4.0})

        epoch = (await client.get_projection_statistics(name)).epoch
        await client.reset_projection(name)  # a new epoch, from the first event again
        stats = await statistics_when(
            client, name, lambda s: s.epoch > epoch and s.events_processed_after_restart == 4
        )
        await state_when(client, name, {"n": 4.0})

        await client.abort_projection(name)  # no checkpoint
        stats = await client.get_projection_statistics(name)
        assert stats.status == "Aborted/Stopped"
        await client.enable_projection(name)
        await statistics_when(client, name, lambda s: s.status == "Running")
        await state_when(client, name, {"n": 4.0})


async def test_a_transient_projection(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name, stream = unique("transient-"), unique("ticks-")
        await ticks(client, stream, 2)
        await client.create_transient_projection(name=name, query=counter(stream))
        await state_when(client, name, {"n": 2.0})
        stats = await client.get_projection_statistics(name)
        assert stats.mode == "Transient"
        assert name in {s.name for s in await client.list_all_projection_statistics()}
        assert name not in {s.name for s in await client.list_continuous_projection_statistics()}
        await client.abort_projection(name)


async def test_the_standard_projections_are_managed(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        stats = await client.get_projection_statistics("$by_event_type")
        assert (stats.name, stats.mode, stats.status) == ("$by_event_type", "Continuous", "Running")
        state = await client.get_projection_state("$by_event_type")
        assert isinstance(state.value, dict)


async def test_missing_projections_and_bad_arguments(server: EmbeddedServer) -> None:
    missing = unique("missing-")
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        with pytest.raises(NotFound):
            await client.get_projection_statistics(missing)
        with pytest.raises(NotFound):
            await client.get_projection_state(missing)
        with pytest.raises(NotFound):
            await client.get_projection_result(missing, "p")
        with pytest.raises(NotFound):
            await client.enable_projection(missing)
        with pytest.raises(NotFound):
            await client.disable_projection(missing)
        with pytest.raises(NotFound):
            await client.reset_projection(missing)
        with pytest.raises(NotFound):
            await client.update_projection(missing, query="fromAll()")
        with pytest.raises(NotFound):
            await client.delete_projection(missing)
        with pytest.raises(ValueError, match="engine version 2"):
            await client.create_projection(
                name=missing,
                query="fromAll()",
                engine_version="v2",
                emit_enabled=True,
                track_emitted_streams=True,
            )
        with pytest.raises(ValueError, match="hint: use 'v1' or 'v2'"):
            await client.create_projection(
                name=missing,
                query="fromAll()",
                engine_version="v3",  # type: ignore[arg-type]
            )


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    """A server of the test's own (restarting the subsystem stops every projection)."""
    require_peer("py_mini_racer")
    with EmbeddedServer(run_projections="all") as running:
        yield running


async def test_restart_the_projections_subsystem(own_server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(own_server.esdb_uri) as client:
        name, stream = unique("survivor-"), unique("ticks-")
        await ticks(client, stream, 2)
        await client.create_projection(name=name, query=counter(stream))
        await state_when(client, name, {"n": 2.0})
        await client.restart_projections_subsystem()
        await ticks(client, stream, 1)
        await state_when(client, name, {"n": 3.0})
        stats = await statistics_when(client, name, lambda s: s.status == "Running")
        assert stats.name == name
