"""Secure mode's checks live in the service layer (method wrappers and the Streams
service), so the same methods mounted on grpcio with TLS behave like our own host."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from esdb_wire.client import paths
from esdb_wire.protos import gossip_pb2, streams_pb2
from esdb_wire.server.auth import Security
from esdb_wire.server.embedded import build_methods
from esdb_wire.server.features import GossipService
from esdb_wire.server.rpc import Method
from esdb_wire.server.store import EventStore
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from esdb_wire.transport.tls import client_context
from tests.grpcio_host import GrpcioHost
from tests.server.helpers import append_requests, proposed, read_all_req, read_stream_req

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

pytestmark = pytest.mark.peers


class SecureGrpcioHost(GrpcioHost):
    """:class:`GrpcioHost` on a TLS port."""

    def __init__(self, methods: Mapping[str, Method], certificate: bytes, key: bytes) -> None:
        self._tls = (certificate, key)
        super().__init__(methods)

    async def _start(self, options: Mapping[str, Any]) -> int:
        grpc = self.grpc
        self.server = grpc.aio.server(options=list(options.items()))
        by_service: dict[str, dict[str, Any]] = {}
        for method in self.methods.values():
            service, name = method.path[1:].rsplit("/", 1)
            by_service.setdefault(service, {})[name] = self._handler(method)
        for service, handlers in by_service.items():
            generic = grpc.method_handlers_generic_handler(service, handlers)
            self.server.add_generic_rpc_handlers((generic,))
        credentials = grpc.ssl_server_credentials([(self._tls[1], self._tls[0])])
        port = int(self.server.add_secure_port("127.0.0.1:0", credentials))
        await self.server.start()
        return port


@pytest.fixture(scope="module")
def host(certs: CertificateFiles) -> Iterator[SecureGrpcioHost]:
    gossip = GossipService("127.0.0.1", 0)
    methods = build_methods(EventStore(), gossip, security=Security())
    running = SecureGrpcioHost(
        methods, certs.node_certificate.read_bytes(), certs.node_key.read_bytes()
    )
    gossip.port = running.port
    yield running
    running.stop()


@pytest.fixture
def channel(host: SecureGrpcioHost, certs: CertificateFiles) -> Iterator[Channel]:
    context = client_context(cafile=str(certs.ca_certificate))
    with Channel("127.0.0.1", host.port, ssl_context=context) as chan:
        yield chan


def basic(user: str, password: str) -> list[tuple[str, str]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("authorization", f"Basic {token}")]


def append(channel: Channel, stream: str, metadata: list[tuple[str, str]]) -> bytes:
    requests = [r.SerializeToString() for r in append_requests(stream, [proposed()])]
    return channel.stream_unary(paths.APPEND, requests, metadata=metadata)


def read(channel: Channel, request: streams_pb2.ReadReq, metadata: list[tuple[str, str]]) -> int:
    with channel.unary_stream(paths.READ, request.SerializeToString(), metadata=metadata) as call:
        return len(list(call))


def test_the_same_checks_on_grpcio(channel: Channel) -> None:
    admin = basic("admin", "changeit")
    append(channel, "on-grpcio", admin)
    assert read(channel, read_stream_req("on-grpcio"), basic("ops", "changeit")) == 1
    assert read(channel, read_all_req(count=5), admin) > 0

    with pytest.raises(StatusError) as info:
        read(channel, read_stream_req("on-grpcio"), basic("admin", "wrong"))
    assert info.value.code is StatusCode.UNAUTHENTICATED
    assert info.value.message == "Unauthenticated"
    assert not [key for key, _ in info.value.trailing_metadata if key == "exception"]

    for call in (
        lambda: read(channel, read_stream_req("on-grpcio"), []),
        lambda: append(channel, "on-grpcio", []),
        lambda: read(channel, read_all_req(), basic("ops", "changeit")),
    ):
        with pytest.raises(StatusError) as info:
            call()
        assert info.value.code is StatusCode.PERMISSION_DENIED
        assert info.value.message == "Access Denied"
        assert ("exception", "access-denied") in info.value.trailing_metadata

    cluster = gossip_pb2.ClusterInfo.FromString(channel.unary_unary(paths.GOSSIP_READ, b""))
    assert cluster.members[0].is_alive
