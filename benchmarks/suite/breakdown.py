"""Framing overhead of esdb_wire's blocking client, per streamed event, layer by layer,
on one HTTP/2 engine.

``python -m benchmarks.suite.breakdown --port P --stream S --engine h2|native`` reads the
stream three times in this process: a warm-up, a plain (uninstrumented) read, and an
instrumented read in which the layers are wrapped (class or module attributes replaced,
for this measurement only) with ``perf_counter_ns`` timers:

* socket reads: ``Link._recv`` (the ``recv`` calls); waiting: ``Link._read`` minus them;
* the HTTP/2 layer, which is the engine's: received frames, its ``receive_data`` (frame
  parsing, stream state and flow-control accounting, header blocks, event objects): for
  the h2 engine ``H2Engine.receive_data``, of which ``h2``'s own
  ``H2Connection.receive_data`` is shown apart from the adapter's event translation; for
  the native engine ``ClientHttp2Connection.receive_data``. Flow control: the engine's
  ``acknowledge_received_data`` (the WINDOW_UPDATE frames), wherever it is called;
* gRPC glue: ``ClientConnection.receive_data`` minus the engine and deframing (event
  dispatch, per-call message queues);
* gRPC framing: ``MessageDecoder.feed`` (the length-prefixed messages);
* protobuf decode: ``ReadResp.FromString`` (upb parses eagerly; Python objects for
  sub-messages are created lazily, on access, so that part lands in the next layer);
* object building: the codec's ``read_response_item`` minus the ``FromString`` it calls
  (field access, ``RecordedEvent``);
* the rest of the driver: locks, the wait loop, ``take_message``, socket writes, the
  generator: the instrumented wall time minus all of the above.

Uninstrumented, the stream is also read with its messages not decoded (the driver's
``read_response_item`` replaced by a function that returns a placeholder): the client
CPU of the transport and the driver alone.

The floor is ``ReadResp.FromString`` over the very message bytes captured in the
instrumented read, in a tight loop timed in CPU time (best of 5); beside it, the same
loop with ``read_response_item`` (the objects), and with the fields the suite's
fields-reading consumer reads (``scenarios_sync.read_fields``). The plain read is done
twice: counting the events, and reading those fields. ``--floor-only`` measures the
floors alone (one read, its messages kept, nothing else timed): the suite runs that when
the read scenario runs without the breakdown, so that its floor target always has a
floor from the same run.

Timers cost something: the cost of one wrapped call is calibrated on a no-op and
reported, with the instrumented run's total next to the plain run's. Prints one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any, Callable

import esdb_wire.client.sync_responses as client_sync
import esdb_wire.codec.responses as codec_responses
from benchmarks.common import HOST, arm_watchdog
from benchmarks.suite.scenarios_sync import read_fields
from esdb_wire import EsdbClient
from esdb_wire.codec.responses import read_response_item
from esdb_wire.protos import streams_pb2
from esdb_wire.transport import blocking_link, connection, framing

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


def nested(
    function: Callable[..., Any], inside: Account, outside: Account, flag: list[bool]
) -> Callable[..., Any]:
    """:func:`timed`, charged to ``inside`` while ``flag[0]`` is set, else ``outside``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = inside if flag[0] else outside
        started = _clock()
        try:
            return function(*args, **kwargs)
        finally:
            account.nanoseconds += _clock() - started
            account.calls += 1

    return wrapper


def flagging(
    function: Callable[..., Any], account: Account, flag: list[bool]
) -> Callable[..., Any]:
    """:func:`timed` that also sets ``flag[0]`` while it runs."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flag[0] = True
        started = _clock()
        try:
            return function(*args, **kwargs)
        finally:
            account.nanoseconds += _clock() - started
            account.calls += 1
            flag[0] = False

    return wrapper


def engine_layers(engine: str) -> tuple[Any, tuple[tuple[str, Any, str], ...]]:
    """The engine's class, and the layers inside it to time on their own: for the h2
    engine, ``h2``'s ``H2Connection.receive_data``. Imported here, on demand, like the
    client does (the native engine imports no h2)."""
    if engine == "native":
        from esdb_wire.transport.http2.client import ClientHttp2Connection  # noqa: PLC0415

        return ClientHttp2Connection, ()
    import h2.connection  # noqa: PLC0415

    from esdb_wire.transport.http2.h2_engine import H2Engine  # noqa: PLC0415

    return H2Engine, (("h2_library", h2.connection.H2Connection, "receive_data"),)


# The blocking driver's decoding function (a global of its module, replaced to time it).
DRIVER_DECODE = "read_response_item"
# FromString is called inside the codec's read_response_item, through this global.
PARSE = ("protobuf", codec_responses, "_parse_read")
ACCOUNTS = (
    "socket_read",
    "socket_recv",
    "core_receive",
    "http2",
    "h2_library",
    "ack_in_core",
    "ack_outside",
    "deframe",
    "decode",
    "protobuf",
)


class Instrumented:
    """The wrapped layers of ``engine`` while in a ``with`` block; originals restored
    after."""

    def __init__(self, engine: str) -> None:
        self.accounts = {name: Account() for name in ACCOUNTS}
        self.captured: list[bytes] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._engine, self._inner = engine_layers(engine)

    def _original(self, owner: Any, attribute: str) -> Any:
        """``owner.attribute``, remembered so that ``__exit__`` puts it back."""
        original = getattr(owner, attribute)
        self._saved.append((owner, attribute, original))
        return original

    def __enter__(self) -> Instrumented:
        accounts = self.accounts
        in_core = [False]  # set while ClientConnection.receive_data runs
        plain: tuple[tuple[str, Any, str], ...] = (
            ("socket_read", blocking_link.Link, "_read"),
            ("socket_recv", blocking_link.Link, "_recv"),
            ("http2", self._engine, "receive_data"),
            *self._inner,
            ("deframe", framing.MessageDecoder, "feed"),
            ("decode", client_sync, DRIVER_DECODE),
        )
        for name, owner, attribute in plain:
            setattr(owner, attribute, timed(self._original(owner, attribute), accounts[name]))
        core: Any = connection.ClientConnection
        original = self._original(core, "receive_data")
        core.receive_data = flagging(original, accounts["core_receive"], in_core)
        original = self._original(self._engine, "acknowledge_received_data")
        ack = nested(original, accounts["ack_in_core"], accounts["ack_outside"], in_core)
        self._engine.acknowledge_received_data = ack
        name, owner, attribute = PARSE
        original = self._original(owner, attribute)
        setattr(owner, attribute, capturing(original, accounts[name], self.captured))
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


def consume_fields(events: Iterator[Any]) -> int:
    count = 0
    for event in events:
        read_fields(event)
        count += 1
    return count


def timed_read(
    client: EsdbClient, stream: str, consumer: Callable[[Iterator[Any]], int] = consume
) -> dict[str, float]:
    cpu = time.process_time()
    wall = time.perf_counter()
    count = consumer(client.read_stream_events(stream))
    return {
        "events": count,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
    }


def undecoded_read(client: EsdbClient, stream: str) -> dict[str, float]:
    """:func:`timed_read` with the read's messages not decoded (the driver's
    ``read_response_item`` replaced by a function that returns one object for every
    message): what the transport and the driver cost without the codec."""
    placeholder = object()

    def undecoded(data: bytes, stream_name: str | None) -> object:
        return placeholder

    name = DRIVER_DECODE
    original = getattr(client_sync, name)
    setattr(client_sync, name, undecoded)
    try:
        return timed_read(client, stream)
    finally:
        setattr(client_sync, name, original)


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


def floors(messages: list[bytes], rounds: int = 5) -> dict[str, float]:
    """CPU seconds per message, best of rounds: FromString alone; read_response_item
    (FromString and the objects); and read_response_item with the fields the scenario's
    fields-reading consumer reads (id, type, data, stream name and position, commit
    position). CPU time (``process_time``), like the client figures these divide: a
    wall clock would count the time other processes take the core."""
    parse = streams_pb2.ReadResp.FromString
    best_parse = best_both = best_fields = float("inf")
    clock = time.process_time
    for _ in range(rounds):
        started = clock()
        for message in messages:
            parse(message)
        best_parse = min(best_parse, clock() - started)
        started = clock()
        for message in messages:
            read_response_item(message, None)
        best_both = min(best_both, clock() - started)
        started = clock()
        for message in messages:
            event = read_response_item(message, None)
            if event is not None:
                read_fields(event)
        best_fields = min(best_fields, clock() - started)
    count = max(1, len(messages))
    return {
        "protobuf_s": best_parse / count,
        "protobuf_objects_s": best_both / count,
        "protobuf_objects_fields_s": best_fields / count,
    }


def floor_only(port: int, stream: str, warmup: int, engine: str) -> dict[str, Any]:
    """The floors alone (no layer timed): the stream read once with its messages kept."""
    captured: list[bytes] = []
    with EsdbClient(f"{HOST}:{port}", http2_engine=engine) as client:
        consume(client.read_stream_events(stream, limit=warmup))
        _, owner, attribute = PARSE
        original = getattr(owner, attribute)
        setattr(owner, attribute, capturing(original, Account(), captured))
        try:
            events = consume(client.read_stream_events(stream))
        finally:
            setattr(owner, attribute, original)
    floor = floors(captured)
    return {
        "engine": engine,
        "events": events,
        "messages": len(captured),
        **_floor_figures(floor),
    }


def _floor_figures(floor: dict[str, float]) -> dict[str, float]:
    return {
        "floor_us_per_event": floor["protobuf_s"] * 1e6,
        "floor_with_objects_us_per_event": floor["protobuf_objects_s"] * 1e6,
        "floor_with_fields_us_per_event": floor["protobuf_objects_fields_s"] * 1e6,
    }


# The layers' names in the output (and the table), outermost first; together they make
# the instrumented wall time. DETAIL rows split one of them further.
HTTP2_FRAMES = "HTTP/2: received frames (engine receive_data)"
HTTP2_FLOW = "HTTP/2: flow control (acknowledge_received_data, WINDOW_UPDATE)"
H2_LIBRARY = "of which h2 (H2Connection.receive_data)"
H2_ADAPTER = "of which the adapter (event translation)"


def breakdown(port: int, stream: str, warmup: int, engine: str) -> dict[str, Any]:
    with EsdbClient(f"{HOST}:{port}", http2_engine=engine) as client:
        consume(client.read_stream_events(stream, limit=warmup))
        plain = timed_read(client, stream)
        plain_fields = timed_read(client, stream, consume_fields)
        transport_only = undecoded_read(client, stream)
        with Instrumented(engine) as probe:
            instrumented = timed_read(client, stream)
    events = int(instrumented["events"])
    if not probe.accounts["http2"].calls:
        raise SystemExit(f"the {engine} engine's receive_data never ran: wrong engine?")
    ns = {name: account.nanoseconds / 1e9 for name, account in probe.accounts.items()}
    calls = {name: account.calls for name, account in probe.accounts.items()}
    acks = ns["ack_in_core"] + ns["ack_outside"]
    layers_s = {
        "socket reads (recv)": ns["socket_recv"],
        "waiting for data (select; idle, not CPU)": ns["socket_read"] - ns["socket_recv"],
        HTTP2_FRAMES: ns["http2"],
        HTTP2_FLOW: acks,
        "gRPC framing (MessageDecoder.feed)": ns["deframe"],
        "gRPC glue (dispatch, queues)": (
            ns["core_receive"] - ns["http2"] - ns["deframe"] - ns["ack_in_core"]
        ),
        "protobuf decode (ReadResp.FromString)": ns["protobuf"],
        "object building (read_response_item)": ns["decode"] - ns["protobuf"],
    }
    layers_s["rest of the driver (locks, wait loop, generator)"] = instrumented["wall_s"] - (
        ns["socket_read"] + ns["core_receive"] + ns["ack_outside"] + ns["decode"]
    )
    detail_s: dict[str, dict[str, float]] = {}
    if engine == "h2":
        detail_s[HTTP2_FRAMES] = {
            H2_LIBRARY: ns["h2_library"],
            H2_ADAPTER: ns["http2"] - ns["h2_library"],
        }
    cost = wrapper_cost()
    floor = floors(probe.captured)

    def per_event(seconds: float) -> float:
        return seconds / events * 1e6

    return {
        "method": "perf_counter_ns wrappers around each layer (see benchmarks/suite/breakdown.py)",
        "engine": engine,
        "events": events,
        "messages": len(probe.captured),
        "plain": plain,
        "instrumented": instrumented,
        "plain_cpu_us_per_event": plain["cpu_s"] / plain["events"] * 1e6,
        "plain_fields": plain_fields,
        "plain_fields_cpu_us_per_event": plain_fields["cpu_s"] / plain_fields["events"] * 1e6,
        "undecoded": transport_only,
        "undecoded_cpu_us_per_event": transport_only["cpu_s"] / transport_only["events"] * 1e6,
        "instrumented_cpu_us_per_event": instrumented["cpu_s"] / events * 1e6,
        "instrumented_wall_us_per_event": per_event(instrumented["wall_s"]),
        "layers_us_per_event": {name: per_event(value) for name, value in layers_s.items()},
        "http2_us_per_event": per_event(ns["http2"] + acks),
        "detail_us_per_event": {
            layer: {name: per_event(value) for name, value in parts.items()}
            for layer, parts in detail_s.items()
        },
        "calls": calls,
        "wrapper_cost_us": cost * 1e6,
        "overhead_us_per_event": cost * sum(calls.values()) / events * 1e6,
        **_floor_figures(floor),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite.breakdown")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--engine", choices=("h2", "native"), default="h2")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--floor-only", action="store_true", help="measure the floors only, no layer timed"
    )
    args = parser.parse_args(argv)
    arm_watchdog(args.timeout)
    measure = floor_only if args.floor_only else breakdown
    print(json.dumps(measure(args.port, args.stream, args.warmup, args.engine)), flush=True)


if __name__ == "__main__":
    main()
