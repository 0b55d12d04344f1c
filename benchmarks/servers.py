"""Entry point of one benchmark server, meant to run in its own process.

``python -m benchmarks.servers {s1,s2,s2-trickle}`` prints ``PORT <n>`` once it listens on
127.0.0.1 and serves until its stdin is closed, or ``--lifetime`` seconds have passed.

* ``s1``: grpcio sync server (:mod:`benchmarks.server_grpcio`).
* ``s2``: the asyncio + h2 blaster (:mod:`benchmarks.blaster`), dense 16 KiB DATA frames.
* ``s2-trickle``: the same blaster sending one message per DATA frame.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import threading

from benchmarks import blaster
from benchmarks.common import arm_watchdog

KINDS = ("s1", "s2", "s2-trickle")


def _wait_for_stdin_eof() -> None:
    while sys.stdin.buffer.read(4096):
        pass


def serve_grpcio() -> None:
    server, port = importlib.import_module("benchmarks.server_grpcio").start()
    print(f"PORT {port}", flush=True)
    try:
        _wait_for_stdin_eof()
    finally:
        server.stop(0).wait(5)


def serve_blaster(trickle: bool) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        port: asyncio.Future[int] = loop.create_future()
        serving = asyncio.ensure_future(blaster.serve(trickle, port))
        print(f"PORT {await port}", flush=True)
        eof = asyncio.Event()

        def watch_stdin() -> None:
            _wait_for_stdin_eof()
            loop.call_soon_threadsafe(eof.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
        await asyncio.wait(
            [serving, asyncio.ensure_future(eof.wait())], return_when="FIRST_COMPLETED"
        )
        serving.cancel()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.servers")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="hard stop (seconds)")
    args = parser.parse_args(argv)
    arm_watchdog(args.lifetime)
    if args.kind == "s1":
        serve_grpcio()
    else:
        serve_blaster(trickle=args.kind == "s2-trickle")


if __name__ == "__main__":
    main()
