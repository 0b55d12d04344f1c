"""Every test here runs on both HTTP/2 engines (see :mod:`tests.engines`)."""

from __future__ import annotations

import pytest

from tests.engines import http2_engine

__all__ = ["http2_engine"]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine
