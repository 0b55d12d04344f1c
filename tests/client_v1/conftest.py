"""Every test here runs on both HTTP/2 engines (see :mod:`tests.engines`); ``async def``
tests run in an event loop of their own (see :mod:`tests.coroutine_tests`). The servers
the API tests share: ``uri`` (the embedded server, then the grpcio-hosted services, see
:mod:`tests.servers`) and ``projections`` (an embedded server running the standard projections)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.coroutine_tests import pytest_pyfunc_call
from tests.engines import http2_engine
from tests.servers import uri

__all__ = ["http2_engine", "pytest_pyfunc_call", "uri"]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine


@pytest.fixture(scope="module")
def projections() -> Iterator[EmbeddedServer]:
    """An embedded server that runs the standard projections ($ce-, $et- streams)."""
    with EmbeddedServer(run_projections="all") as server:
        yield server
