"""``python -m benchmarks``: the transport micro-benchmark (more suites join as they land)."""

from benchmarks.transport import main

main()
