"""Summaries of the suite's runs: spreads, esdb_wire/esdbclient ratios, targets, tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.report import Spread
from benchmarks.suite.config import (
    DRIVERS,
    ENGINE_NAMES,
    PAIRS,
    SCENARIOS,
    Figure,
    Scenario,
    Target,
    http2_of,
)


@dataclass(frozen=True)
class Cell:
    """One figure of one client on one scenario, over its successful runs."""

    scenario: str
    figure: str
    client: str
    spread: Spread | None
    runs: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "figure": self.figure,
            "client": self.client,
            "runs": self.runs,
            "failures": self.failures,
            **(self.spread.as_dict() if self.spread else {}),
        }


@dataclass(frozen=True)
class Verdict:
    scenario: str
    client: str
    target: Target
    value: float | None  # the ratio (or absolute value) compared with the bound

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.target.met(self.value)

    def cell(self) -> str:
        if self.value is None:
            return f"{self.target.text}: n/a"
        shown = _num(self.value) if self.target.against == "absolute" else f"{self.value:.2f}x"
        return f"{self.target.text}: {'met' if self.met else 'MISSED'} ({shown})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "client": self.client,
            "figure": self.target.figure,
            "against": self.target.against,
            "op": self.target.op,
            "bound": self.target.bound,
            "value": self.value,
            "met": self.met,
        }


def cells(runs: Sequence[dict[str, Any]], clients: Sequence[str]) -> list[Cell]:
    found: list[Cell] = []
    for scenario in SCENARIOS:
        for figure in (*scenario.rows, *scenario.extras):
            for client in clients:
                mine = [r for r in runs if r["scenario"] == scenario.name and r["client"] == client]
                values = [
                    r["figures"][figure.key] for r in mine if figure.key in r.get("figures", {})
                ]
                if not mine:
                    continue
                failures = sum(1 for r in mine if "error" in r)
                spread = Spread.of(values) if values else None
                found.append(Cell(scenario.name, figure.key, client, spread, len(values), failures))
    return found


class Summary:
    def __init__(self, found: Sequence[Cell], floor_us: float | None) -> None:
        self.cells = {(c.scenario, c.figure, c.client): c for c in found}
        self.floor_us = floor_us

    def median(self, scenario: str, figure: str, client: str) -> float | None:
        cell = self.cells.get((scenario, figure, client))
        return cell.spread.median if cell and cell.spread else None

    def ratio(self, scenario: str, figure: str, client: str) -> float | None:
        peer = PAIRS.get(client)
        mine = self.median(scenario, figure, client)
        theirs = self.median(scenario, figure, peer) if peer else None
        if mine is None or not theirs:
            return None
        return mine / theirs

    def verdicts(self) -> list[Verdict]:
        found = []
        for scenario in SCENARIOS:
            for target in scenario.targets:
                for client in PAIRS:
                    if (scenario.name, target.figure, client) not in self.cells:
                        continue
                    if not target.applies_to(client):
                        continue
                    found.append(
                        Verdict(
                            scenario.name, client, target, self._value(scenario, target, client)
                        )
                    )
        return found

    def _value(self, scenario: Scenario, target: Target, client: str) -> float | None:
        if target.against == "esdbclient":
            return self.ratio(scenario.name, target.figure, client)
        mine = self.median(scenario.name, target.figure, client)
        if target.against == "absolute" or mine is None:
            return mine
        return mine / self.floor_us if self.floor_us else None

    def table(self, titles: dict[str, str]) -> str:
        lines = [
            "| # | Scenario | Client | HTTP/2 | Figure | Median [min-max] "
            "| esdb_wire / esdbclient | Target | Other figures (medians) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        verdicts = self.verdicts()
        for scenario in SCENARIOS:
            titled = False
            for row_number, figure in enumerate(scenario.rows):
                for client in DRIVERS:
                    cell = self.cells.get((scenario.name, figure.key, client))
                    if cell is None:
                        continue
                    title = "" if titled else titles.get(scenario.name, scenario.title)
                    titled = True
                    lines.append(
                        self._row(scenario, figure, cell, row_number == 0, verdicts, title)
                    )
        return "\n".join(lines)

    def _row(
        self,
        scenario: Scenario,
        figure: Figure,
        cell: Cell,
        first: bool,
        verdicts: list[Verdict],
        title: str,
    ) -> str:
        ratio = self.ratio(scenario.name, figure.key, cell.client)
        ratio_text = f"{ratio:.2f}x (vs {PAIRS[cell.client]})" if ratio is not None else ""
        target_text = "; ".join(
            v.cell()
            for v in verdicts
            if v.scenario == scenario.name
            and v.client == cell.client
            and v.target.figure == figure.key
        )
        other = ""
        if first:
            parts = []
            for extra in scenario.extras:
                value = self.median(scenario.name, extra.key, cell.client)
                if value is not None:
                    parts.append(f"{extra.label} {_fmt(value, extra)}")
            other = ", ".join(parts)
        failed = f" ({cell.failures} failed)" if cell.failures else ""
        number = str(scenario.number) if title else ""
        return (
            f"| {number} | {title} | {cell.client}{failed} "
            f"| {http2_of(cell.client)} | {figure.label} "
            f"| {_spread(cell.spread, figure)} | {ratio_text} | {target_text} | {other} |"
        )


def verdict_lines(summary: Summary) -> list[str]:
    """One line per target and esdb_wire driver: the value, met or missed, and by how much."""
    lines = []
    for verdict in summary.verdicts():
        scenario = next(s for s in SCENARIOS if s.name == verdict.scenario)
        figure = next(
            f for f in (*scenario.rows, *scenario.extras) if f.key == verdict.target.figure
        )
        against = {
            "esdbclient": f" / {PAIRS[verdict.client]}'s",
            "floor": " / the protobuf-decode floor",
            "absolute": "",
        }[verdict.target.against]
        engine = http2_of(verdict.client)
        engine = f" ({engine} engine)" if engine in ENGINE_NAMES else ""
        head = (
            f"- {scenario.number}. {scenario.title}: {figure.label}{against} "
            f"{verdict.target.op} {verdict.target.bound:g}: {verdict.client}{engine} "
        )
        if verdict.value is None:
            lines.append(head + "n/a")
            continue
        lines.append(head + f"{verdict.value:.3g} -> " + _how_far(verdict))
    return lines


def _how_far(verdict: Verdict) -> str:
    value, bound = verdict.value, verdict.target.bound
    assert value is not None
    if bound == 0 or value == 0:
        return "met" if verdict.met else "MISSED"
    if verdict.target.op == "<=":
        gap = value / bound - 1
        return (
            f"met ({-gap:.0%} headroom)" if verdict.met else f"MISSED ({gap:.0%} above the bound)"
        )
    gap = 1 - value / bound
    return f"met ({-gap:.0%} headroom)" if verdict.met else f"MISSED ({gap:.0%} short of the bound)"


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _fmt(value: float, figure: Figure) -> str:
    if figure.unit == "/s" and value >= 10000:
        return f"{value / 1000:.1f}k"
    return _num(value)


def _spread(spread: Spread | None, figure: Figure) -> str:
    if spread is None:
        return "—"
    return f"{_fmt(spread.median, figure)} [{_fmt(spread.low, figure)}-{_fmt(spread.high, figure)}]"


def breakdown_table(documents: dict[str, dict[str, Any]]) -> str:
    """The framing-overhead layers, one column group per engine: µs per event, share of
    the instrumented wall time, and multiples of the protobuf floor (the lowest of the
    engines' measurements); then h2 ÷ native."""
    engines = [engine for engine, document in documents.items() if "error" not in document]
    if not engines:
        return ""
    head = "| Layer |" + "".join(f" {e}: µs/event | share | ÷ floor |" for e in engines)
    both = engines == list(ENGINE_NAMES)  # the ratio column: h2 ÷ native
    lines = [head + (" h2 ÷ native |" if both else ""), "|---|" + "---|---|---|" * len(engines)]
    if both:
        lines[1] += "---|"

    # One floor for every column (the lowest measured), so "÷ floor" compares engines.
    floor = min(documents[engine]["floor_us_per_event"] for engine in engines)

    def row(label: str, values: list[float | None], shares: bool = True) -> str:
        cells = []
        for engine, value in zip(engines, values):
            if value is None:
                cells.append(" — | | |")
                continue
            wall = documents[engine]["instrumented_wall_us_per_event"]
            share = f"{value / wall * 100:.0f}%" if shares else ""
            cells.append(f" {value:.3f} | {share} | {value / floor:.1f} |")
        ratio = ""
        if both:
            a, b = values
            ratio = f" {a / b:.2f} |" if a is not None and b and b > 0 else " |"
        return f"| {label} |" + "".join(cells) + ratio

    names = list(dict.fromkeys(n for e in engines for n in documents[e]["layers_us_per_event"]))
    for name in names:
        lines.append(row(name, [documents[e]["layers_us_per_event"].get(name) for e in engines]))
        details = [documents[e].get("detail_us_per_event", {}).get(name, {}) for e in engines]
        for part in dict.fromkeys(p for detail in details for p in detail):
            lines.append(row(f"&nbsp;&nbsp;{part}", [detail.get(part) for detail in details]))
    lines.append(
        row(
            "**HTTP/2 layer (received frames + flow control)**",
            [documents[e].get("http2_us_per_event") for e in engines],
        )
    )
    lines.append(
        row(
            "**instrumented total (wall)**",
            [documents[e]["instrumented_wall_us_per_event"] for e in engines],
        )
    )
    lines.append(
        row(
            "client CPU, uninstrumented read (process_time)",
            [documents[e]["plain_cpu_us_per_event"] for e in engines],
            shares=False,
        )
    )
    lines.append(
        row(
            "client CPU, uninstrumented read, fields read (process_time)",
            [documents[e].get("plain_fields_cpu_us_per_event") for e in engines],
            shares=False,
        )
    )
    lines.append(
        row(
            "client CPU, uninstrumented read, messages not decoded (transport and driver)",
            [documents[e].get("undecoded_cpu_us_per_event") for e in engines],
            shares=False,
        )
    )
    lines.append(
        row(
            "**floor: ReadResp.FromString alone**",
            [documents[e]["floor_us_per_event"] for e in engines],
            shares=False,
        )
    )
    lines.append(
        row(
            "floor + read_response_item (decode + objects, tight loop)",
            [documents[e]["floor_with_objects_us_per_event"] for e in engines],
            shares=False,
        )
    )
    lines.append(
        row(
            "floor + read_response_item + fields read (tight loop)",
            [documents[e].get("floor_with_fields_us_per_event") for e in engines],
            shares=False,
        )
    )
    return "\n".join(lines)
