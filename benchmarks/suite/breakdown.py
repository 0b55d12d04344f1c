"""Framing overhead of esdb_wire's blocking client, per streamed event, layer by layer.

``python -m benchmarks.suite.breakdown --port P --stream S --events N`` reads the stream
three times in this process: a warm-up, a plain (uninstrumented) read, and an instrumented
read in which the layers are wrapped (class or module attributes replaced, for this
measurement only) with ``perf_counter_ns`` timers:

* socket reads: ``_Link._recv`` (the ``recv`` calls); waiting: ``_Link._read`` minus them;
* HTTP/2 frame handling: ``ClientHttp2Connection.receive_data`` (frame parsing, stream
  state and flow-control accounting, header blocks, event objects);
* gRPC glue: ``ClientConnection.receive_data`` minus HTTP/2 and deframing (event dispatch,
  per-call message queues);
* gRPC deframing: ``MessageDecoder.feed``;
* protobuf decode: ``ReadResp.FromString`` (upb parses eagerly; Python objects for
  sub-messages are created lazily, on access, so that part lands in the next layer);
* object construction: ``read_item`` (field access, ``RecordedEvent``);
* the rest of the driver: locks, the wait loop, ``take_message``, WINDOW_UPDATE writes, the
  generator: the instrumented wall time minus all of the above.

The floor is ``ReadResp.FromString`` over the very message bytes captured in the
instrumented read, in a tight loop. Timers cost something: the cost of one wrapped call
is calibrated on a no-op and reported, with the instrumented run's total next to the
plain run's. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any, Callable

import esdb_wire.client.sync as client_sync
from benchmarks.common import HOST, arm_watchdog
from esdb_wire import EsdbClient
from esdb_wire.codec.responses import read_item
from esdb_wire.protos import streams_pb2
from esdb_wire.transport import blocking, connection, framing
from esdb_wire.transport.http2 import client as http2_client

_clock = time.perf_counter_ns


class Account:
    __slots__ = ("calls", "nanoseconds")

    def __init__(self) -> None:
        self.nanoseconds = 0
        self.calls = 0


def timed(function: Callable[..., Any], account: Account) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _clock()
        try:
            return function(*args, **kwargs)
        finally:
            account.nanoseconds += _clock() - started
            account.calls += 1

    return wrapper


def capturing(
    function: Callable[[bytes], Any], account: Account, into: list[bytes]
) -> Callable[[bytes], Any]:
    """:func:`timed` that also keeps every message it is given (for the floor)."""
    keep = into.append

    def wrapper(data: bytes) -> Any:
        keep(data)
        started = _clock()
        try:
            return function(data)
        finally:
            account.nanoseconds += _clock() - started
            account.calls += 1

    return wrapper


# (account, owner, attribute): the layers, outermost first.
LAYERS: tuple[tuple[str, Any, str], ...] = (
    ("socket_read", blocking._Link, "_read"),
    ("socket_recv", blocking._Link, "_recv"),
    ("core_receive", connection.ClientConnection, "receive_data"),
    ("http2", http2_client.ClientHttp2Connection, "receive_data"),
    ("deframe", framing.MessageDecoder, "feed"),
    ("objects", client_sync, "read_item"),
)
PARSE = ("protobuf", client_sync, "_parse_read")


class Instrumented:
    """The wrapped layers while in a ``with`` block; originals restored after."""

    def __init__(self) -> None:
        self.accounts = {name: Account() for name, _, _ in (*LAYERS, PARSE)}
        self.captured: list[bytes] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Instrumented:
        for name, owner, attribute in LAYERS:
            original = getattr(owner, attribute)
            self._saved.append((owner, attribute, original))
            setattr(owner, attribute, timed(original, self.accounts[name]))
        name, owner, attribute = PARSE
        original = getattr(owner, attribute)
        self._saved.append((owner, attribute, original))
        setattr(owner, attribute, capturing(original, self.accounts[name], self.captured))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for owner, attribute, original in reversed(self._saved):
            setattr(owner, attribute, original)
        self._saved.clear()


def consume(events: Iterator[Any]) -> int:
    count = 0
    for _ in events:
        count += 1
    return count


def timed_read(client: EsdbClient, stream: str) -> dict[str, float]:
    cpu = time.process_time()
    wall = time.perf_counter()
    count = consume(client.read_stream_events(stream))
    return {
        "events": count,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }


def wrapper_cost(calls: int = 200_000) -> float:
    """Seconds one :func:`timed` wrapper adds to a call (calibrated on a no-op)."""

    def noop(value: int) -> int:
        return value

    wrapped = timed(noop, Account())
    best_plain = best_wrapped = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for value in range(calls):
            noop(value)
        best_plain = min(best_plain, time.perf_counter() - started)
        started = time.perf_counter()
        for value in range(calls):
            wrapped(value)
        best_wrapped = min(best_wrapped, time.perf_counter() - started)
    return max(0.0, best_wrapped - best_plain) / calls


def floors(messages: list[bytes], rounds: int = 3) -> dict[str, float]:
    """Seconds per message: FromString alone, and FromString + read_item (best of rounds)."""
    parse = streams_pb2.ReadResp.FromString
    best_parse = best_both = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for message in messages:
            parse(message)
        best_parse = min(best_parse, time.perf_counter() - started)
        started = time.perf_counter()
        for message in messages:
            read_item(parse(message))
        best_both = min(best_both, time.perf_counter() - started)
    count = max(1, len(messages))
    return {"protobuf_s": best_parse / count, "protobuf_objects_s": best_both / count}


def breakdown(port: int, stream: str, warmup: int) -> dict[str, Any]:
    with EsdbClient(f"{HOST}:{port}") as client:
        consume(client.read_stream_events(stream, limit=warmup))
        plain = timed_read(client, stream)
        with Instrumented() as probe:
            instrumented = timed_read(client, stream)
    events = int(instrumented["events"])
    ns = {name: account.nanoseconds / 1e9 for name, account in probe.accounts.items()}
    calls = {name: account.calls for name, account in probe.accounts.items()}
    layers_s = {
        "socket reads (recv)": ns["socket_recv"],
        "waiting for data (select; idle, not CPU)": ns["socket_read"] - ns["socket_recv"],
        "HTTP/2 frame handling": ns["http2"],
        "gRPC glue (dispatch, queues)": ns["core_receive"] - ns["http2"] - ns["deframe"],
        "gRPC deframing": ns["deframe"],
        "protobuf decode": ns["protobuf"],
        "object construction": ns["objects"],
    }
    layers_s["rest of the driver (locks, wait loop, generator)"] = instrumented["wall_s"] - (
        ns["socket_read"] + ns["core_receive"] + ns["protobuf"] + ns["objects"]
    )
    cost = wrapper_cost()
    floor = floors(probe.captured)
    per_event = {name: seconds / events * 1e6 for name, seconds in layers_s.items()}
    return {
        "method": "perf_counter_ns wrappers around each layer (see benchmarks/suite/breakdown.py)",
        "events": events,
        "messages": len(probe.captured),
        "plain": plain,
        "instrumented": instrumented,
        "plain_cpu_us_per_event": plain["cpu_s"] / plain["events"] * 1e6,
        "instrumented_cpu_us_per_event": instrumented["cpu_s"] / events * 1e6,
        "instrumented_wall_us_per_event": instrumented["wall_s"] / events * 1e6,
        "layers_us_per_event": per_event,
        "calls": calls,
        "wrapper_cost_us": cost * 1e6,
        "overhead_us_per_event": cost * sum(calls.values()) / events * 1e6,
        "floor_us_per_event": floor["protobuf_s"] * 1e6,
        "floor_with_objects_us_per_event": floor["protobuf_objects_s"] * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite.breakdown")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    arm_watchdog(args.timeout)
    print(json.dumps(breakdown(args.port, args.stream, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
