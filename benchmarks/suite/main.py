"""The client benchmark suite: esdb_wire, on both HTTP/2 engines, against esdbclient 1.1.7
on the embedded server.

Run from the project root (``make bench`` does)::

    python -m benchmarks [--events N] [--big-events M] [--payload B] [--repeats R]
                         [--scenarios a,b] [--clients a,b] [--installed-size auto|measure|skip]

Clients: esdb_wire's blocking and asyncio drivers on the h2 engine (the default;
``esdb_wire-blocking``, ``esdb_wire-asyncio``) and on the native engine (``...-native``),
and esdbclient's sync and asyncio clients. The embedded server runs in its own process
for the whole run, on the first HTTP/2 engine of ``--server-engines``, and is seeded
once, outside every timed region; for each further server engine the scenarios of the
server's own targets run again against a server on that engine
(:mod:`benchmarks.suite.server_engines`). Each (client,
scenario) measurement is a fresh client process (its own ``process_time`` and RSS);
clients alternate A, B, C, ..., A, B, C, ... over the repeats. The framing breakdown runs
once per engine. The table goes to stdout, progress to stderr, and the raw figures with
machine information to benchmarks/results/bench-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import PROJECT_ROOT, PYTHON
from benchmarks.procs import layout_env, snapshot_sources
from benchmarks.report import machine_info, source_digest
from benchmarks.suite import imports, server_engines, texts
from benchmarks.suite.config import (
    DRIVERS,
    ENGINE_NAMES,
    ENGINES,
    SCENARIO_NAMES,
    SCENARIOS,
    Params,
)
from benchmarks.suite.seed import BIG_STREAM, READ_STREAM
from benchmarks.suite.server import EmbeddedServerProcess
from benchmarks.suite.tables import Summary, breakdown_table, cells, verdict_lines

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
SERVER_ENGINE_NAMES = ("h2", "native")
CLIENT_SCENARIOS = tuple(s.name for s in SCENARIOS if s.client_runs)


def _names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {allowed}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="python -m benchmarks transport --help: the transport micro-benchmark.",
    )
    add = parser.add_argument
    add("--events", type=int, default=100_000, help="events of the read/catch-up stream")
    add("--big-events", type=int, default=1_000_000, help="events of the memory scenario")
    add("--payload", type=int, default=300, help="bytes of data per event (>= 32)")
    add("--repeats", type=int, default=3, help="runs per client and scenario")
    add("--appends", type=int, default=2000, help="timed appends (scenario 1)")
    add("--append-warmup", type=int, default=200)
    add("--live-events", type=int, default=1000, help="timed live deliveries (scenario 4)")
    add("--live-warmup", type=int, default=50)
    add("--appenders", type=int, default=64, help="concurrent appenders (scenario 5)")
    add("--appends-per-appender", type=int, default=50)
    add("--import-repeats", type=int, default=7, help="fresh processes per client (scen. 7)")
    add(
        "--installed-size",
        choices=("auto", "measure", "skip"),
        default="auto",
        help="dependency-closure size: reuse a cached figure (auto), measure (needs PyPI), skip",
    )
    add(
        "--scenarios",
        type=lambda text: _names(text, SCENARIO_NAMES, "scenario"),
        default=list(SCENARIO_NAMES),
        help=f"comma-separated subset of {','.join(SCENARIO_NAMES)}",
    )
    add(
        "--clients",
        type=lambda text: _names(text, DRIVERS, "client"),
        default=list(DRIVERS),
        help=f"comma-separated subset of {','.join(DRIVERS)}",
    )
    add(
        "--server-engines",
        type=lambda text: _names(text, SERVER_ENGINE_NAMES, "server engine"),
        default=list(SERVER_ENGINE_NAMES),
        help="the embedded server's HTTP/2 engines, comma-separated: the scenarios run on "
        "the first; append, read and concurrent again on each other one (default h2,native)",
    )
    add("--timeout", type=float, default=900.0, help="per client run (seconds)")
    add("--output", type=Path, help="JSON file (default benchmarks/results/bench-*.json)")
    add(
        "--no-snapshot",
        action="store_true",
        help="run the work tree's esdb_wire directly instead of a copy taken at the start",
    )
    args = parser.parse_args(argv)
    counts = ("events", "repeats", "appends", "live_events", "appenders", "appends_per_appender")
    if any(getattr(args, name) < 1 for name in counts) or args.import_repeats < 1:
        parser.error("counts must be positive")
    if args.payload < 32:
        parser.error("--payload must be at least 32 bytes")
    if "memory" in args.scenarios and args.big_events < 1:
        parser.error("--big-events must be positive for the memory scenario")
    return args


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_client(
    driver: str, scenario: str, params: Params, timeout: float, root: Path, repeat: int = 0
) -> dict[str, Any]:
    """One client run in a fresh process; its JSON document, or ``{"error": ...}``."""
    command = [
        PYTHON,
        "-m",
        "benchmarks.suite.run",
        driver,
        scenario,
        "--params",
        params.to_json(),
        "--timeout",
        str(timeout),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            check=False,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout + 15,
            env=layout_env(repeat),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout + 15:g}s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        status = f"exit status {done.returncode}"
        if done.returncode == -signal.SIGALRM:
            status = "killed by its own watchdog (--timeout)"
        return {"error": f"{status}: " + " | ".join(tail)}
    document: dict[str, Any] = json.loads(lines[-1])
    document["process_wall"] = time.perf_counter() - started
    return document


def _helper(module: str, arguments: list[str], timeout: float, root: Path) -> dict[str, Any]:
    """Run ``python -m module ...`` (seeding, breakdown); its last stdout line as JSON."""
    done = subprocess.run(
        [PYTHON, "-m", module, *arguments, "--timeout", str(timeout)],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout + 15,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{module} failed (exit status {done.returncode}): {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_server_part(
    args: argparse.Namespace,
    root: Path,
    server: EmbeddedServerProcess,
    scenarios: list[str],
    engine: str,
    first: bool = True,
) -> dict[str, Any]:
    """Seeding, ``scenarios`` (client scenarios) and, if asked for, the framing breakdown,
    on ``server`` (whose HTTP/2 engine is ``engine``; the protobuf floor is measured on
    the ``first`` server only)."""
    client_scenarios = [name for name in scenarios if name in CLIENT_SCENARIOS]
    needs_read = bool({"read", "catchup", "framing"} & set(scenarios))
    total = len(client_scenarios) * args.repeats * len(args.clients)
    part: dict[str, Any] = {"runs": [], "breakdowns": {}}
    progress(f"seeding the {engine} server…")
    started = time.perf_counter()
    seed = _helper(
        "benchmarks.suite.seed",
        [
            "--port",
            str(server.port),
            "--events",
            str(args.events if needs_read else 0),
            "--big-events",
            str(args.big_events if "memory" in scenarios else 0),
            "--payload",
            str(args.payload),
        ],
        max(args.timeout, 3600.0),
        root,
    )
    seed["seconds"] = time.perf_counter() - started
    seed["server_rss_mb"] = server.rss_mb()
    part["seed"] = seed
    progress(f"seeded in {seed['seconds']:.0f} s (server RSS {seed['server_rss_mb']:.0f} MB)")
    cpu_before = server.cpu_seconds()
    for scenario in client_scenarios:
        for repeat in range(args.repeats):
            for driver in args.clients:
                params = _params(args, server, seed, f"{repeat}-{uuid.uuid4().hex[:10]}")
                run = {
                    "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "scenario": scenario,
                    "client": driver,
                    "repeat": repeat,
                    "server_engine": engine,
                    **run_client(driver, scenario, params, args.timeout, root, repeat),
                }
                part["runs"].append(run)
                _report_run(len(part["runs"]), total, run)
    if "framing" in scenarios:
        part["breakdowns"] = run_breakdowns(args, server.port, root)
    elif "read" in scenarios and first:
        part["floor"] = run_floor(args, server.port, root)
    part["server"] = {
        "http2_engine": engine,
        "pid": server.pid,
        "cpu_seconds_scenarios": server.cpu_seconds() - cpu_before,
        "rss_mb_end": server.rss_mb(),
    }
    return part


def breakdown_engines(clients: list[str]) -> list[str]:
    """The engines of the chosen esdb_wire clients (both if none is chosen), in order."""
    chosen = {ENGINES[client] for client in clients if client in ENGINES}
    return [engine for engine in ENGINE_NAMES if engine in chosen or not chosen]


def run_breakdowns(args: argparse.Namespace, port: int, root: Path) -> dict[str, Any]:
    """The framing breakdown (esdb_wire blocking client), once per engine."""
    found: dict[str, Any] = {}
    for engine in breakdown_engines(args.clients):
        progress(f"framing breakdown (esdb_wire blocking client, {engine} engine)…")
        try:
            found[engine] = _helper(
                "benchmarks.suite.breakdown",
                ["--port", str(port), "--stream", READ_STREAM, "--engine", engine],
                args.timeout,
                root,
            )
        except (RuntimeError, subprocess.SubprocessError) as exc:
            progress(f"framing breakdown ({engine} engine): FAILED {exc}")
            found[engine] = {"error": str(exc)}
    return found


def run_floor(args: argparse.Namespace, port: int, root: Path) -> dict[str, Any]:
    """The protobuf floor alone (the read scenario's targets need one from the same run
    when the framing breakdown, which measures it too, does not run)."""
    engine = breakdown_engines(args.clients)[0]
    progress(f"protobuf decode floor (esdb_wire blocking client, {engine} engine)…")
    try:
        return _helper(
            "benchmarks.suite.breakdown",
            ["--port", str(port), "--stream", READ_STREAM, "--engine", engine, "--floor-only"],
            args.timeout,
            root,
        )
    except (RuntimeError, subprocess.SubprocessError) as exc:
        progress(f"protobuf decode floor: FAILED {exc}")
        return {"error": str(exc)}


def _floor(breakdowns: dict[str, Any], floor: dict[str, Any] | None = None) -> float | None:
    """The protobuf floor: the lowest of the engines' measurements (the same bytes), or
    the floor measured alone."""
    documents = [*breakdowns.values(), *([floor] if floor else [])]
    floors = [d["floor_us_per_event"] for d in documents if "error" not in d]
    return min(floors) if floors else None


def _params(
    args: argparse.Namespace, server: EmbeddedServerProcess, seed: dict[str, Any], run_id: str
) -> Params:
    return Params(
        port=server.port,
        server_pid=server.pid,
        run_id=run_id,
        payload=args.payload,
        appends=args.appends,
        append_warmup=args.append_warmup,
        read_stream=READ_STREAM,
        read_events=args.events,
        catchup_from=seed["catchup_from"],
        big_stream=BIG_STREAM,
        big_events=args.big_events,
        live_events=args.live_events,
        live_warmup=args.live_warmup,
        appenders=args.appenders,
        appends_per_appender=args.appends_per_appender,
    )


def _report_run(done: int, total: int, run: dict[str, Any]) -> None:
    where = (
        f"[{done}/{total}] {run['scenario']} {run['client']} #{run['repeat'] + 1} "
        f"({run['server_engine']} server)"
    )
    if "error" in run:
        progress(f"{where}: FAILED {run['error']}")
        return
    shown = ", ".join(f"{key} {value:.4g}" for key, value in run["figures"].items())
    progress(f"{where}: {shown}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = datetime.now(timezone.utc)
    wall_start = time.perf_counter()
    machine = machine_info()
    for name in ("esdbclient", "grpcio", "protobuf"):
        try:
            machine["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            machine["packages"][name] = None
    part: dict[str, Any] = {"runs": [], "breakdowns": {}}
    import_runs: list[dict[str, Any]] = []
    sizes: dict[str, Any] | None = None
    engine_imports: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="esdb-wire-bench-") as tmp:
        root = PROJECT_ROOT if args.no_snapshot else snapshot_sources(Path(tmp))
        measured = source_digest(root)
        total = len(CLIENT_SCENARIOS) * args.repeats * len(args.clients)
        lifetime = args.timeout * (total + 4) + 3600
        engines = args.server_engines
        extra_parts = {}
        with EmbeddedServerProcess(lifetime=lifetime, root=root, http2_engine=engines[0]) as server:
            progress(f"embedded server ({engines[0]} engine): pid {server.pid}, port {server.port}")
            if set(args.scenarios) - {"import"}:
                part = run_server_part(args, root, server, args.scenarios, engines[0])
            if "import" in args.scenarios:
                progress("import and a ready client: time and RSS…")
                import_runs = imports.import_runs(
                    args.clients, args.import_repeats, root, server.port, progress
                )
        again = [name for name in server_engines.SERVER_SCENARIOS if name in args.scenarios]
        for engine in engines[1:] if again else ():
            with EmbeddedServerProcess(lifetime=lifetime, root=root, http2_engine=engine) as other:
                progress(f"embedded server ({engine} engine): pid {other.pid}, port {other.port}")
                extra_parts[engine] = run_server_part(args, root, other, again, engine, False)
        if "import" in args.scenarios:
            engine_imports = imports.engine_imports(root, args.import_repeats)
            progress(f"installed size ({args.installed_size})…")
            sizes = imports.installed_sizes(args.installed_size, root, RESULTS)
    runs = part["runs"] + import_runs + imports.size_runs(sizes, args.clients)
    server_runs = part["runs"] + [run for extra in extra_parts.values() for run in extra["runs"]]
    breakdowns: dict[str, Any] = part["breakdowns"]
    floor_document = part.get("floor")
    floor = _floor(breakdowns, floor_document)
    summary = Summary(cells(runs, args.clients), floor)
    wall = time.perf_counter() - wall_start
    named = texts.titles(args)
    print(texts.heading(args))
    print()
    print(summary.table(named))
    print()
    print("Targets (esdb_wire medians against esdbclient's, or the floor, same run):")
    print("\n".join(verdict_lines(summary)) or "- none evaluated")
    if floor is not None:
        print(texts.floor_note(floor, breakdowns, floor_document))
    if server_runs and set(server_engines.SERVER_SCENARIOS) & set(args.scenarios):
        print()
        print(texts.server_heading(engines))
        print()
        print(server_engines.table(server_runs, engines))
        print()
        print("\n".join(server_engines.verdict_lines(server_runs, engines)))
    table = breakdown_table(breakdowns)
    if table:
        print()
        print(texts.breakdown_heading(breakdowns))
        print()
        print(table)
    print()
    print(texts.notes(args, part, sizes, measured, engine_imports))
    machine["esdb_wire_digest"] = measured
    machine["esdb_wire_snapshot"] = not args.no_snapshot
    document = {
        "benchmark": "client-suite",
        "started": started.isoformat(),
        "wall_seconds": wall,
        "command": [sys.executable, "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
        "settings": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
        "machine": machine,
        "seed": part.get("seed"),
        "server": part.get("server"),
        "server_engines": {
            engine: {"seed": extra.get("seed"), "server": extra.get("server")}
            for engine, extra in extra_parts.items()
        },
        "server_targets": server_engines.documents(server_runs, engines),
        "summaries": [cell.as_dict() for cell in summary.cells.values()],
        "targets": [verdict.as_dict() for verdict in summary.verdicts()],
        "breakdowns": breakdowns,
        "floor": floor_document,
        "floor_us_per_event": floor,
        "engine_imports": engine_imports,
        "installed_sizes": sizes,
        "runs": runs + [run for extra in extra_parts.values() for run in extra["runs"]],
    }
    path = _write_json(args.output, started, document)
    shown = path.relative_to(PROJECT_ROOT) if PROJECT_ROOT in path.parents else path
    print(f"Wall time {wall:.0f} s. Raw figures: {shown}")
    documents = [*breakdowns.values(), *([floor_document] if floor_document else [])]
    if any("error" in run for run in document["runs"]) or any("error" in d for d in documents):
        sys.exit(1)


def _write_json(output: Path | None, started: datetime, document: dict[str, Any]) -> Path:
    path = output or RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    main()
