"""``python -m benchmarks.suite.serve --lifetime S -- SERVER-ARGS``: the embedded server
(``python -m esdb_wire.server``) in this process, with two ways to end by itself: a
watchdog (SIGALRM after ``--lifetime`` seconds) and the end of its stdin (the parent
went away), which delivers SIGTERM, the server's own clean stop."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading

from benchmarks.common import arm_watchdog


def _stop_when_stdin_closes() -> None:
    # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered
    # reader makes interpreter shutdown abort ("could not acquire lock for <stdin>").
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite.serve")
    parser.add_argument("--lifetime", type=float, required=True, help="hard stop (seconds)")
    parser.add_argument("server_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    arm_watchdog(args.lifetime)
    threading.Thread(target=_stop_when_stdin_closes, name="stdin-watch", daemon=True).start()
    serve = importlib.import_module("esdb_wire.server.__main__").main
    server_args = args.server_args
    if server_args[:1] == ["--"]:
        server_args = server_args[1:]
    serve(server_args)


if __name__ == "__main__":
    main()
