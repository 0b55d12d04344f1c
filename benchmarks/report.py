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

from benchmarks.common import PROJECT_ROOT

PACKAGES = ("esdb-wire", "h2", "hpack", "hyperframe", "protobuf", "grpcio", "grpclib", "multidict")
ESDB_CLIENTS = ("esdb-blocking", "esdb-aio")
BASELINES = ("grpcio", "grpcio-st", "grpcio-aio", "grpclib")
# The baseline with the same concurrency model: blocking vs grpcio's sync API, asyncio
# vs grpc.aio.
SAME_MODEL = {"esdb-blocking": "grpcio", "esdb-aio": "grpcio-aio"}


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


def markdown_table(summaries: Sequence[Summary], descriptions: dict[str, str]) -> str:
    """One row per (scenario, client); ratios are esdb_wire CPU/op ÷ the baseline's."""
    header = (
        "| Scenario | Client | CPU µs/op median [min-max] | ops/s median [min-max] | sys % "
        "| ÷ grpcio | ÷ grpcio-st | ÷ grpcio-aio | ÷ grpclib | ÷ same model |"
    )
    lines = [header, "|" + "---|" * 10]
    by_key = {(s.scenario, s.client): s for s in summaries}
    for summary in summaries:
        ratios = []
        for baseline in BASELINES:
            base = by_key.get((summary.scenario, baseline))
            if summary.client in ESDB_CLIENTS and summary.cpu_us and base and base.cpu_us:
                ratios.append(f"{summary.cpu_us.median / base.cpu_us.median:.2f}")
            else:
                ratios.append("")
        same = by_key.get((summary.scenario, SAME_MODEL.get(summary.client, "")))
        if summary.cpu_us and same and same.cpu_us:
            ratios.append(f"**{summary.cpu_us.median / same.cpu_us.median:.2f}**")
        else:
            ratios.append("")
        sys_pct = f"{summary.sys_share.median * 100:.0f}" if summary.sys_share else "—"
        failed = f" ({summary.failures} failed)" if summary.failures else ""
        lines.append(
            f"| {descriptions.get(summary.scenario, summary.scenario)} | {summary.client}{failed} "
            f"| {_spread(summary.cpu_us, _num)} | {_spread(summary.rate, _rate)} | {sys_pct} "
            f"| {' | '.join(ratios)} |"
        )
    return "\n".join(lines)


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
