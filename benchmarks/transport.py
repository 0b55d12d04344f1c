"""Transport micro-benchmark: esdb_wire's gRPC drivers, on both HTTP/2 engines, against
grpcio and grpclib.

Run from the project root::

    python -m benchmarks transport [--unary N] [--stream N] [--repeats R] [--clients a,b]

esdb_wire's clients come once per driver and engine: ``esdb-blocking`` and ``esdb-aio``
run the default engine (h2), ``esdb-blocking-native`` and ``esdb-aio-native`` the native
one (``http2_engine="native"``).

Every server and every client run gets its own process on 127.0.0.1; the figure that
matters is the client's CPU time per call / per message (``time.process_time()`` of the
client process over the timed region, which excludes connecting and warming up).
Runs of different clients alternate (A, B, A, B, ...), and each repeat runs them all with
another environment size (``procs.layout_env``: the process layout moves CPU figures).
The table goes to stdout, progress to stderr, raw figures and machine information to
benchmarks/results/transport-*.json.
See benchmarks/profile_transport.py for a cProfile view of the esdb_wire client.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.clients import CLIENTS, ESDB_ENGINES, STREAM_ONLY
from benchmarks.common import (
    PROJECT_ROOT,
    STREAM_MESSAGE_SIZE,
    STREAM_WARMUP,
    UNARY_PAYLOAD_SIZE,
    UNARY_WARMUP,
)
from benchmarks.procs import ServerProcess, run_client, snapshot_sources
from benchmarks.report import (
    UNARY_TARGET,
    Summary,
    machine_info,
    markdown_table,
    source_digest,
    summarise,
    target_lines,
    unary_targets,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    op: str  # "unary" or "stream"
    server: str  # a kind of benchmarks.servers
    description: str


SCENARIOS = (
    Scenario("unary/s1", "unary", "s1", "unary echo, S1 grpcio"),
    Scenario("unary/s2", "unary", "s2", "unary echo, S2 h2"),
    Scenario("stream/s2", "stream", "s2", "stream, S2 dense 16 KiB frames"),
    Scenario("stream/s2-trickle", "stream", "s2-trickle", "stream, S2 trickle 1 msg/frame"),
    Scenario("stream/s1", "stream", "s1", "stream, S1 grpcio"),
)


def _names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {allowed}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks transport",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--unary", type=int, default=2000, help="timed unary calls per run")
    parser.add_argument("--stream", type=int, default=100_000, help="messages per timed stream")
    parser.add_argument("--repeats", type=int, default=3, help="runs per client and scenario")
    parser.add_argument(
        "--clients",
        type=lambda text: _names(text, tuple(CLIENTS), "client"),
        default=list(CLIENTS),
        help=f"comma-separated subset of {','.join(CLIENTS)}",
    )
    scenario_names = tuple(scenario.name for scenario in SCENARIOS)
    parser.add_argument(
        "--scenarios",
        type=lambda text: _names(text, scenario_names, "scenario"),
        default=list(scenario_names),
        help=f"comma-separated subset of {','.join(scenario_names)}",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per client run (s)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/)")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the work tree's esdb_wire directly instead of a copy taken at the start",
    )
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.unary < 1 or args.stream < 1 or args.repeats < 1:
        parser.error("--unary, --stream and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = datetime.now(timezone.utc)
    wall_start = time.perf_counter()
    machine = machine_info()
    scenarios = [scenario for scenario in SCENARIOS if scenario.name in args.scenarios]
    plan = [
        (scenario, [c for c in args.clients if scenario.op == "stream" or c not in STREAM_ONLY])
        for scenario in scenarios
    ]
    with tempfile.TemporaryDirectory(prefix="esdb-wire-bench-") as tmp:
        root = PROJECT_ROOT if args.no_snapshot else snapshot_sources(Path(tmp))
        measured = source_digest(root)
        runs = _run_plan(args, plan, root)
    summaries = [
        summarise(
            scenario.name,
            client,
            [r for r in runs if r["scenario"] == scenario.name and r["client"] == client],
        )
        for scenario, clients in plan
        for client in clients
    ]
    wall = time.perf_counter() - wall_start
    print(_heading(args))
    print()
    print(markdown_table(summaries, {s.name: s.description for s in SCENARIOS}))
    print()
    targets = unary_targets(summaries)
    if targets:
        client, baseline, bound = UNARY_TARGET
        print(
            f"Target (issue 13): {client} (h2 engine) CPU per unary call ÷ {baseline}'s "
            f"(sync), same server: state the ratio, aim <= {bound:.1f}x."
        )
        print("\n".join(target_lines(targets)))
        print()
    note = f"esdb_wire sources measured: digest {measured}"
    if args.no_snapshot:
        note += " (work tree, not snapshotted)"
    elif source_digest() != measured:
        note += ", a snapshot taken at the start; the work tree has changed since"
    print(note + ".")
    machine["esdb_wire_digest"] = measured
    machine["esdb_wire_snapshot"] = not args.no_snapshot
    path = _write_json(
        args, started=started, wall=wall, machine=machine, runs=runs, summaries=summaries
    )
    shown = path.relative_to(PROJECT_ROOT) if PROJECT_ROOT in path.parents else path
    print(f"Wall time {wall:.0f} s. Raw figures: {shown}")
    if any("error" in run for run in runs):
        sys.exit(1)


def _run_plan(
    args: argparse.Namespace, plan: list[tuple[Scenario, list[str]]], root: Path
) -> list[dict[str, Any]]:
    """One server process per scenario; client runs alternate (A, B, C, A, B, C, ...)."""
    total = sum(len(clients) for _, clients in plan) * args.repeats
    runs: list[dict[str, Any]] = []
    for scenario, clients in plan:
        n = args.unary if scenario.op == "unary" else args.stream
        lifetime = (args.timeout + 30) * args.repeats * max(len(clients), 1) + 60
        with ServerProcess(scenario.server, lifetime=lifetime, root=root) as server:
            for repeat in range(args.repeats):
                for client in clients:
                    run_started = datetime.now(timezone.utc).isoformat(timespec="seconds")
                    sample = run_client(
                        client, scenario.op, server.port, n, args.timeout, root=root, repeat=repeat
                    )
                    run = {
                        "started": run_started,
                        "scenario": scenario.name,
                        "op": scenario.op,
                        "server": scenario.server,
                        "client": client,
                        "repeat": repeat,
                        "n": n,
                        **sample,
                    }
                    runs.append(run)
                    _progress(len(runs), total, run)
    return runs


def _heading(args: argparse.Namespace) -> str:
    return (
        f"Client CPU per operation (process_time of the client process, timed region only) "
        f"and operations/s; median [min-max] of {args.repeats} run(s). "
        f"Unary: {args.unary} calls of {UNARY_PAYLOAD_SIZE} B after {UNARY_WARMUP} warm-up calls. "
        f"Stream: {args.stream} messages of {STREAM_MESSAGE_SIZE} B after a "
        f"{STREAM_WARMUP}-message warm-up stream. Ratios: esdb_wire CPU/op ÷ the baseline's. "
        f"HTTP/2: esdb_wire's engine (h2 = the h2 library, the default; native = esdb_wire's "
        f"own), grpcio's C core, or h2 (grpclib)."
    )


def _progress(done: int, total: int, run: dict[str, Any]) -> None:
    where = f"[{done}/{total}] {run['scenario']} {run['client']} #{run['repeat'] + 1}"
    if "error" in run:
        print(f"{where}: FAILED {run['error']}", file=sys.stderr, flush=True)
        return
    cpu_us = run["cpu"] / run["n"] * 1e6
    rate = run["n"] / run["wall"]
    print(f"{where}: {cpu_us:.2f} µs/op, {rate:.0f} ops/s", file=sys.stderr, flush=True)


def _write_json(
    args: argparse.Namespace,
    *,
    started: datetime,
    wall: float,
    machine: dict[str, Any],
    runs: list[dict[str, Any]],
    summaries: list[Summary],
) -> Path:
    path: Path = args.output or (
        PROJECT_ROOT
        / "benchmarks"
        / "results"
        / f"transport-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "transport",
        "started": started.isoformat(),
        "wall_seconds": wall,
        "command": [sys.executable, "-m", "benchmarks", "transport", *args.argv],
        "settings": {
            "unary": args.unary,
            "stream": args.stream,
            "repeats": args.repeats,
            "clients": args.clients,
            "scenarios": args.scenarios,
            "timeout": args.timeout,
            "unary_payload_size": UNARY_PAYLOAD_SIZE,
            "unary_warmup": UNARY_WARMUP,
            "stream_message_size": STREAM_MESSAGE_SIZE,
            "stream_warmup": STREAM_WARMUP,
        },
        "machine": machine,
        "summaries": [summary.as_dict() for summary in summaries],
        "engines": {
            client: ESDB_ENGINES[client] for client in args.clients if client in ESDB_ENGINES
        },
        "targets": unary_targets(summaries),
        "runs": runs,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    main()
