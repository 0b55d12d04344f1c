"""The embedded server's CPU per operation, and where it goes (cProfile).

``python -m benchmarks.profile_server [--scenario append|read|concurrent] [--count N]
[--profile] [--top 30] [--client-engine h2|native] [--server-engine h2|native]
[--repeats R] [--save FILE.pstats]`` starts the embedded server in its own process
(``--serve`` below) and drives it from this one with esdb_wire's client:

* ``append``: N single-event appends to one stream, one after another (blocking client);
* ``read``: one read of a stream of N events (300 B each, seeded and read once before
  timing);
* ``concurrent``: 64 asyncio tasks appending single events through one client, N in all.

The server measures itself: the CPU time of its event loop thread
(``time.thread_time``) over exactly the timed region, which the driver brackets with
``begin``/``end`` lines on the server's stdin; with ``--profile`` the loop thread runs
under cProfile over the same region and the server prints where its time went, by layer
(h2, hpack, hyperframe, the server's HTTP/2 adapter, the host, the services, the store,
protobuf, asyncio and the socket calls) and by function. The profiler inflates per-call
costs, so compare the shares, not the absolute times, with the unprofiled figure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.common import HOST, PROJECT_ROOT, PYTHON, arm_watchdog
from benchmarks.profile_transport import print_top

PAYLOAD = 300
APPENDERS = 64
WARMUP = 500

# Layers of the server, by the file a function lives in (first match wins).
LAYERS = (
    ("h2", ("site-packages/h2/",)),
    ("hpack", ("site-packages/hpack/",)),
    ("hyperframe", ("site-packages/hyperframe/",)),
    ("protobuf", ("google/protobuf/",)),
    ("server HTTP/2 engine: native", ("esdb_wire/server/http2/native_engine",)),
    ("server HTTP/2 engine: h2 adapter", ("esdb_wire/server/http2/h2_engine",)),
    ("server gRPC over HTTP/2 (calls, budgets)", ("esdb_wire/server/http2/",)),
    ("shared HTTP/2 and gRPC framing", ("esdb_wire/transport/",)),
    ("host (asyncio protocol, calls)", ("esdb_wire/server/host",)),
    ("store", ("esdb_wire/server/store", "esdb_wire/server/commit_check")),
    ("services", ("esdb_wire/server/", "esdb_wire/protos/")),
    ("asyncio", ("asyncio/",)),
    ("selectors", ("selectors.py",)),
)


def layer_of(path: str, name: str) -> str:
    if path == "~":
        if "socket" in name or "send" in name or "recv" in name:
            return "socket calls"
        if "poll" in name or "select" in name:
            return "epoll"
        return "builtins"
    for layer, needles in LAYERS:
        if any(needle in path for needle in needles):
            return layer
    return "other"


def print_layers(stats: pstats.Stats, operations: int) -> None:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (path, _line, name), (_cc, _nc, tottime, _ct, _callers) in table.items():
        layer = layer_of(path, name)
        totals[layer] = totals.get(layer, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    print(f"{'layer':<42} {'share':>6} {'µs/op (profiled)':>17}")
    for layer, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        share = seconds / whole * 100
        print(f"{layer:<42} {share:>5.1f}% {seconds / operations * 1e6:>17.2f}")


# -- the server process ----------------------------------------------------------------


class Split:
    """CPU time of the loop thread inside the protocol's ``data_received`` (the server's
    own work: HTTP/2, gRPC, handlers, store), of which inside ``transport.write`` (the send
    system call), the rest being the event loop's (epoll, recv, callbacks)."""

    def __init__(self) -> None:
        self.received = 0.0
        self.written = 0.0
        self.active = False

    def install(self) -> None:
        from esdb_wire.server import host  # noqa: PLC0415

        protocol = host._ServerProtocol
        received = protocol.data_received
        clock = time.thread_time
        split = self

        def data_received(self: Any, data: bytes) -> None:
            if not split.active:
                received(self, data)
                return
            transport = self.transport
            write = transport.write

            def timed_write(chunk: bytes) -> None:
                began = clock()
                write(chunk)
                split.written += clock() - began

            transport.write = timed_write
            began = clock()
            try:
                received(self, data)
            finally:
                split.received += clock() - began
                del transport.write

        protocol.data_received = data_received  # type: ignore[method-assign]

    def report(self, cpu: float, operations: int) -> str:
        own = self.received - self.written
        rest = cpu - self.received
        return (
            f"split (unprofiled, µs/op): server code {own / operations * 1e6:.1f}, "
            f"send {self.written / operations * 1e6:.1f}, "
            f"event loop + recv + epoll {rest / operations * 1e6:.1f}"
        )


def serve(server_engine: str | None) -> None:
    """Run the embedded server; answer ``begin``/``end [profile top]`` lines on stdin."""
    from esdb_wire import EmbeddedServer  # noqa: PLC0415

    arm_watchdog(1800)
    split = Split()
    split.install()
    kwargs: dict[str, Any] = {}
    if server_engine is not None:
        kwargs["http2_engine"] = server_engine
    server = EmbeddedServer(**kwargs)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(server.start_async())
    print(json.dumps({"port": server.port}), flush=True)
    state: dict[str, Any] = {}

    def begin(profile: bool) -> None:
        split.active = not profile
        split.received = split.written = 0.0
        # CPU time, not wall time: waiting in epoll is not the server's cost.
        state["profiler"] = cProfile.Profile(time.thread_time) if profile else None
        state["started"] = time.thread_time()
        if state["profiler"] is not None:
            state["profiler"].enable()

    def end(operations: int, top: int, save: str) -> None:
        profiler = state["profiler"]
        if profiler is not None:
            profiler.disable()
        cpu = time.thread_time() - state["started"]
        report = ""
        if split.active:
            split.active = False
            report = split.report(cpu, operations)
        if profiler is not None:
            if save:
                profiler.dump_stats(save)
            out = io.StringIO()
            saved, sys.stdout = sys.stdout, out
            try:
                stats = pstats.Stats(profiler)
                print_layers(stats, operations)
                print()
                print_top(stats, "tottime", top)
            finally:
                sys.stdout = saved
            report = out.getvalue()
        print(json.dumps({"cpu": cpu, "report": report}), flush=True)

    def control() -> None:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "begin":
                loop.call_soon_threadsafe(begin, words[1] == "1")
            elif words[0] == "end":
                save = words[3] if len(words) > 3 else ""
                loop.call_soon_threadsafe(end, int(words[1]), int(words[2]), save)
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=control, daemon=True).start()
    loop.run_forever()


class ServerUnderTest:
    """The server process, driven over its stdin/stdout."""

    def __init__(self, server_engine: str | None) -> None:
        command = [PYTHON, "-m", "benchmarks.profile_server", "--serve"]
        if server_engine is not None:
            command += ["--server-engine", server_engine]
        self.proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def _say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def begin(self, profile: bool) -> None:
        self._say(f"begin {int(profile)}")
        time.sleep(0.05)  # let the loop run it before the first request

    def end(self, operations: int, top: int, save: str | None) -> dict[str, Any]:
        self._say(f"end {operations} {top} {save or ''}".rstrip())
        assert self.proc.stdout is not None
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return result

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the driver ------------------------------------------------------------------------


def _events(count: int, start: int = 0) -> list[Any]:
    from benchmarks.suite.measure import event_data  # noqa: PLC0415
    from esdb_wire import NewEvent  # noqa: PLC0415

    return [NewEvent("BenchEvent", event_data(start + i, PAYLOAD)) for i in range(count)]


def drive_append(server: ServerUnderTest, args: argparse.Namespace, run: int) -> dict[str, Any]:
    from esdb_wire import EsdbClient  # noqa: PLC0415

    stream = f"profile-append-{os.getpid()}-{run}"
    with EsdbClient(f"{HOST}:{server.port}", http2_engine=args.client_engine) as client:
        for event in _events(WARMUP):
            client.append_events(stream, -1, (event,))
        events = _events(args.count, WARMUP)
        server.begin(args.profile)
        for event in events:
            client.append_events(stream, -1, (event,))
        return server.end(args.count, args.top, args.save)


def drive_read(server: ServerUnderTest, args: argparse.Namespace, run: int) -> dict[str, Any]:
    from esdb_wire import EsdbClient  # noqa: PLC0415

    stream = f"profile-read-{os.getpid()}-{run}"
    with EsdbClient(f"{HOST}:{server.port}", http2_engine=args.client_engine) as client:
        events = _events(args.count)
        for first in range(0, len(events), 2000):
            client.append_events(stream, -1, events[first : first + 2000])
        # Warm-up: a first read encodes each record once (kept for every later read, as
        # in the benchmark suite, whose read stream is read by run after run).
        sum(1 for _ in client.read_stream_events(stream))
        server.begin(args.profile)
        count = sum(1 for _ in client.read_stream_events(stream))
        result = server.end(count, args.top, args.save)
    if count != args.count:
        raise SystemExit(f"read {count} of {args.count} events")
    return result


def drive_concurrent(server: ServerUnderTest, args: argparse.Namespace, run: int) -> dict[str, Any]:
    from esdb_wire.client.aio import AsyncEsdbClient  # noqa: PLC0415

    per = max(1, args.count // APPENDERS)

    async def main() -> tuple[dict[str, Any], float]:
        client = AsyncEsdbClient(f"{HOST}:{server.port}", http2_engine=args.client_engine)
        streams = [f"profile-concurrent-{os.getpid()}-{run}-{n}" for n in range(APPENDERS)]
        batches = [_events(per + 1) for _ in range(APPENDERS)]
        try:
            await asyncio.gather(
                *(client.append_events(streams[n], -1, batches[n][:1]) for n in range(APPENDERS))
            )

            async def work(number: int) -> None:
                for event in batches[number][1:]:
                    await client.append_events(streams[number], -1, (event,))

            server.begin(args.profile)
            started = time.perf_counter()
            await asyncio.gather(*(work(n) for n in range(APPENDERS)))
            wall = time.perf_counter() - started
            return server.end(per * APPENDERS, args.top, args.save), wall
        finally:
            await client.close()

    result, wall = asyncio.run(main())
    result["rate"] = per * APPENDERS / wall
    return result


DRIVERS = {"append": drive_append, "read": drive_read, "concurrent": drive_concurrent}
DEFAULT_COUNTS = {"append": 3000, "read": 100_000, "concurrent": 6400}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_server")
    parser.add_argument("--scenario", choices=sorted(DRIVERS), default="append")
    parser.add_argument("--count", type=int, help="operations (appends or events) per run")
    parser.add_argument("--profile", action="store_true", help="run the server under cProfile")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1, help="runs, each on a fresh stream")
    parser.add_argument("--client-engine", choices=("h2", "native"), default="native")
    parser.add_argument("--server-engine", choices=("h2", "native"), default=None)
    parser.add_argument("--save", help="write the (last) raw profile here (pstats format)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.server_engine)
        return
    arm_watchdog(1800)
    args.count = args.count or DEFAULT_COUNTS[args.scenario]
    if args.save:
        args.save = os.path.abspath(args.save)
    server = ServerUnderTest(args.server_engine)
    try:
        figures = []
        for run in range(args.repeats):
            result = DRIVERS[args.scenario](server, args, run)
            per_op = result["cpu"] / args.count * 1e6
            figures.append(per_op)
            rate = f", {result['rate']:.0f} appends/s" if "rate" in result else ""
            print(
                f"run {run + 1}: server CPU {per_op:.2f} µs per "
                f"{'event' if args.scenario == 'read' else 'append'}{rate}"
                f"{' (under cProfile)' if args.profile else ''}",
                flush=True,
            )
            if result["report"]:
                print(result["report"])
        if len(figures) > 1:
            print(f"median of {len(figures)}: {statistics.median(figures):.2f} µs")
    finally:
        server.stop()


__all__ = ["layer_of", "main", "print_layers", "serve"]

if __name__ == "__main__":
    main()
