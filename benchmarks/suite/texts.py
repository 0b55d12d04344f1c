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
        "import": "import (fresh process) and installed dependency closure",
    }


def heading(args: argparse.Namespace) -> str:
    return (
        f"esdb_wire vs esdbclient {metadata.version('esdbclient')} on the embedded server "
        f"(own process, 127.0.0.1). Median [min-max] of {args.repeats} run(s) per client, "
        f"each a fresh client process, clients alternating. Client CPU: process_time of the "
        f"client process over the timed region (warm-up and connect excluded); server CPU: "
        f"/proc/<pid>/stat of the server process over the same region (10 ms ticks). "
        f"Latencies: per-operation perf_counter samples. Ratios pair esdb_wire-blocking with "
        f"esdbclient-sync and esdb_wire-asyncio with esdbclient-asyncio. MB = 10^6 bytes."
    )


def breakdown_heading(breakdown: dict[str, Any]) -> str:
    return (
        f"Framing overhead, esdb_wire blocking client, reading {breakdown['events']:,} events "
        f"({breakdown['messages']:,} messages) in one process. Method: each layer wrapped "
        f"with perf_counter_ns timers for this measurement only (wall time, single thread). "
        f"One wrapped call costs {breakdown['wrapper_cost_us']:.3f} µs (calibrated on a "
        f"no-op), about {breakdown['overhead_us_per_event']:.2f} µs/event over all wrapped "
        f"calls, partly inside the outer layers' figures; the instrumented read took "
        f"{breakdown['instrumented_cpu_us_per_event']:.2f} µs CPU/event against "
        f"{breakdown['plain_cpu_us_per_event']:.2f} uninstrumented. Floor: "
        f"ReadResp.FromString over the same captured message bytes, tight loop, best of 3."
    )


def notes(
    args: argparse.Namespace,
    part: dict[str, Any],
    sizes: dict[str, Any] | None,
    measured: str,
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
    notes.append(
        "esdbclient-asyncio always appends with BatchAppend (it has no other path); "
        "esdbclient-sync with Append (one NewEvent), like esdb_wire."
    )
    return "\n".join(notes)
