"""What the suite measures: drivers, scenarios, their figures and targets, run parameters."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

# Drivers: esdb_wire's two, and esdbclient 1.1.7's two. Pairings compare like with like.
WIRE_BLOCKING = "esdb_wire-blocking"
WIRE_AIO = "esdb_wire-asyncio"
PEER_SYNC = "esdbclient-sync"
PEER_AIO = "esdbclient-asyncio"
DRIVERS = (WIRE_BLOCKING, PEER_SYNC, WIRE_AIO, PEER_AIO)
PAIRS = {WIRE_BLOCKING: PEER_SYNC, WIRE_AIO: PEER_AIO}
WIRE_DRIVERS = frozenset(PAIRS)

EVENT_TYPE = "BenchEvent"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str


@dataclass(frozen=True)
class Target:
    """A bound on esdb_wire's figure: its ratio to esdbclient's, to the protobuf floor,
    or its absolute value."""

    figure: str
    against: Literal["esdbclient", "floor", "absolute"]
    op: Literal["<=", ">="]
    bound: float

    @property
    def text(self) -> str:
        if self.against == "absolute":
            return f"{self.op} {self.bound:g}"
        suffix = " floor" if self.against == "floor" else ""
        return f"{self.op} {self.bound:g}x{suffix}"

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
        (Target("cpu_us", "esdbclient", "<=", 0.5),),
    ),
    Scenario(
        "read",
        2,
        "read one stream",
        (Figure("cpu_us", "client CPU µs/event", "µs"),),
        (Figure("rate", "events/s", "/s"), Figure("server_us", "server CPU µs/event", "µs")),
        (Target("cpu_us", "esdbclient", "<=", 0.2), Target("cpu_us", "floor", "<=", 3.0)),
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
        "import",
        (
            Figure("import_ms", "import time ms", "ms"),
            Figure("import_rss_mb", "RSS growth by the import MB", "MB"),
            Figure("installed_mb", "installed closure MB", "MB"),
        ),
        (Figure("rss_mb", "process RSS after import MB", "MB"),),
        (
            Target("import_ms", "esdbclient", "<=", 0.3),
            Target("import_rss_mb", "esdbclient", "<=", 0.6),
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
