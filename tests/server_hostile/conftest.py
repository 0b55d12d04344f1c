"""The hostile-input suite is a ``timing`` suite (see :mod:`tests.timing`); every test
here runs on both server HTTP/2 engines (see :func:`tests.engines.server_http2_engine`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines import server_http2_engine
from tests.timing import mark_directory_as_timing

__all__ = ["server_http2_engine"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_directory_as_timing(Path(__file__).parent, items)


@pytest.fixture(scope="module", autouse=True)
def _on_each_server_engine(server_http2_engine: str) -> str:
    return server_http2_engine
