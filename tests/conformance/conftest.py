"""Fixtures for the esdbclient conformance tests: one embedded server and client per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.conformance._peer import esdbclient_or_skip

if TYPE_CHECKING:
    from esdbclient import EventStoreDBClient


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """A fresh embedded server (random port, insecure) for each test module."""
    embedded = EmbeddedServer().start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    """A synchronous esdbclient connected to the module's server."""
    esdbclient = esdbclient_or_skip()
    connected: EventStoreDBClient = esdbclient.EventStoreDBClient(uri=server.esdb_uri)
    try:
        yield connected
    finally:
        connected.close()
