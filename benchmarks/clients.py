"""Entry point of one client run, in its own process so ``process_time()`` is its own.

``python -m benchmarks.clients CLIENT {unary,stream} --port P -n N`` connects to the
server on 127.0.0.1, warms up (connect + 200 unary calls, or one 1,000-message stream),
then times N unary echo calls of 100 bytes, or one stream of N messages of 300 bytes,
and prints one JSON line with the client CPU and wall time of the timed region only.
Only the chosen client's library is imported.
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

# name -> (module, function)
CLIENTS = {
    "esdb-blocking": ("benchmarks.client_esdb", "run_blocking"),
    "esdb-aio": ("benchmarks.client_esdb", "run_aio"),
    "grpcio": ("benchmarks.client_grpcio", "run"),
    "grpcio-st": ("benchmarks.client_grpcio", "run_single_threaded"),
    "grpcio-aio": ("benchmarks.client_grpcio", "run_aio"),
    "grpclib": ("benchmarks.client_grpclib", "run"),
}
# grpcio-st differs from grpcio only in how it runs unary-stream calls.
STREAM_ONLY = frozenset({"grpcio-st"})


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
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
