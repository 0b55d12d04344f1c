"""Summaries of benchmark runs: medians, the markdown table, machine information."""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.clients import ESDB_ENGINES, OTHER_ENGINE, SAME_MODEL
from benchmarks.common import PROJECT_ROOT

PACKAGES = ("esdb-wire", "h2", "hpack", "hyperframe", "protobuf", "grpcio", "grpclib", "multidict")
ESDB_CLIENTS = tuple(ESDB_ENGINES)
BASELINES = ("grpcio", "grpcio-st", "grpcio-aio", "grpclib")
# What does each client's HTTP/2 (the table's "HTTP/2" column): esdb_wire's engine,
# grpcio's C core, or the h2 library (grpclib).
HTTP2_OF = {
    **ESDB_ENGINES,
    "grpcio": "C core",
    "grpcio-st": "C core",
    "grpcio-aio": "C core",
    "grpclib": "h2",
}
# Issue 13: the h2 engine's unary call against grpcio's sync client, aim <= 1.0x.
UNARY_TARGET = ("esdb-blocking", "grpcio", 1.0)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


@dataclass(frozen=True)
class Summary:
    """All successful runs of one client on one scenario."""

    scenario: str
    client: str
    runs: int
    failures: int
    cpu_us: Spread | None  # client CPU per operation (call or message), microseconds
    rate: Spread | None  # operations per second of wall time
    sys_share: Spread | None  # system share of the client's CPU time

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "client": self.client,
            "runs": self.runs,
            "failures": self.failures,
            "cpu_us_per_op": self.cpu_us.as_dict() if self.cpu_us else None,
            "ops_per_s": self.rate.as_dict() if self.rate else None,
            "sys_share": self.sys_share.as_dict() if self.sys_share else None,
        }


def summarise(scenario: str, client: str, runs: Sequence[dict[str, Any]]) -> Summary:
    good = [run for run in runs if "error" not in run]
    failures = len(runs) - len(good)
    if not good:
        return Summary(scenario, client, 0, failures, None, None, None)
    return Summary(
        scenario,
        client,
        len(good),
        failures,
        Spread.of([run["cpu"] / run["n"] * 1e6 for run in good]),
        Spread.of([run["n"] / run["wall"] for run in good]),
        Spread.of([run["sys"] / max(run["user"] + run["sys"], 1e-9) for run in good]),
    )


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10000 else f"{value:.0f}"


def _spread(spread: Spread | None, fmt: Any) -> str:
    if spread is None:
        return "—"
    return f"{fmt(spread.median)} [{fmt(spread.low)}-{fmt(spread.high)}]"


def _ratio(mine: Summary | None, base: Summary | None) -> float | None:
    if mine is None or base is None or mine.cpu_us is None or base.cpu_us is None:
        return None
    return mine.cpu_us.median / base.cpu_us.median


def markdown_table(summaries: Sequence[Summary], descriptions: dict[str, str]) -> str:
    """One row per (scenario, client), the scenario named on its first row only.

    Ratios are an esdb_wire client's CPU/op ÷ the baseline's; "same model" divides by
    grpcio's client of the same concurrency model; "h2 ÷ native" (on h2-engine rows)
    divides by the same driver on the native engine: what h2 costs over our own HTTP/2.
    """
    header = (
        "| Scenario | Client | HTTP/2 | CPU µs/op median [min-max] | ops/s median [min-max] "
        "| sys % | ÷ grpcio | ÷ grpcio-st | ÷ grpcio-aio | ÷ grpclib | ÷ same model "
        "| h2 ÷ native |"
    )
    lines = [header, "|" + "---|" * 12]
    by_key = {(s.scenario, s.client): s for s in summaries}
    previous = ""
    for summary in summaries:
        key = summary.scenario
        ratios: list[str] = []
        mine = summary if summary.client in ESDB_CLIENTS else None
        for baseline in BASELINES:
            ratio = _ratio(mine, by_key.get((key, baseline)))
            ratios.append("" if ratio is None else f"{ratio:.2f}")
        same = _ratio(mine, by_key.get((key, SAME_MODEL.get(summary.client, ""))))
        ratios.append("" if same is None else f"**{same:.2f}**")
        other = None
        if ESDB_ENGINES.get(summary.client) == "h2":
            other = _ratio(mine, by_key.get((key, OTHER_ENGINE[summary.client])))
        ratios.append("" if other is None else f"{other:.2f}")
        sys_pct = f"{summary.sys_share.median * 100:.0f}" if summary.sys_share else "—"
        failed = f" ({summary.failures} failed)" if summary.failures else ""
        title = "" if key == previous else descriptions.get(key, key)
        previous = key
        lines.append(
            f"| {title} | {summary.client}{failed} | {HTTP2_OF.get(summary.client, '')} "
            f"| {_spread(summary.cpu_us, _num)} | {_spread(summary.rate, _rate)} | {sys_pct} "
            f"| {' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def unary_targets(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    """Issue 13's unary target per unary scenario: the h2 engine's CPU per call ÷ grpcio
    sync's (with the native engine's ratio beside it, for reference)."""
    client, baseline, bound = UNARY_TARGET
    native = OTHER_ENGINE[client]
    by_key = {(s.scenario, s.client): s for s in summaries}
    found = []
    for scenario in dict.fromkeys(s.scenario for s in summaries if s.scenario.startswith("unary")):
        base = by_key.get((scenario, baseline))
        ratio = _ratio(by_key.get((scenario, client)), base)
        if ratio is None:
            continue
        found.append(
            {
                "scenario": scenario,
                "client": client,
                "baseline": baseline,
                "bound": bound,
                "ratio": ratio,
                "met": ratio <= bound,
                "native_client": native,
                "native_ratio": _ratio(by_key.get((scenario, native)), base),
            }
        )
    return found


def target_lines(targets: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for target in targets:
        ratio, bound = target["ratio"], target["bound"]
        verdict = "met" if target["met"] else f"MISSED ({ratio / bound - 1:.0%} above the aim)"
        line = (
            f"- {target['scenario']}: {target['client']} (h2 engine) ÷ {target['baseline']} "
            f"= {ratio:.2f}x -> {verdict}"
        )
        if target["native_ratio"] is not None:
            line += f"; {target['native_client']} (native engine): {target['native_ratio']:.2f}x"
        lines.append(line)
    return lines


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            check=False,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def _proc_field(path: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return ""


def source_digest(root: Path = PROJECT_ROOT) -> str:
    """A short hash of the esdb_wire sources under ``root``, to identify what was measured."""
    digest = hashlib.sha256()
    for path in sorted((root / "esdb_wire").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "memory": _proc_field("/proc/meminfo", "MemTotal"),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": sys.version,
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty_files": _git("status", "--porcelain", "--", "esdb_wire").splitlines(),
        "env": {
            key: value
            for key, value in os.environ.items()
            if key.startswith(("MALLOC_", "PYTHON", "GRPC_"))
        },
    }
