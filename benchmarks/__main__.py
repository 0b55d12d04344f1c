"""``python -m benchmarks [suite] [options]``: the client suite (benchmarks/suite/main.py).
``python -m benchmarks transport [options]``: the transport micro-benchmark."""

from __future__ import annotations

import sys

from benchmarks import transport
from benchmarks.suite import main as suite

COMMANDS = {"suite": suite.main, "transport": transport.main}


def main(argv: list[str] | None = None) -> None:
    """Dispatch on the first argument; without a command name, run the suite."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] and arguments[0] in COMMANDS:
        COMMANDS[arguments[0]](arguments[1:])
    else:
        COMMANDS["suite"](arguments)


main()
