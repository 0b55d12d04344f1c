"""The ``timing`` marker: suites whose assertions are about time and memory under
faults and attacks (``tests/faults``, ``tests/server_hostile``). They run in the main and
newest-dependency CI legs; the portability legs (pure-Python protobuf, PyPy, oldest
dependencies) skip them with ``-m "not timing"``, since what they check does not depend on
the protobuf backend or the interpreter and they make up a large part of the run time."""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_directory_as_timing(directory: Path, items: list[pytest.Item]) -> None:
    """Add the ``timing`` marker to every collected test under ``directory``."""
    for item in items:
        if directory in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timing)
