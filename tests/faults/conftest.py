"""Every fault test runs on both HTTP/2 engines (see :mod:`tests.engines`) and on both
drivers (the ``connect`` fixture); the faults come from :class:`tests.tcp_proxy.FaultProxy`
or from signals sent to a server subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esdb_wire import EventStoreDBClient
from esdb_wire.server.embedded import EmbeddedServer
from tests.engines import http2_engine
from tests.faults.drivers import DRIVERS, Driver, open_driver
from tests.tcp_proxy import FaultProxy
from tests.timing import mark_directory_as_timing

__all__ = ["http2_engine"]

Connect = Callable[[str], Driver]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


@pytest.fixture
def proxy(server: EmbeddedServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as forwarding:
        yield forwarding


@pytest.fixture
def direct(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    """A blocking client connected straight to the server: sets up and checks."""
    with EventStoreDBClient(server.uri) as client:
        yield client


@pytest.fixture(params=DRIVERS)
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """Opens clients of the driver under test (closed after the test)."""
    opened: list[Driver] = []

    def open_one(uri: str) -> Driver:
        driver = open_driver(str(request.param), uri)
        opened.append(driver)
        return driver

    yield open_one
    for driver in opened:
        driver.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_directory_as_timing(Path(__file__).parent, items)
