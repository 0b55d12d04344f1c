"""Events per second through a counting projection (issue 16).

``python -m benchmarks.projections [--events N] [--runs R]``: appends N events (100,000
by default) to an in-memory store in streams of 1,000, then creates a continuous
``fromAll`` projection whose ``$any`` handler counts them, and times it from creation to
its statistics showing N events processed (the JavaScript runs on the engine's worker
thread, checkpoints every 4,000 events are included). Prints one line per run and the
best. Needs the ``projections`` extra (mini-racer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from esdb_wire.server.projections.jsruntime import engine_version
from esdb_wire.server.projections.managed import Mode
from esdb_wire.server.projections.manager import ProjectionManager
from esdb_wire.server.records import ANY, ProposedEvent
from esdb_wire.server.store import EventStore

QUERY = """fromAll().when({
  $init: function () { return { count: 0 }; },
  $any: function (state, event) { state.count += 1; }
})"""


async def one_run(events: int) -> float:
    """Seconds for a counting projection to process ``events`` events."""
    store = EventStore()
    body = json.dumps({"amount": 1, "note": "benchmark"}).encode()
    for start in range(0, events, 1000):
        batch = [
            ProposedEvent(uuid.uuid4(), "Counted", True, body, b"")
            for _ in range(min(1000, events - start))
        ]
        store.append(f"bench-{start}", ANY, batch)
    manager = ProjectionManager(store, start_standard=False, lag=0.0)
    await manager.start()
    try:
        started = time.perf_counter()
        await manager.create("counter", QUERY, Mode.Continuous)
        while True:
            (stats,) = manager.statistics("counter")
            if stats["eventsProcessedAfterRestart"] >= events:
                break
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        state = json.loads(await manager.state("counter", ""))
        assert state == {"count": events}, state
        return elapsed
    finally:
        await manager.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projections")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"counting projection over {args.events:,} events ({engine_version()})")
    best = float("inf")
    for run in range(1, args.runs + 1):
        elapsed = asyncio.run(one_run(args.events))
        best = min(best, elapsed)
        print(f"run {run}: {elapsed:.3f} s, {args.events / elapsed:,.0f} events/s")
    print(f"best: {args.events / best:,.0f} events/s")


if __name__ == "__main__":
    main()
