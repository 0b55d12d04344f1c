"""kurrentdbclient (1.3.5+) as an independent peer of the embedded server's newest APIs.

kurrentdbclient needs a newer grpcio than esdbclient allows, so these tests run where it is
installed (``make test-newest``, which sets ``ESDB_WIRE_REQUIRE_PEERS=kurrentdbclient``)
and skip elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.peers import require_peer

MAX_APPEND_SIZE = 64 * 1024


def kurrentdbclient_or_skip() -> ModuleType:
    """``kurrentdbclient``, or skip the calling module (it is not installed everywhere)."""
    try:
        return require_peer("kurrentdbclient")
    except pytest.skip.Exception as exc:
        pytest.skip(str(exc), allow_module_level=True)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """A fresh embedded server (insecure) for each module, with a 64 KiB append limit."""
    with EmbeddedServer(max_append_size=MAX_APPEND_SIZE) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def uri(server: EmbeddedServer) -> str:
    return server.esdb_uri.replace("esdb://", "kurrentdb://", 1)


@pytest.fixture(scope="module")
def client(uri: str) -> Iterator[Any]:
    """A synchronous kurrentdbclient connected to the module's server."""
    connected = kurrentdbclient_or_skip().KurrentDBClient(uri=uri)
    try:
        yield connected
    finally:
        connected.close()
