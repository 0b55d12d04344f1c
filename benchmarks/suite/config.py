"""What the suite measures: drivers, scenarios, their figures and targets, run parameters."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

# Drivers: esdb_wire's two, each on both HTTP/2 engines, and esdbclient 1.1.7's two.
# The plain esdb_wire names run the default engine (h2), "-native" the opt-in native one.
# Pairings compare like with like: blocking with sync, asyncio with asyncio.
H2 = "h2"
NATIVE = "native"
ENGINE_NAMES = (H2, NATIVE)
WIRE_BLOCKING = "esdb_wire-blocking"
WIRE_BLOCKING_NATIVE = "esdb_wire-blocking-native"
WIRE_AIO = "esdb_wire-asyncio"
WIRE_AIO_NATIVE = "esdb_wire-asyncio-native"
PEER_SYNC = "esdbclient-sync"
PEER_AIO = "esdbclient-asyncio"
DRIVERS = (WIRE_BLOCKING, WIRE_BLOCKING_NATIVE, PEER_SYNC, WIRE_AIO, WIRE_AIO_NATIVE, PEER_AIO)
PAIRS = {
    WIRE_BLOCKING: PEER_SYNC,
    WIRE_BLOCKING_NATIVE: PEER_SYNC,
    WIRE_AIO: PEER_AIO,
    WIRE_AIO_NATIVE: PEER_AIO,
}
WIRE_DRIVERS = frozenset(PAIRS)
ENGINES = {WIRE_BLOCKING: H2, WIRE_BLOCKING_NATIVE: NATIVE, WIRE_AIO: H2, WIRE_AIO_NATIVE: NATIVE}
"""esdb_wire's drivers -> their ``http2_engine``."""
ASYNC_DRIVERS = frozenset({WIRE_AIO, WIRE_AIO_NATIVE, PEER_AIO})


def http2_of(driver: str) -> str:
    """What does the driver's HTTP/2: esdb_wire's engine, or grpcio's C core."""
    return ENGINES.get(driver, "grpcio")


EVENT_TYPE = "BenchEvent"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str


@dataclass(frozen=True)
class Target:
    """A bound on esdb_wire's figure: its ratio to esdbclient's, to the protobuf floor,
    or its absolute value; for the drivers on ``engine`` only, or (None) on both."""

    figure: str
    against: Literal["esdbclient", "floor", "absolute"]
    op: Literal["<=", ">="]
    bound: float
    engine: str | None = None

    @property
    def text(self) -> str:
        if self.against == "absolute":
            return f"{self.op} {self.bound:g}"
        suffix = " floor" if self.against == "floor" else ""
        return f"{self.op} {self.bound:g}x{suffix}"

    def applies_to(self, driver: str) -> bool:
        return driver in ENGINES and self.engine in (None, ENGINES[driver])

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound


@dataclass(frozen=True)
class Scenario:
    name: str
    number: int
    title: str
    rows: tuple[Figure, ...]  # one table row per figure and client
    extras: tuple[Figure, ...]  # shown beside the first row
    targets: tuple[Target, ...] = ()
    client_runs: bool = True  # measured by benchmark client processes


CPU = Figure("cpu_us", "client CPU µs/op", "µs")
RATE = Figure("rate", "ops/s", "/s")
P50 = Figure("p50_us", "p50 µs", "µs")
P99 = Figure("p99_us", "p99 µs", "µs")
SERVER = Figure("server_us", "server CPU µs/op", "µs")

SCENARIOS = (
    Scenario(
        "append",
        1,
        "single-event append, sequential",
        (Figure("cpu_us", "client CPU µs/append", "µs"),),
        (P50, P99, Figure("rate", "appends/s", "/s"), SERVER),
        # Issue 13: h2 engine <= 0.35x; native engine: no regression from 0.18x.
        (
            Target("cpu_us", "esdbclient", "<=", 0.35, H2),
            Target("cpu_us", "esdbclient", "<=", 0.18, NATIVE),
        ),
    ),
    Scenario(
        "read",
        2,
        "read one stream",
        # The same stream read twice per run: events counted, then their fields read.
        (
            Figure("cpu_us", "client CPU µs/event, events counted", "µs"),
            Figure("fields_cpu_us", "client CPU µs/event, fields read", "µs"),
        ),
        (Figure("rate", "events/s", "/s"), Figure("server_us", "server CPU µs/event", "µs")),
        # Issue 13: h2 engine <= 0.1x; native engine: no regression from 0.07x. Issue 20:
        # read CPU per event <= 3x the protobuf decode floor, for either consumer.
        (
            Target("cpu_us", "esdbclient", "<=", 0.1, H2),
            Target("cpu_us", "esdbclient", "<=", 0.07, NATIVE),
            Target("cpu_us", "floor", "<=", 3.0),
            Target("fields_cpu_us", "floor", "<=", 3.0),
        ),
    ),
    Scenario(
        "catchup",
        3,
        "catch-up subscription",
        (Figure("rate", "events/s", "/s"),),
        (
            Figure("cpu_us", "client CPU µs/event", "µs"),
            Figure("server_us", "server µs/event", "µs"),
        ),
        (Target("rate", "esdbclient", ">=", 5.0),),
    ),
    Scenario(
        "live",
        4,
        "live subscription append→delivered",
        (Figure("p99_us", "latency p99 µs", "µs"),),
        (P50, Figure("cpu_us", "client CPU µs/event", "µs")),
        (Target("p99_us", "esdbclient", "<=", 1.0),),
    ),
    Scenario(
        "concurrent",
        5,
        "concurrent appenders, one client",
        (Figure("rate", "appends/s", "/s"),),
        (Figure("cpu_us", "client CPU µs/append", "µs"), P99, SERVER),
        (Target("rate", "esdbclient", ">=", 2.0),),
    ),
    Scenario(
        "memory",
        6,
        "streaming read, memory",
        (Figure("rss_growth_mb", "peak RSS growth MB", "MB"),),
        (Figure("rate", "events/s", "/s"), Figure("cpu_us", "client CPU µs/event", "µs")),
        (Target("rss_growth_mb", "absolute", "<=", 50.0),),
    ),
    Scenario(
        "import",
        7,
        "import and a ready client",
        (
            Figure("ready_ms", "import + client ready ms", "ms"),
            Figure("ready_rss_mb", "RSS growth, import + client ready, MB", "MB"),
            Figure("import_ms", "import alone ms", "ms"),
            Figure("import_rss_mb", "RSS growth by the import alone MB", "MB"),
            Figure("installed_mb", "installed closure MB", "MB"),
        ),
        (
            Figure("ready_cpu_ms", "CPU ms, import + client ready", "ms"),
            Figure("rss_mb", "process RSS when ready MB", "MB"),
        ),
        # Issue 20: importing the client and constructing it (ready: its node chosen by
        # gossip, as esdbclient's constructor does) in <= 0.5x esdbclient's time and RSS.
        # They replace the earlier import-only targets (<= 0.3x time, <= 0.6x RSS).
        (
            Target("ready_ms", "esdbclient", "<=", 0.5),
            Target("ready_rss_mb", "esdbclient", "<=", 0.5),
        ),
        client_runs=False,
    ),
)
SCENARIO_NAMES = (*(scenario.name for scenario in SCENARIOS), "framing")


@dataclass(frozen=True)
class Params:
    """Everything one client run needs; travels as JSON on its command line."""

    port: int
    server_pid: int
    run_id: str
    payload: int
    appends: int
    append_warmup: int
    read_stream: str
    read_events: int
    catchup_from: int | None
    big_stream: str
    big_events: int
    live_events: int
    live_warmup: int
    appenders: int
    appends_per_appender: int
    warmup_events: int = 1000

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Params:
        return cls(**json.loads(text))
