"""The servers client tests run against: the embedded server on our transport, and the
same service logic mounted on grpcio (an independent gRPC implementation). The client
suites' ``conftest.py`` files import the :func:`uri` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from esdb_wire.server.embedded import EmbeddedServer, build_methods
from esdb_wire.server.features import GossipService
from esdb_wire.server.store import EventStore

SERVER_KINDS = ["embedded", "grpcio"]


@contextmanager
def running_server(kind: str) -> Iterator[str]:
    """Start a server of ``kind``; yield its ``host:port``."""
    if kind == "embedded":
        with EmbeddedServer() as server:
            yield server.uri
        return
    from tests.grpcio_host import GrpcioHost  # noqa: PLC0415 (needs grpcio)

    gossip = GossipService("127.0.0.1", 0)
    host = GrpcioHost(build_methods(EventStore(), gossip))
    gossip.port = host.port
    try:
        yield f"127.0.0.1:{host.port}"
    finally:
        host.stop()


@pytest.fixture(scope="module", params=SERVER_KINDS)
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """``host:port`` of each kind of server in turn (grpcio's where grpcio is installed)."""
    if request.param == "grpcio":
        from tests.peers import require_peer  # noqa: PLC0415

        require_peer("grpc")
    with running_server(request.param) as address:
        yield address
