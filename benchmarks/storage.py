"""What durable storage costs per append (issue 19): ``python -m benchmarks storage``.

Starts the embedded server in its own process once per configuration: in memory (the
default), then ``--db`` with each ``--db-sync`` policy (``always``, ``batch``,
``never``), the journal in a fresh temporary folder (``--dir`` to put it on another file
system). A blocking esdb_wire client in this process appends ``--appends`` single events
of ``--payload`` bytes, one after another, to one stream (after ``--warmup`` appends that
are not counted). Per configuration and repeat: the server's CPU per append (utime +
stime of its process, which includes the journal's sync thread), the wall time per append
seen by the client (a round trip: the client, the network, the server and, for
``always``, the disk) and the journal's bytes per event. Repeats alternate the
configurations; the table shows medians. Raw figures go to
``benchmarks/results/storage-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.report import machine_info, source_digest
from benchmarks.suite.server import EmbeddedServerProcess
from esdb_wire import EsdbClient, NewEvent

CONFIGURATIONS = ("memory", "always", "batch", "never")
RESULTS = Path(__file__).resolve().parent / "results"


def one_run(
    configuration: str, appends: int, warmup: int, payload: int, folder: Path
) -> dict[str, Any]:
    """Measure ``appends`` appends against a server in ``configuration``."""
    extra: list[str] = []
    journal = folder / f"{configuration}-{uuid.uuid4().hex}.db"
    if configuration != "memory":
        extra = ["--db", str(journal), "--db-sync", configuration]
    with EmbeddedServerProcess(lifetime=600.0, extra_args=extra) as server:
        cpu, wall, written = _timed_appends(server, journal, appends, warmup, payload)
    return {
        "configuration": configuration,
        "appends": appends,
        "server_cpu_us_per_append": cpu / appends * 1e6,
        "wall_us_per_append": wall / appends * 1e6,
        "journal_bytes_per_event": written / appends,
    }


def _timed_appends(
    server: EmbeddedServerProcess, journal: Path, appends: int, warmup: int, payload: int
) -> tuple[float, float, int]:
    """(server CPU seconds, wall seconds, journal bytes) of ``appends`` appends."""
    with EsdbClient(uri=f"127.0.0.1:{server.port}") as client:
        stream = f"storage-{uuid.uuid4().hex}"
        data = b"x" * payload
        position = None
        for _ in range(warmup):
            client.append_events(stream, position, [NewEvent("Warm", data)])
            position = 0 if position is None else position + 1
        size_before = journal.stat().st_size if journal.exists() else 0
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        for _ in range(appends):
            client.append_events(stream, position, [NewEvent("Measured", data)])
            position = 0 if position is None else position + 1
        wall = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
        size_after = journal.stat().st_size if journal.exists() else 0
    return cpu, wall, size_after - size_before


def table(runs: list[dict[str, Any]], configurations: list[str]) -> str:
    """Markdown: medians per configuration, and each one's cost over memory."""

    def median(configuration: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs if r["configuration"] == configuration))

    lines = [
        "| storage | server CPU µs/append | + vs memory | wall µs/append | + vs memory "
        "| journal B/event |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base_cpu = median("memory", "server_cpu_us_per_append") if "memory" in configurations else 0
    base_wall = median("memory", "wall_us_per_append") if "memory" in configurations else 0
    for configuration in configurations:
        cpu = median(configuration, "server_cpu_us_per_append")
        wall = median(configuration, "wall_us_per_append")
        size = median(configuration, "journal_bytes_per_event")
        name = "memory" if configuration == "memory" else f"--db, --db-sync {configuration}"
        lines.append(
            f"| {name} | {cpu:,.0f} | {cpu - base_cpu:+,.0f} | {wall:,.0f} | "
            f"{wall - base_wall:+,.0f} | {size:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks storage", description=__doc__)
    parser.add_argument("--appends", type=int, default=2000, help="measured appends per run")
    parser.add_argument("--warmup", type=int, default=200, help="uncounted appends first")
    parser.add_argument("--payload", type=int, default=100, help="event data bytes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--configurations",
        default=",".join(CONFIGURATIONS),
        help=f"comma-separated subset of {','.join(CONFIGURATIONS)}",
    )
    parser.add_argument("--dir", type=Path, help="folder for the journals (default: a temp dir)")
    args = parser.parse_args(argv)
    configurations = [c for c in args.configurations.split(",") if c]
    unknown = set(configurations) - set(CONFIGURATIONS)
    if unknown:
        parser.error(f"unknown configurations: {', '.join(sorted(unknown))}")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for repeat in range(args.repeats):
            for configuration in configurations:
                result = one_run(
                    configuration, args.appends, args.warmup, args.payload, Path(folder)
                )
                result["repeat"] = repeat
                runs.append(result)
                print(
                    f"repeat {repeat + 1} {configuration}: "
                    f"{result['server_cpu_us_per_append']:,.0f} µs server CPU, "
                    f"{result['wall_us_per_append']:,.0f} µs wall per append",
                    flush=True,
                )
    print()
    print(table(runs, configurations))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"storage-{stamp}.json"
    document = {
        "benchmark": "storage",
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "source_digest": source_digest(),
        "runs": runs,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nraw figures: {path}")


if __name__ == "__main__":
    main()
