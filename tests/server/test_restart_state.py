"""Users and projections read back from the store by a new subsystem, as when a server
starts again on its journal (no network: the durable end-to-end test is
tests/embedded/test_durable.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from esdb_wire.server.projections.managed import ManagedState, Mode
from esdb_wire.server.projections.manager import ProjectionManager
from esdb_wire.server.projections.names import STANDARD_NAMES
from esdb_wire.server.records import ANY, Record
from esdb_wire.server.store import EventStore
from esdb_wire.server.users import UserDirectory
from tests.peers import require_peer
from tests.server.helpers import event

COUNTER = """fromCategory('shop').when({
  $init: function () { return {count: 0}; },
  Sold: function (state, e) { state.count += 1; emit('sales', 'Counted', {n: state.count}); }
})"""


def test_users_come_back_with_their_passwords_and_state() -> None:
    store = EventStore()
    first = UserDirectory(store)
    first.seed({"admin": ("changeit", ["$admins"])})
    first.create("carol", "Carol C", ["devs"], "carols-password")
    first.create("dave", "", [], "daves-password")
    first.set_disabled("dave", True)
    first.create("erin", "", [], "erins-password")
    first.delete("erin")

    again = UserDirectory(store)
    again.load()
    again.seed({"admin": ("a-new-password", ["$admins"])})
    assert [user.login_name for user in again.all()] == ["admin", "carol", "dave"]
    carol = again.verify("carol", "carols-password")
    assert carol is not None
    assert carol.groups == ("devs",)
    assert again.details("carol").full_name == "Carol C"
    assert again.verify("dave", "daves-password") is None  # still disabled
    # A stored user keeps its password, as on a node; the configured one is for reset().
    assert again.verify("admin", "changeit") is not None
    assert again.verify("admin", "a-new-password") is None
    again.reset()
    assert [user.login_name for user in again.all()] == ["admin"]
    assert again.verify("admin", "a-new-password") is not None


async def _until(check: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _stream(store: EventStore, name: str) -> list[Record]:
    found = store.read_stream(name, 0, 100_000)
    return [] if found is None else found.records


def _processed(manager: ProjectionManager, name: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        (stats,) = manager.statistics(name)
        return bool(stats["eventsProcessedAfterRestart"] >= count)

    return check


@pytest.mark.parametrize("checkpointed", [True, False])
def test_projections_come_back_registered_and_resume_from_their_checkpoints(
    checkpointed: bool,
) -> None:
    """Stopped cleanly, each projection checkpoints and resumes there; killed (no
    checkpoint), it runs again from the start, and what it emitted before is not
    emitted twice: neither the counter's events nor the standard projections' links."""
    require_peer("py_mini_racer")

    async def main() -> None:
        store = EventStore()
        first = ProjectionManager(store, lag=0.0)
        await first.start()
        await first.create("counter", COUNTER, Mode.Continuous, emit_enabled=True)
        await first.create("stopped", "fromAll().when({})", Mode.Continuous)
        await first.disable("stopped", write_checkpoint=True)
        for number in range(3):
            store.append(f"shop-{number}", ANY, [event("Sold", b"{}")])
        await _until(lambda: len(_stream(store, "sales")) == 3)
        links = len(_stream(store, "$ce-shop"))
        await first.close(write_checkpoints=checkpointed)

        second = ProjectionManager(store, lag=0.0, start_standard=False)
        await second.start()
        try:
            names = [stats["name"] for stats in second.statistics()]
            assert names == [*STANDARD_NAMES, "counter", "stopped"]
            assert second.projections["stopped"].state == ManagedState.Stopped
            assert second.projections["counter"].state == ManagedState.Running
            # The standard projections were started before: they run again (the
            # persisted state wins over start_standard), from their checkpoints.
            assert second.projections["$by_category"].state == ManagedState.Running
            await _until(lambda: len(_stream(store, "$ce-shop")) == links)
            assert json.loads(await second.state("counter", "")) == {"count": 3}
            (stats,) = second.statistics("counter")
            store.append("shop-9", ANY, [event("Sold", b"{}")])
            await _until(_processed(second, "counter", stats["eventsProcessedAfterRestart"] + 1))
            assert json.loads(await second.state("counter", "")) == {"count": 4}
            assert [json.loads(r.data)["n"] for r in _stream(store, "sales")] == [1, 2, 3, 4]
            await _until(lambda: len(_stream(store, "$ce-shop")) == links + 1)
        finally:
            await second.close()

    asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("registered", [False, True])
def test_a_store_without_projections_registers_the_standard_ones(registered: bool) -> None:
    async def main() -> list[str]:
        store = EventStore()
        if registered:
            await ProjectionManager(store, start_standard=False).start()
        manager = ProjectionManager(store, start_standard=False)
        await manager.start()
        try:
            return [str(stats["name"]) for stats in manager.statistics()]
        finally:
            await manager.close()

    names = asyncio.run(main())
    assert len(names) == 5
    assert names[0] == "$streams"
