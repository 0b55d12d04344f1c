"""Entry point of one client run, in its own process so ``process_time()`` is its own.

``python -m benchmarks.clients CLIENT {unary,stream} --port P -n N`` connects to the
server on 127.0.0.1, warms up (connect + 200 unary calls, or one 1,000-message stream),
then times N unary echo calls of 100 bytes, or one stream of N messages of 300 bytes,
and prints one JSON line with the client CPU and wall time of the timed region only.
Only the chosen client's library is imported (and, for esdb_wire, only its engine's
HTTP/2 code: ``h2`` for the h2 engine, none of it for the native one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import asdict
from typing import cast

from benchmarks.common import arm_watchdog
from benchmarks.timing import Sample

# name -> (module, function). esdb_wire's clients come once per driver and HTTP/2 engine:
# the plain name is the default engine (h2), "-native" the opt-in native engine.
CLIENTS = {
    "esdb-blocking": ("benchmarks.client_esdb", "run_blocking"),
    "esdb-blocking-native": ("benchmarks.client_esdb", "run_blocking_native"),
    "grpcio": ("benchmarks.client_grpcio", "run"),
    "grpcio-st": ("benchmarks.client_grpcio", "run_single_threaded"),
    "esdb-aio": ("benchmarks.client_esdb", "run_aio"),
    "esdb-aio-native": ("benchmarks.client_esdb", "run_aio_native"),
    "grpcio-aio": ("benchmarks.client_grpcio", "run_aio"),
    "grpclib": ("benchmarks.client_grpclib", "run"),
}
# grpcio-st differs from grpcio only in how it runs unary-stream calls.
STREAM_ONLY = frozenset({"grpcio-st"})
# esdb_wire's clients -> the HTTP/2 engine each runs (``http2_engine=``).
ESDB_ENGINES = {
    "esdb-blocking": "h2",
    "esdb-blocking-native": "native",
    "esdb-aio": "h2",
    "esdb-aio-native": "native",
}
# The other engine's client of the same driver (for the engine-against-engine ratio).
OTHER_ENGINE = {
    "esdb-blocking": "esdb-blocking-native",
    "esdb-blocking-native": "esdb-blocking",
    "esdb-aio": "esdb-aio-native",
    "esdb-aio-native": "esdb-aio",
}
# The baseline with the same concurrency model: blocking vs grpcio's sync API, asyncio
# vs grpc.aio.
SAME_MODEL = {
    "esdb-blocking": "grpcio",
    "esdb-blocking-native": "grpcio",
    "esdb-aio": "grpcio-aio",
    "esdb-aio-native": "grpcio-aio",
}


def run(client: str, op: str, port: int, n: int) -> Sample:
    module, function = CLIENTS[client]
    runner = getattr(importlib.import_module(module), function)
    return cast(Sample, runner(op, port, n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clients")
    parser.add_argument("client", choices=tuple(CLIENTS))
    parser.add_argument("op", choices=("unary", "stream"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-n", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=600.0, help="hard stop (seconds)")
    args = parser.parse_args(argv)
    arm_watchdog(args.timeout)
    sample = run(args.client, args.op, args.port, args.n)
    if sample.received != args.n:
        raise SystemExit(f"{args.client} {args.op}: received {sample.received} of {args.n}")
    result = asdict(sample)
    if "esdb_wire" in sys.modules:  # which copy was measured (see procs.snapshot_sources)
        result["esdb_wire_file"] = sys.modules["esdb_wire"].__file__
    if args.client in ESDB_ENGINES:  # which engine ran: only the h2 engine imports h2
        result["http2_engine"] = ESDB_ENGINES[args.client]
        result["h2_imported"] = "h2.connection" in sys.modules
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
