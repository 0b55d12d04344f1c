"""``python -m benchmarks.suite.seed --port P --events N --big-events M --payload S``.

Seeds the server once per suite run, outside every timed region, with esdb_wire's
blocking client and large Append batches: a marker event (its commit position is where
the catch-up subscription starts), the read stream of N events, then the big stream of
M events. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import HOST, arm_watchdog
from benchmarks.suite.config import EVENT_TYPE
from benchmarks.suite.measure import event_data
from esdb_wire import EsdbClient, NewEvent

READ_STREAM = "bench-read"
BIG_STREAM = "bench-big"
MARKER_STREAM = "bench-marker"
# Keeps every Append request under the server's default 1 MiB limit.
APPEND_BYTES = 900_000


def fill(client: EsdbClient, stream: str, count: int, size: int) -> float:
    started = time.perf_counter()
    batch = max(1, APPEND_BYTES // (size + 120))
    for first in range(0, count, batch):
        events = [
            NewEvent(EVENT_TYPE, event_data(index, size))
            for index in range(first, min(count, first + batch))
        ]
        client.append_events(stream, first - 1 if first else None, events)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite.seed")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--big-events", type=int, required=True)
    parser.add_argument("--payload", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    arm_watchdog(args.timeout)
    with EsdbClient(f"{HOST}:{args.port}") as client:
        marker = client.append_events(MARKER_STREAM, None, [NewEvent("BenchMarker", b"{}")])
        read_seconds = fill(client, READ_STREAM, args.events, args.payload)
        big_seconds = fill(client, BIG_STREAM, args.big_events, args.payload)
    document = {
        "catchup_from": marker,
        "read_stream": READ_STREAM,
        "read_events": args.events,
        "read_seed_seconds": read_seconds,
        "big_stream": BIG_STREAM,
        "big_events": args.big_events,
        "big_seed_seconds": big_seconds,
        "payload": args.payload,
    }
    print(json.dumps(document), flush=True)


if __name__ == "__main__":
    main()
