"""Certificates and a secure embedded server for the client's TLS and credential tests,
and a plaintext Gossip service that records request headers; the tests run on both HTTP/2
engines (see :mod:`tests.engines`); ``async def`` tests run in an
event loop of their own (see :mod:`tests.coroutine_tests`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import pytest
from google.protobuf import empty_pb2

from esdb_wire.protos import gossip_pb2
from esdb_wire.protos.wire_names import method_path
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method
from tests.coroutine_tests import pytest_pyfunc_call
from tests.engines import http2_engine
from tests.peers import require_peer

__all__ = ["http2_engine", "pytest_pyfunc_call"]


@pytest.fixture(scope="module", autouse=True)
def _on_each_engine(http2_engine: str) -> str:
    return http2_engine


if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    require_peer("cryptography")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    return generate(tmp_path_factory.mktemp("client-certs"), user="admin")


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    require_peer("cryptography")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    return generate(tmp_path_factory.mktemp("other-certs"))


@pytest.fixture(scope="module")
def server(certs: CertificateFiles) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
    ) as running:
        yield running


class RecordingGossip:
    """A Gossip service that keeps the request headers it saw; ``port`` once served."""

    def __init__(self) -> None:
        self.seen: list[Mapping[str, str]] = []
        self.port = 0

    async def Read(self, request: empty_pb2.Empty, context: CallContext) -> gossip_pb2.ClusterInfo:
        self.seen.append(dict(context.metadata))
        return gossip_pb2.ClusterInfo()


@pytest.fixture
def recording_gossip() -> Iterator[RecordingGossip]:
    """A :class:`RecordingGossip` served over plaintext from an event loop on a thread."""
    service = RecordingGossip()
    path = method_path(gossip_pb2.DESCRIPTOR.services_by_name["Gossip"], "Read")
    methods = {
        path: Method(
            path, "Read", empty_pb2.Empty, gossip_pb2.ClusterInfo, False, False, service.Read
        )
    }
    loop = asyncio.new_event_loop()
    host = GrpcHost(methods)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    service.port = asyncio.run_coroutine_threadsafe(host.start(), loop).result(10)
    try:
        yield service
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(0.1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
