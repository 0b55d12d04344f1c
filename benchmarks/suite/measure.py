"""Measuring inside a client process: CPU and wall clocks, latency percentiles, RSS, and
the server's CPU (read from /proc, so the client brackets exactly its timed region)."""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Sequence
from typing import Any

from benchmarks.timing import Clock, Sample

__all__ = ["Clock", "Sample", "ServerCpu", "latency_stats", "peak_rss_reset", "proc_status_kb"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_status_kb(key: str, pid: int | str = "self") -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM, ...); 0 if unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def kib_to_mb(kib: float) -> float:
    """/proc's kB (KiB) as MB (10**6 bytes), the unit of every memory figure here."""
    return kib * 1024 / 1e6


def peak_rss_reset() -> bool:
    """Collect garbage, then reset VmHWM to the current RSS (Linux: clear_refs 5)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def process_cpu(pid: int) -> float:
    """utime + stime of a process in seconds (clock-tick resolution), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return math.nan
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class ServerCpu:
    """The server process's CPU seconds since construction."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = process_cpu(pid)

    def elapsed(self) -> float:
        return process_cpu(self.pid) - self.start


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Percentiles of per-operation latencies, in microseconds."""
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "p50_us": percentile(ordered, 0.50) * 1e6,
        "p90_us": percentile(ordered, 0.90) * 1e6,
        "p99_us": percentile(ordered, 0.99) * 1e6,
        "max_us": ordered[-1] * 1e6,
        "mean_us": sum(ordered) / len(ordered) * 1e6,
    }


def result(
    sample: Sample,
    n: int,
    server_cpu: float,
    *,
    latencies: Sequence[float] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The JSON document of one run: raw clocks plus the derived figures."""
    figures: dict[str, float] = {
        "cpu_us": sample.cpu / n * 1e6,
        "rate": n / sample.wall,
        "server_us": server_cpu / n * 1e6,
    }
    document: dict[str, Any] = {
        "n": n,
        "cpu": sample.cpu,
        "user": sample.user,
        "sys": sample.sys,
        "wall": sample.wall,
        "server_cpu": server_cpu,
    }
    if latencies:
        stats = latency_stats(latencies)
        figures["p50_us"] = stats["p50_us"]
        figures["p99_us"] = stats["p99_us"]
        document["latency"] = stats
    document.update(extra)
    document["figures"] = figures
    return document


def event_data(index: int, size: int) -> bytes:
    """A JSON payload of exactly ``size`` bytes that carries ``index``."""
    head = b'{"i":"%08d","pad":"' % index
    pad = size - len(head) - 2
    if pad < 0:
        raise ValueError(f"payload size must be at least {len(head) + 2} bytes")
    return head + b"x" * pad + b'"}'


def event_index(data: bytes) -> int:
    """The index :func:`event_data` put in ``data``."""
    return int(data[6:14])
