"""``python -m benchmarks [suite] [options]``: the client suite (benchmarks/suite/main.py).
``python -m benchmarks transport [options]``: the transport micro-benchmark.
``python -m benchmarks storage [options]``: the embedded server's cost per append, in
memory and with ``--db`` under each sync policy (benchmarks/storage.py)."""

from __future__ import annotations

import sys

from benchmarks import storage, transport
from benchmarks.suite import main as suite

COMMANDS = {"suite": suite.main, "transport": transport.main, "storage": storage.main}


def main(argv: list[str] | None = None) -> None:
    """Dispatch on the first argument; without a command name, run the suite."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] and arguments[0] in COMMANDS:
        COMMANDS[arguments[0]](arguments[1:])
    else:
        COMMANDS["suite"](arguments)


main()
