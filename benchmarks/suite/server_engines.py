"""The embedded server's own targets (issue 20), once per server HTTP/2 engine.

The suite's client scenarios run against a server on the first engine of
``--server-engines`` (``h2``, the server's default); for each further engine (``native``)
the scenarios these targets need (``append``, ``read``, ``concurrent``) run again,
against a fresh server on that engine, with the same clients. Per server engine:

* server CPU per sequential append: the median of the server CPU per append over every
  esdb_wire client's ``append`` runs (their requests are the same bytes; esdbclient's,
  shown apart, are not);
* server CPU per streamed event: the same over the ``read`` runs;
* 64 asyncio appenders: ``esdb_wire-asyncio``'s appends/s ÷ ``esdbclient-asyncio``'s
  (medians, same server), for each of esdb_wire's asyncio clients (``h2`` and ``native``
  client engines).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.suite.config import PEER_AIO, PEER_SYNC, WIRE_AIO, WIRE_AIO_NATIVE, WIRE_DRIVERS

SERVER_SCENARIOS = ("append", "read", "concurrent")
"""The client scenarios the server targets are measured by."""


@dataclass(frozen=True)
class ServerTarget:
    name: str
    label: str
    op: Literal["<=", ">="]
    bound: float
    unit: str

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def how_far(self, value: float) -> str:
        if self.op == "<=":
            gap = value / self.bound - 1
            return f"met ({-gap:.0%} headroom)" if gap <= 0 else f"MISSED ({gap:.0%} above)"
        gap = 1 - value / self.bound
        return f"met ({-gap:.0%} headroom)" if gap <= 0 else f"MISSED ({gap:.0%} short)"


APPEND_CPU = ServerTarget("append_cpu", "server CPU per sequential append", "<=", 60.0, " µs")
EVENT_CPU = ServerTarget("event_cpu", "server CPU per streamed event (read)", "<=", 2.0, " µs")
CONCURRENT = ServerTarget(
    "concurrent",
    "64 asyncio appenders, esdb_wire-asyncio ÷ esdbclient-asyncio appends/s",
    ">=",
    2.0,
    "x",
)
CONCURRENT_NATIVE_CLIENT = ServerTarget(
    "concurrent_native_client",
    "64 asyncio appenders, esdb_wire-asyncio-native ÷ esdbclient-asyncio appends/s",
    ">=",
    2.0,
    "x",
)
TARGETS = (APPEND_CPU, EVENT_CPU, CONCURRENT, CONCURRENT_NATIVE_CLIENT)


def _values(
    runs: Sequence[dict[str, Any]], engine: str, scenario: str, figure: str, clients: set[str]
) -> list[float]:
    return [
        run["figures"][figure]
        for run in runs
        if run.get("server_engine") == engine
        and run.get("scenario") == scenario
        and run.get("client") in clients
        and figure in run.get("figures", {})
    ]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def figures(runs: Sequence[dict[str, Any]], engine: str) -> dict[str, Any]:
    """The server figures of one server engine (None where the runs are missing)."""
    wire = set(WIRE_DRIVERS)
    append = _values(runs, engine, "append", "server_us", wire)
    read = _values(runs, engine, "read", "server_us", wire)
    ours = _median(_values(runs, engine, "concurrent", "rate", {WIRE_AIO}))
    native = _median(_values(runs, engine, "concurrent", "rate", {WIRE_AIO_NATIVE}))
    theirs = _median(_values(runs, engine, "concurrent", "rate", {PEER_AIO}))
    peers = {PEER_SYNC, PEER_AIO}
    return {
        "append_cpu": _median(append),
        "append_cpu_range": (min(append), max(append)) if append else None,
        "event_cpu": _median(read),
        "event_cpu_range": (min(read), max(read)) if read else None,
        "concurrent": ours / theirs if ours and theirs else None,
        "concurrent_native_client": native / theirs if native and theirs else None,
        "peer_append_cpu": _median(_values(runs, engine, "append", "server_us", peers)),
        "peer_event_cpu": _median(_values(runs, engine, "read", "server_us", peers)),
    }


def _cell(value: float | None, target: ServerTarget) -> str:
    if value is None:
        return "n/a"
    shown = f"{value:.2f}x" if target.unit == "x" else f"{value:.3g}{target.unit}"
    return f"{shown}: {target.how_far(value)}"


def _range(found: dict[str, Any], name: str) -> str:
    span = found.get(f"{name}_range")
    return f" [{span[0]:.3g}-{span[1]:.3g}]" if span else ""


def table(runs: Sequence[dict[str, Any]], engines: Sequence[str]) -> str:
    """One row per server engine: each target's figure, met or missed and by how much."""
    lines = [
        "| Server HTTP/2 engine | server CPU µs/append (esdb_wire clients) "
        f"| {APPEND_CPU.op} {APPEND_CPU.bound:g} µs | server CPU µs/event, read "
        f"| {EVENT_CPU.op} {EVENT_CPU.bound:g} µs | 64 asyncio appenders ÷ esdbclient-asyncio: "
        f"esdb_wire-asyncio (h2 client) | {CONCURRENT.op} {CONCURRENT.bound:g}x "
        f"| esdb_wire-asyncio-native | {CONCURRENT.op} {CONCURRENT.bound:g}x | other figures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine in engines:
        found = figures(runs, engine)
        append, event = found["append_cpu"], found["event_cpu"]
        ratio, native = found["concurrent"], found["concurrent_native_client"]
        other = []
        if found["peer_append_cpu"] is not None:
            other.append(f"esdbclient's appends: {found['peer_append_cpu']:.3g} µs/append")
        if found["peer_event_cpu"] is not None:
            other.append(f"esdbclient's reads: {found['peer_event_cpu']:.3g} µs/event")
        lines.append(
            f"| {engine} | {_num(append)}{_range(found, 'append_cpu')} "
            f"| {_verdict(append, APPEND_CPU)} | {_num(event)}{_range(found, 'event_cpu')} "
            f"| {_verdict(event, EVENT_CPU)} | {_num(ratio, 'x')} "
            f"| {_verdict(ratio, CONCURRENT)} | {_num(native, 'x')} "
            f"| {_verdict(native, CONCURRENT_NATIVE_CLIENT)} | {'; '.join(other)} |"
        )
    return "\n".join(lines)


def _num(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.3g}{unit}"


def _verdict(value: float | None, target: ServerTarget) -> str:
    if value is None:
        return "n/a"
    return target.how_far(value)


def verdict_lines(runs: Sequence[dict[str, Any]], engines: Sequence[str]) -> list[str]:
    """One line per server engine and target."""
    lines = []
    for engine in engines:
        found = figures(runs, engine)
        for target in TARGETS:
            value = found[target.name]
            lines.append(
                f"- {engine} server engine: {target.label} {target.op} "
                f"{target.bound:g}{target.unit}: {_cell(value, target)}"
            )
    return lines


def documents(runs: Sequence[dict[str, Any]], engines: Sequence[str]) -> list[dict[str, Any]]:
    """The JSON form: per engine, the figures and each target's verdict."""
    found = []
    for engine in engines:
        values = figures(runs, engine)
        found.append(
            {
                "server_engine": engine,
                **values,
                "targets": [
                    {
                        "target": target.name,
                        "op": target.op,
                        "bound": target.bound,
                        "value": values[target.name],
                        "met": None
                        if values[target.name] is None
                        else target.met(values[target.name]),
                    }
                    for target in TARGETS
                ],
            }
        )
    return found
