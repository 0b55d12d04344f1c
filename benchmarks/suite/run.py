"""One client run: ``python -m benchmarks.suite.run DRIVER SCENARIO --params JSON``.

Runs in its own process, so ``process_time()`` and RSS are the client's alone; imports
only the chosen library. Prints one JSON line: raw clocks, derived figures, and where
the measured esdb_wire came from.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from typing import Any

from benchmarks.common import arm_watchdog
from benchmarks.suite.config import (
    ASYNC_DRIVERS,
    DRIVERS,
    ENGINES,
    PEER_AIO,
    PEER_SYNC,
    WIRE_AIO,
    WIRE_AIO_NATIVE,
    WIRE_BLOCKING,
    WIRE_BLOCKING_NATIVE,
    Params,
)
from benchmarks.suite.measure import proc_status_kb

# driver -> (adapter module, class); imported on use, so a run loads one library only.
# esdb_wire's adapters also take the driver's HTTP/2 engine (config.ENGINES).
ADAPTERS = {
    WIRE_BLOCKING: ("benchmarks.suite.wire_adapters", "WireSync"),
    WIRE_BLOCKING_NATIVE: ("benchmarks.suite.wire_adapters", "WireSync"),
    WIRE_AIO: ("benchmarks.suite.wire_adapters", "WireAsync"),
    WIRE_AIO_NATIVE: ("benchmarks.suite.wire_adapters", "WireAsync"),
    PEER_SYNC: ("benchmarks.suite.peer_adapters", "PeerSync"),
    PEER_AIO: ("benchmarks.suite.peer_adapters", "PeerAsync"),
}


def _adapter(driver: str, port: int) -> Any:
    module, name = ADAPTERS[driver]
    adapter = getattr(importlib.import_module(module), name)
    if driver in ENGINES:
        return adapter(port, ENGINES[driver])
    return adapter(port)


def run_sync(driver: str, scenario: str, params: Params) -> dict[str, Any]:
    scenarios = importlib.import_module("benchmarks.suite.scenarios_sync").SCENARIOS
    client = _adapter(driver, params.port)
    try:
        document: dict[str, Any] = scenarios[scenario](client, params)
        return document
    finally:
        client.close()


async def run_async(driver: str, scenario: str, params: Params) -> dict[str, Any]:
    scenarios = importlib.import_module("benchmarks.suite.scenarios_async").SCENARIOS
    client = _adapter(driver, params.port)
    if hasattr(client, "connect"):
        await client.connect()
    try:
        document: dict[str, Any] = await scenarios[scenario](client, params)
        return document
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite.run")
    parser.add_argument("driver", choices=DRIVERS)
    parser.add_argument("scenario")
    parser.add_argument("--params", required=True, help="benchmarks.suite.config.Params JSON")
    parser.add_argument("--timeout", type=float, default=900.0, help="hard stop (seconds)")
    args = parser.parse_args(argv)
    arm_watchdog(args.timeout)
    params = Params.from_json(args.params)
    if args.driver in ASYNC_DRIVERS:
        document = asyncio.run(run_async(args.driver, args.scenario, params))
    else:
        document = run_sync(args.driver, args.scenario, params)
    document["rss_end_kb"] = proc_status_kb("VmRSS")
    document["hwm_end_kb"] = proc_status_kb("VmHWM")
    if "esdb_wire" in sys.modules:  # which copy was measured (see procs.snapshot_sources)
        document["esdb_wire_file"] = sys.modules["esdb_wire"].__file__
    if args.driver in ENGINES:  # which engine ran: only the h2 engine imports h2
        document["http2_engine"] = ENGINES[args.driver]
        document["h2_imported"] = "h2.connection" in sys.modules
    print(json.dumps(document), flush=True)


if __name__ == "__main__":
    main()
