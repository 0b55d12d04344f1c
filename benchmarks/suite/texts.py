"""The words around the suite's tables: scenario titles, the heading, the notes."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any

from benchmarks.report import source_digest


def titles(args: argparse.Namespace) -> dict[str, str]:
    return {
        "append": f"single-event append ({args.payload} B), sequential, {args.appends} timed",
        "read": f"read a {args.events:,}-event stream ({args.payload} B events)",
        "catchup": f"catch-up subscription over {args.events:,} events",
        "live": f"live subscription, append→delivered, {args.live_events} events",
        "concurrent": (
            f"{args.appenders} concurrent appenders x {args.appends_per_appender}, one client"
        ),
        "memory": f"streaming read of {args.big_events:,} events, peak RSS growth",
        "import": (
            "import, then construct and connect a client (esdb+discover://: gossip read, "
            "node chosen), fresh process; installed dependency closure"
        ),
    }


def heading(args: argparse.Namespace) -> str:
    return (
        f"esdb_wire vs esdbclient {metadata.version('esdbclient')} on the embedded server "
        f"(own process, 127.0.0.1). Median [min-max] of {args.repeats} run(s) per client, "
        f"each a fresh client process, clients alternating. Client CPU: process_time of the "
        f"client process over the timed region (warm-up and connect excluded); server CPU: "
        f"/proc/<pid>/stat of the server process over the same region (10 ms ticks). "
        f"Latencies: per-operation perf_counter samples. HTTP/2: esdb_wire's engine (h2 = "
        f"the h2 library, the default; native = esdb_wire's own, opt-in) or esdbclient's "
        f"grpcio. Ratios pair esdb_wire's blocking drivers (both engines) with "
        f"esdbclient-sync and its asyncio drivers with esdbclient-asyncio. MB = 10^6 bytes."
    )


def server_heading(engines: list[str]) -> str:
    return (
        "The embedded server's own targets (issue 20), per server HTTP/2 engine "
        f"({', '.join(engines)}; h2 is the server's default, native opt-in). Server CPU: "
        "/proc/<pid>/stat ticks of the server process over each client's timed region, "
        "medians over every esdb_wire client's runs (the same request bytes whatever the "
        "client's engine); the main table's scenarios ran on the first engine, append, read "
        "and concurrent again on each other one, with the same clients."
    )


def breakdown_heading(breakdowns: dict[str, dict[str, Any]]) -> str:
    done = {engine: b for engine, b in breakdowns.items() if "error" not in b}
    first = next(iter(done.values()))
    costs = "; ".join(
        f"{engine}: {b['wrapper_cost_us']:.3f} µs per wrapped call, about "
        f"{b['overhead_us_per_event']:.2f} µs/event, instrumented read "
        f"{b['instrumented_cpu_us_per_event']:.2f} µs CPU/event against "
        f"{b['plain_cpu_us_per_event']:.2f} uninstrumented"
        for engine, b in done.items()
    )
    return (
        f"Framing overhead per HTTP/2 engine, esdb_wire blocking client, reading "
        f"{first['events']:,} events ({first['messages']:,} messages), one process per "
        f"engine. Method: each layer wrapped with perf_counter_ns timers for this "
        f"measurement only (wall time, single thread); the HTTP/2 layer is the engine's "
        f"(h2: H2Engine over h2's H2Connection; native: ClientHttp2Connection). Timer costs "
        f"(calibrated on a no-op; partly inside the outer layers' figures): {costs}. Layers are "
        f"wall time: on a busy machine they count time other processes took the core; the "
        f"rows under them are CPU time. Floor: ReadResp.FromString over the same captured "
        f"message bytes, tight loop, CPU time, best of 5 (each engine's process measures "
        f"it; the lower figure divides every column)."
    )


def floor_note(
    floor: float, breakdowns: dict[str, dict[str, Any]], alone: dict[str, Any] | None
) -> str:
    """Where the floor that divides the read figures comes from, and its value."""
    if alone and "error" not in alone:
        where = (
            f"measured alone ({alone['engine']} engine, {alone['messages']:,} messages, "
            "no layer timed)"
        )
    else:
        engines = ", ".join(e for e, b in breakdowns.items() if "error" not in b)
        where = f"measured by the framing breakdown ({engines}; the lowest)"
    return (
        f"- The protobuf decode floor: {floor:.3f} µs/event, ReadResp.FromString over the "
        f"read stream's message bytes (captured from an esdb_wire read in this run, tight "
        f"loop, CPU time, best of 5), {where}. A floor target divides the client's CPU per event "
        "(the whole read: HTTP/2, gRPC framing, decoding, objects, the consumer) by it."
    )


def notes(
    args: argparse.Namespace,
    part: dict[str, Any],
    sizes: dict[str, Any] | None,
    measured: str,
    engine_imports: dict[str, Any] | None = None,
) -> str:
    notes = [f"esdb_wire sources measured: digest {measured}"]
    if args.no_snapshot:
        notes.append("(work tree, not snapshotted)")
    elif source_digest() != measured:
        notes.append("(a snapshot taken at the start; the work tree has changed since)")
    seed = part.get("seed")
    if seed:
        notes.append(
            f"Seeding (untimed): {seed['read_events']:,} + {seed['big_events']:,} events of "
            f"{seed['payload']} B in {seed['seconds']:.0f} s."
        )
    if sizes and "closure" in sizes:
        where = ""
        if "cached_from" in sizes:
            where = (
                f" (cached from {sizes['cached_from']}, keyed on Python, platform and "
                f"pyproject.toml, not on source edits: --installed-size measure renews it)"
            )
        for library, closure in sizes["closure"].items():
            packages = ", ".join(f"{n} {v}" for n, v in sorted(closure["packages"].items()))
            notes.append(f"Installed closure{where} {library}: {closure['mb']:.1f} MB: {packages}.")
    elif sizes:
        notes.append(f"Installed size: FAILED {sizes.get('error')}")
    if engine_imports is not None:
        notes.append(engine_import_note(engine_imports))
    notes.append(
        "esdbclient-asyncio always appends with BatchAppend (it has no other path); "
        "esdbclient-sync with Append (one NewEvent), like esdb_wire."
    )
    return "\n".join(notes)


def engine_import_note(found: dict[str, Any]) -> str:
    """Scenario 7's ready client includes its HTTP/2 engine, loaded on its first
    connection: what importing each engine's module adds to the client's import."""
    if "error" in found:
        return f"Engine imports on first connection: FAILED {found['error']}"
    parts = []
    for engine, figures in found.items():
        packages = ", ".join(figures["packages"]) or "no third-party package"
        stdlib = figures.get("stdlib_packages")
        if stdlib:
            packages += f", {stdlib} standard-library packages"
        parts.append(
            f"{engine} engine: {figures['module']} ({packages}), "
            f"+{figures['import_ms']:.1f} ms, +{figures['import_rss_mb']:.1f} MB RSS"
        )
    return (
        "Importing esdb_wire loads no HTTP/2 engine: a client imports its engine on its "
        "first connection (part of scenario 7's ready figures). What each engine's module "
        "adds (medians of fresh processes, after the client's import): " + "; ".join(parts) + "."
    )
