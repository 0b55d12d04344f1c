"""Every test here runs on both HTTP/2 engines (see :mod:`tests.engines`); ``async def``
tests run in an event loop of their own (see :mod:`tests.coroutine_tests`). ``server`` is
the module's :class:`~tests.client_v2._support.V2Server`, on our transport and then on
grpcio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client_v2._support import V2Server, v2_server
from tests.coroutine_tests import pytest_pyfunc_call
from tests.engines import http2_engine
from tests.servers import SERVER_KINDS

__all__ = ["http2_engine", "pytest_pyfunc_call"]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[V2Server]:
    """A server with the v2 Streams API and small limits, of each kind in turn."""
    with v2_server(str(request.param)) as running:
        yield running
