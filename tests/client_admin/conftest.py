"""The 1.x clients' management calls (projections, users, operations, monitoring) against
the embedded server; the tests run on both HTTP/2 engines (see :mod:`tests.engines`);
``async def`` tests run in an event loop of their own (see :mod:`tests.coroutine_tests`)."""

from __future__ import annotations

import pytest

from tests.coroutine_tests import pytest_pyfunc_call
from tests.engines import http2_engine

__all__ = ["http2_engine", "pytest_pyfunc_call"]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine
