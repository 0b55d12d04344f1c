"""cProfile of esdb_wire's blocking client on one server stream, to find hot spots.

``python -m benchmarks.profile_transport [--stream N] [--server s2|s2-trickle|s1]
[--engine h2|native] [--top 25] [--sort tottime] [--save FILE.pstats]`` starts the
server in its own process, warms up with a 1,000-message stream, then profiles one
stream of N 300-byte messages (default: 100,000 on the dense S2 server) and prints the
top functions. The profiler inflates per-call costs, so compare shares, not absolute
times, with the benchmark.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sysconfig
import time
from typing import Any

from benchmarks.common import (
    HOST,
    PROJECT_ROOT,
    STREAM_MESSAGE_SIZE,
    STREAM_PATH,
    STREAM_WARMUP,
    arm_watchdog,
    stream_request,
)
from benchmarks.procs import ServerProcess
from esdb_wire.transport.blocking import Channel


def _consume(channel: Channel, count: int) -> int:
    received = 0
    for _ in channel.unary_stream(STREAM_PATH, stream_request(count, STREAM_MESSAGE_SIZE)):
        received += 1
    return received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_transport")
    parser.add_argument("--stream", type=int, default=100_000, help="messages to profile")
    parser.add_argument("--server", choices=("s2", "s2-trickle", "s1"), default="s2")
    parser.add_argument(
        "--engine", choices=("h2", "native"), default="h2", help="the client's HTTP/2 engine"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="a pstats sort key")
    parser.add_argument("--save", help="also write the raw profile here (pstats format)")
    args = parser.parse_args(argv)
    arm_watchdog(600)
    with (
        ServerProcess(args.server, lifetime=600) as server,
        Channel(HOST, server.port, http2_engine=args.engine) as channel,
    ):
        _consume(channel, STREAM_WARMUP)
        profiler = cProfile.Profile()
        started = time.process_time()
        profiler.enable()
        received = _consume(channel, args.stream)
        profiler.disable()
        cpu = time.process_time() - started
    if received != args.stream:
        raise SystemExit(f"received {received} of {args.stream} messages")
    print(
        f"esdb_wire blocking client ({args.engine} engine), one stream of {args.stream} x "
        f"{STREAM_MESSAGE_SIZE} B from {args.server}: {cpu:.2f} s CPU under cProfile "
        f"({cpu / args.stream * 1e6:.2f} µs/msg)"
    )
    if args.save:
        profiler.dump_stats(args.save)
    print_top(pstats.Stats(profiler), args.sort, args.top)


def _short(path: str) -> str:
    """A path relative to the project, site-packages or the stdlib (h2's connection.py
    and esdb_wire's both exist, so bare file names would be ambiguous)."""
    roots = [str(PROJECT_ROOT), *{sysconfig.get_path(k) for k in ("purelib", "platlib", "stdlib")}]
    for root in sorted(roots, key=len, reverse=True):
        if path.startswith(root + os.sep):
            return path[len(root) + 1 :]
    return path


def print_top(stats: pstats.Stats, sort: str, top: int) -> None:
    stats.sort_stats(sort)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    order: list[Any] = stats.fcn_list or list(table)  # type: ignore[attr-defined]
    print(f"{'ncalls':>10} {'tottime':>8} {'µs/call':>8} {'cumtime':>8}  function")
    for func in order[:top]:
        _, ncalls, tottime, cumtime, _ = table[func]
        path, line, name = func
        where = name if path == "~" else f"{_short(path)}:{line}({name})"
        per_call = tottime / ncalls * 1e6 if ncalls else 0.0
        print(f"{ncalls:>10} {tottime:>8.3f} {per_call:>8.2f} {cumtime:>8.3f}  {where}")


if __name__ == "__main__":
    main()
