"""The hostile-input suite is a ``timing`` suite (see :mod:`tests.timing`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.timing import mark_directory_as_timing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_directory_as_timing(Path(__file__).parent, items)
