"""The projections subsystem driven directly (no network): the projection language on
the JavaScript engine, partitions, emitted events and links, one-time results, reset,
disable/enable with checkpoints, limits, and the standard projections as managed ones."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from esdb_wire.server.projections import jsruntime
from esdb_wire.server.projections import manager as manager_module
from esdb_wire.server.projections.managed import ManagedState, Mode
from esdb_wire.server.projections.manager import ProjectionError, ProjectionManager
from esdb_wire.server.records import ANY, ProposedEvent, Record
from esdb_wire.server.store import EventStore
from tests.peers import require_peer
from tests.server.helpers import event

T = TypeVar("T")


@pytest.fixture(autouse=True)
def engine() -> None:
    require_peer("py_mini_racer")


def scenario(body: Callable[[EventStore, ProjectionManager], Awaitable[T]], **kwargs: Any) -> T:
    """Run ``body`` with a store and a started manager (standard projections off)."""

    async def main() -> T:
        store = EventStore()
        kwargs.setdefault("start_standard", False)
        projections = ProjectionManager(store, lag=0.0, **kwargs)
        await projections.start()
        try:
            return await asyncio.wait_for(body(store, projections), 60)
        finally:
            await projections.close()

    return asyncio.run(main())


async def until(check: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def json_event(event_type: str, data: dict[str, Any], metadata: bytes = b"") -> ProposedEvent:
    return event(event_type, json.dumps(data).encode(), custom_metadata=metadata)


def stream(store: EventStore, name: str) -> list[Record]:
    found = store.read_stream(name, 0, 100_000)
    return [] if found is None else found.records


def processed(projections: ProjectionManager, name: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        (stats,) = projections.statistics(name)
        return bool(stats["eventsProcessedAfterRestart"] >= count)

    return check


def test_partitioned_state_by_partition_function_and_by_stream() -> None:
    query = """fromCategory('shop').partitionBy(function(e){ return e.body.region; })
    .when({$init: function(){ return {n: 0}; }, Sold: function(s, e){ s.n += e.body.qty; }})"""
    per_stream = """fromAll().foreachStream().when({$init: function(){ return {c: 0}; },
    $any: function(s, e){ s.c++; }})"""

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("regions", query, Mode.Continuous)
        await projections.create("streams", per_stream, Mode.Continuous)
        store.append("shop-1", ANY, [json_event("Sold", {"region": "eu", "qty": 2})])
        store.append("shop-2", ANY, [json_event("Sold", {"region": "us", "qty": 5})])
        store.append("shop-1", ANY, [json_event("Sold", {"region": "eu", "qty": 1})])
        await until(processed(projections, "regions", 3))
        assert json.loads(await projections.state("regions", "eu")) == {"n": 3}
        assert json.loads(await projections.state("regions", "us")) == {"n": 5}
        assert await projections.state("regions", "") == ""
        await until(processed(projections, "streams", 3))
        assert json.loads(await projections.state("streams", "shop-1")) == {"c": 2}

    # fromCategory reads $ce-shop: the standard projections must run.
    scenario(body, start_standard=True)


def test_emit_and_link_to_with_their_metadata() -> None:
    query = """fromStream('orders').when({
      Placed: function(s, e){
        emit('audit', 'Seen', {id: e.body.id}, {who: 'me'});
        linkTo('linked', e);
      }})"""

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("mirror", query, Mode.Continuous, emit_enabled=True)
        placed = json_event("Placed", {"id": 7}, metadata=b'{"$correlationId":"c-1"}')
        store.append("orders", ANY, [placed])
        await until(lambda: len(stream(store, "linked")) == 1)
        (seen,) = stream(store, "audit")
        assert (seen.event_type, json.loads(seen.data), seen.is_json) == ("Seen", {"id": 7}, True)
        metadata = json.loads(seen.custom_metadata)
        assert metadata["$s"] == {"orders": 0}
        assert metadata["who"] == "me"
        assert metadata["$causedBy"] == str(placed.event_id)
        assert metadata["$correlationId"] == "c-1"
        assert metadata["$v"].endswith(":-1:0:4")
        (link,) = stream(store, "linked")
        assert (link.event_type, link.data, link.is_json) == ("$>", b"0@orders", False)
        assert json.loads(stream(store, "$$audit")[-1].data) == {"$acl": {}}

    scenario(body)


def test_emit_without_emit_enabled_faults() -> None:
    query = "fromAll().when({$any: function(s, e){ emit('x', 'T', {}); }})"

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("noisy", query, Mode.Continuous)
        store.append("s-1", ANY, [json_event("A", {})])
        await until(lambda: projections.projections["noisy"].state == ManagedState.Faulted)
        (stats,) = projections.statistics("noisy")
        assert stats["stateReason"] == "'emit' is not allowed by the projection/configuration/mode"
        assert stats["status"] == "Faulted (Enabled)"

    scenario(body)


def test_one_time_projection_writes_its_result_then_eof() -> None:
    query = """fromAll().when({$init: function(){ return {total: 0}; },
    Paid: function(s, e){ s.total += e.body.amount; }})"""

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        store.append("pay-1", ANY, [json_event("Paid", {"amount": 3})])
        store.append("pay-2", ANY, [json_event("Paid", {"amount": 4}), json_event("Other", {})])
        name = await projections.create("", query, Mode.OneTime)
        await until(lambda: projections.projections[name].state == ManagedState.Completed)
        (stats,) = projections.statistics(name)
        assert stats["status"] == "Completed/Stopped/Writing results"
        assert stats["mode"] == "OneTime"
        assert stats["eventsProcessedAfterRestart"] == 2
        results = stream(store, f"$projections-{name}-result")
        assert [r.event_type for r in results] == ["Result", "$Eof"]
        assert json.loads(results[0].data) == {"total": 7}
        assert json.loads(await projections.state(name, "")) == {"total": 7}
        assert json.loads(await projections.state(name, "", result=True)) == {"total": 7}

    scenario(body)


def test_disable_enable_and_reset_with_checkpoints() -> None:
    query = """fromStream('ticks').when({$init: function(){ return {n: 0}; },
    Tick: function(s, e){ s.n++; }}).outputState()"""

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("ticker", query, Mode.Continuous)
        store.append("ticks", ANY, [json_event("Tick", {}) for _ in range(3)])
        await until(processed(projections, "ticker", 3))
        await projections.disable("ticker", write_checkpoint=True)
        (stats,) = projections.statistics("ticker")
        assert (stats["status"], stats["lastCheckpoint"]) == ("Stopped", "ticks: 2")
        (checkpoint,) = stream(store, "$projections-ticker-checkpoint")
        assert checkpoint.event_type == "$ProjectionCheckpoint"
        assert json.loads(checkpoint.data) == [{"n": 3}, {"n": 3}]
        assert json.loads(await projections.state("ticker", "")) == {"n": 3}

        store.append("ticks", ANY, [json_event("Tick", {})])
        await projections.enable("ticker")  # continues after the checkpoint
        await until(processed(projections, "ticker", 1))
        assert json.loads(await projections.state("ticker", "")) == {"n": 4}

        await projections.reset("ticker")  # a new epoch: from the start again
        await until(processed(projections, "ticker", 4))
        assert json.loads(await projections.state("ticker", "")) == {"n": 4}
        results = stream(store, "$projections-ticker-result")
        assert [json.loads(r.data)["n"] for r in results] == [1, 2, 3, 4]  # older epoch hidden

        await projections.disable("ticker", write_checkpoint=False)  # abort
        (stats,) = projections.statistics("ticker")
        assert stats["status"] == "Aborted/Stopped"

    scenario(body)


def test_a_runaway_query_faults_without_freezing_the_loop() -> None:
    query = "fromAll().when({$any: function(s, e){ while (true) {} }})"

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("spin", query, Mode.Continuous)
        store.append("s-1", ANY, [json_event("A", {})])
        ticks = 0
        while projections.projections["spin"].state != ManagedState.Faulted:
            ticks += 1  # the loop keeps turning while the query spins
            await asyncio.sleep(0.01)
        assert ticks > 10
        (stats,) = projections.statistics("spin")
        assert stats["stateReason"].startswith("Projection script took too long to execute")

    scenario(body)


def test_a_query_that_does_not_compile_faults_and_says_why() -> None:
    async def body(store: EventStore, projections: ProjectionManager) -> None:
        await projections.create("bad", "fromAll().when({}).partitionBy()", Mode.Continuous)
        (stats,) = projections.statistics("bad")
        assert stats["status"] == "Faulted"
        assert "partitionBy is not a function" in stats["stateReason"]
        with pytest.raises(ProjectionError) as refused:
            await projections.create("bad", "fromAll()", Mode.Continuous)
        assert refused.value.kind == "Conflict"

    scenario(body)


def test_without_the_engine_custom_projections_name_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manager_module, "engine_available", lambda: False)

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        with pytest.raises(jsruntime.EngineMissing, match=r"pip install esdb-wire\[projections\]"):
            await projections.create("x", "fromAll()", Mode.Continuous)
        assert len(projections.statistics()) == 5  # the standard ones need no engine

    scenario(body)


def test_standard_projections_are_managed() -> None:
    async def body(store: EventStore, projections: ProjectionManager) -> None:
        names = [s["name"] for s in projections.statistics()]
        assert names == [
            "$streams",
            "$stream_by_category",
            "$by_category",
            "$by_event_type",
            "$by_correlation_id",
        ]
        assert {s["status"] for s in projections.statistics()} == {"Running"}
        store.append("order-1", ANY, [event("Created", custom_metadata=b'{"$correlationId":"k"}')])
        projections.catch_up_native()
        assert [r.data for r in stream(store, "$ce-order")] == [b"0@order-1"]
        assert [r.data for r in stream(store, "$bc-k")] == [b"0@order-1"]
        await projections.disable("$by_category", write_checkpoint=True)
        store.append("order-2", ANY, [event("Created")])
        projections.catch_up_native()
        assert len(stream(store, "$ce-order")) == 1
        await projections.enable("$by_category")
        projections.catch_up_native()
        assert [r.data for r in stream(store, "$ce-order")] == [b"0@order-1", b"0@order-2"]
        with pytest.raises(ProjectionError) as refused:
            await projections.delete(
                "$streams",
                delete_emitted_streams=False,
                delete_state_stream=False,
                delete_checkpoint_stream=False,
            )
        assert refused.value.kind == "OperationFailed"
        registered = stream(store, "$projections-$all")
        assert [r.event_type for r in registered][:2] == [
            "$ProjectionsInitialized",
            "$ProjectionCreated",
        ]

    scenario(body, start_standard=True)


def test_a_counting_projection_over_100_000_events() -> None:
    query = """fromAll().when({$init: function(){ return {count: 0}; },
    $any: function(s, e){ s.count += 1; }})"""

    async def body(store: EventStore, projections: ProjectionManager) -> None:
        for start in range(0, 100_000, 1000):
            store.append(f"bulk-{start}", ANY, [event("E", b"{}") for _ in range(1000)])
        await projections.create("count", query, Mode.Continuous)
        await until(processed(projections, "count", 100_000), timeout=50)
        assert json.loads(await projections.state("count", "")) == {"count": 100_000}
        # A checkpoint every 4,000 events; the stream keeps the last two ($maxCount 2).
        assert store.last_revision("$projections-count-checkpoint") == 100_000 // 4000 - 1
        last = stream(store, "$projections-count-checkpoint")[-1]
        assert json.loads(last.data)[0] == {"count": 100_000}

    scenario(body)
