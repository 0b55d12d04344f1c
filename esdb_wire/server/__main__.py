"""``python -m esdb_wire.server``: run the embedded EventStoreDB-compatible server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from esdb_wire.server.embedded import RUN_PROJECTIONS_CHOICES, EmbeddedServer
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m esdb_wire.server",
        description="An in-memory EventStoreDB-compatible gRPC server (data is lost on exit).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=2113, help="port (0: any free port)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=True,
        help="plaintext, no authentication (the only mode so far)",
    )
    parser.add_argument("--max-append-size", type=int, default=DEFAULT_MAX_APPEND_SIZE)
    parser.add_argument(
        "--run-projections",
        type=str.lower,
        choices=RUN_PROJECTIONS_CHOICES,
        default="none",
        help="all: run the standard projections ($streams, $ce-, $et-, $category- links); "
        "none (default) and system: none",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log connections")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    server = EmbeddedServer(
        args.host,
        args.port,
        max_append_size=args.max_append_size,
        run_projections=args.run_projections,
    )
    asyncio.run(_serve(server))


async def _serve(server: EmbeddedServer) -> None:
    await server.start_async()
    print(f"esdb_wire embedded server listening on {server.esdb_uri}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop_async()
    print("esdb_wire embedded server stopped", flush=True)


if __name__ == "__main__":
    main()
