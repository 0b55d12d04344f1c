"""The client over real TLS to the secure embedded server: CA handling, verification off,
user certificates, credentials (URI, per call, bearer), and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote
from uuid import uuid4

import pytest
from google.protobuf import empty_pb2

from esdb_wire import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import (
    AccessDeniedError,
    ServiceUnavailable,
    SSLError,
    UnauthenticatedError,
)
from esdb_wire.protos import gossip_pb2
from esdb_wire.protos.wire_names import method_path
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles


def ca_option(files: CertificateFiles) -> str:
    return f"TlsCaFile={quote(str(files.ca_certificate), safe='/')}"


def uri(server: EmbeddedServer, userinfo: str = "", options: str = "") -> str:
    return f"esdb://{userinfo}localhost:{server.port}?Tls=true" + (f"&{options}" if options else "")


def append_and_read(client: EventStoreDBClient) -> None:
    name = f"tls-{uuid4()}"
    client.append_to_stream(
        name, current_version=StreamState.NO_STREAM, events=NewEvent("T", b"{}")
    )
    assert [event.type for event in client.get_stream(name)] == ["T"]


def test_a_good_ca_file_verifies_the_server(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    with EventStoreDBClient(uri(server, "admin:changeit@", ca_option(certs))) as client:
        append_and_read(client)


def test_root_certificates_given_in_memory(server: EmbeddedServer, certs: CertificateFiles) -> None:
    pem = certs.ca_certificate.read_bytes()
    with EventStoreDBClient(uri(server, "admin:changeit@"), root_certificates=pem) as client:
        append_and_read(client)


def test_a_wrong_ca_fails_with_a_clear_error(
    server: EmbeddedServer, other_certs: CertificateFiles
) -> None:
    address = uri(server, "admin:changeit@", ca_option(other_certs))
    with EventStoreDBClient(address) as client, pytest.raises(SSLError) as info:
        client.get_commit_position()
    assert "certificate verify failed" in str(info.value)
    assert isinstance(info.value, ServiceUnavailable)


def test_verification_off_really_works(
    server: EmbeddedServer, other_certs: CertificateFiles
) -> None:
    options = f"{ca_option(other_certs)}&TlsVerifyCert=false"
    with EventStoreDBClient(uri(server, "admin:changeit@", options)) as client:
        append_and_read(client)


def test_a_user_certificate_authenticates_without_a_password(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    options = (
        f"{ca_option(certs)}&UserCertFile={quote(str(certs.user_certificate), safe='/')}"
        f"&UserKeyFile={quote(str(certs.user_key), safe='/')}"
    )
    with EventStoreDBClient(uri(server, options=options)) as client:
        append_and_read(client)  # the certificate's CN is "admin"
    with EventStoreDBClient(
        uri(server, options=ca_option(certs)),
        certificate_chain=certs.user_certificate.read_bytes(),
        private_key=certs.user_key.read_bytes(),
    ) as client:
        append_and_read(client)


def test_wrong_password_and_anonymous(server: EmbeddedServer, certs: CertificateFiles) -> None:
    with EventStoreDBClient(uri(server, "admin:wrong@", ca_option(certs))) as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.get_stream("anything")
        assert "wrong" not in str(info.value)
    anonymous = EventStoreDBClient(uri(server, options=ca_option(certs)))
    with anonymous, pytest.raises(AccessDeniedError):
        anonymous.get_stream("anything")


def test_per_call_credentials_override_the_uris(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    with EventStoreDBClient(uri(server, "ops:changeit@", ca_option(certs))) as client:
        with pytest.raises(AccessDeniedError):
            client.get_commit_position()  # $all needs $admins; ops is not one
        admin = client.construct_call_credentials("admin", "changeit")
        assert client.get_commit_position(credentials=admin) >= 0


def test_asyncio_client_over_tls(server: EmbeddedServer, certs: CertificateFiles) -> None:
    async def main() -> None:
        async with AsyncEventStoreDBClient(
            uri(server, "admin:changeit@", ca_option(certs))
        ) as client:
            name = f"tls-{uuid4()}"
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=NewEvent("A", b"{}")
            )
            assert [e.type for e in await client.get_stream(name)] == ["A"]
        async with AsyncEventStoreDBClient(uri(server, "admin:x@", ca_option(certs))) as client:
            with pytest.raises(UnauthenticatedError):
                await client.get_stream("s")

    asyncio.run(main())


def test_secrets_stay_out_of_reprs_and_errors(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    secret = "s3cr3t-Passw0rd"
    client = EventStoreDBClient(f"esdb://admin:{secret}@127.0.0.1:1?Tls=true&{ca_option(certs)}")
    assert secret not in repr(client.settings)
    assert secret not in repr(client.settings.credentials)
    with pytest.raises(ServiceUnavailable) as info:
        client.get_commit_position()
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    client.close()
    with pytest.raises(ValueError, match="NoSuchKey") as bad:
        EventStoreDBClient(f"esdb://admin:{secret}@host?NoSuchKey=1")
    assert secret not in str(bad.value)


class RecordingGossip:
    """A Gossip service that keeps the request headers it saw."""

    def __init__(self) -> None:
        self.seen: list[Mapping[str, str]] = []

    async def Read(self, request: empty_pb2.Empty, context: CallContext) -> gossip_pb2.ClusterInfo:
        self.seen.append(dict(context.metadata))
        return gossip_pb2.ClusterInfo()


def test_credentials_never_go_over_plaintext_unless_allowed() -> None:
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
    port = asyncio.run_coroutine_threadsafe(host.start(), loop).result(10)
    try:
        plain = f"esdb://admin:changeit@127.0.0.1:{port}?Tls=false"
        with EventStoreDBClient(plain) as client:
            client.read_gossip()
            per_call = client.construct_call_credentials("ops", "changeit")
            client.read_gossip(credentials=per_call)
        with EventStoreDBClient(plain, allow_plaintext_credentials=True) as client:
            client.read_gossip()
        assert "authorization" not in service.seen[0]
        assert "authorization" not in service.seen[1]
        assert service.seen[2]["authorization"].startswith("Basic ")
        assert all(seen.get("connection-name") for seen in service.seen)
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(0.1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
