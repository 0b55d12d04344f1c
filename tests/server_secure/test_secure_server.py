"""The embedded server in secure mode over real TLS connections (our blocking channel):
credentials, anonymous callers, ACLs and user certificates, and insecure mode's contrast."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import pytest

from esdb_wire.client import paths
from esdb_wire.protos import (
    gossip_pb2,
    persistent_pb2,
    serverfeatures_pb2,
    shared_pb2,
    streams_pb2,
)
from esdb_wire.server.embedded import EmbeddedServer, server_ssl_context
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from esdb_wire.transport.tls import client_context
from tests.server.helpers import append_requests, proposed, read_all_req, read_stream_req
from tests.server_persistent.support import create_all, create_stream, read_options

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

Metadata = list[tuple[str, str]]
ANONYMOUS: Metadata = []


def basic(user: str, password: str) -> Metadata:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("authorization", f"Basic {token}")]


ADMIN = basic("admin", "changeit")
OPS = basic("ops", "changeit")
ALICE = basic("alice", "secret")
BOB = basic("bob", "hunter2")


def connect(
    server: EmbeddedServer, certs: CertificateFiles, *, user_certificate: bool = False
) -> Channel:
    context = client_context(
        cafile=str(certs.ca_certificate),
        certfile=str(certs.user_certificate) if user_certificate else None,
        keyfile=str(certs.user_key) if user_certificate else None,
    )
    return Channel(server.host, server.port, ssl_context=context)


@pytest.fixture
def channel(server: EmbeddedServer, certs: CertificateFiles) -> Iterator[Channel]:
    with connect(server, certs) as chan:
        yield chan


def read(channel: Channel, request: streams_pb2.ReadReq, metadata: Metadata) -> list[str | None]:
    """The kinds of the responses of a (finite) read."""
    call = channel.unary_stream(paths.READ, request.SerializeToString(), metadata=metadata)
    with call:
        return [streams_pb2.ReadResp.FromString(message).WhichOneof("content") for message in call]


def append(
    channel: Channel,
    stream: str,
    metadata: Metadata,
    messages: Iterable[streams_pb2.AppendReq.ProposedMessage] | None = None,
) -> streams_pb2.AppendResp:
    requests = append_requests(stream, [proposed()] if messages is None else messages)
    response = channel.stream_unary(
        paths.APPEND, [r.SerializeToString() for r in requests], metadata=metadata
    )
    return streams_pb2.AppendResp.FromString(response)


def set_acl(
    channel: Channel, stream: str, acl: dict[str, object], metadata: Metadata = ADMIN
) -> streams_pb2.AppendResp:
    data = json.dumps({"$acl": acl}).encode()
    return append(channel, f"$${stream}", metadata, [proposed("$metadata", data)])


def error_of(call: object) -> StatusError:
    with pytest.raises(StatusError) as info:
        call()  # type: ignore[operator]
    return info.value


def assert_unauthenticated(error: StatusError) -> None:
    assert error.code is StatusCode.UNAUTHENTICATED
    assert error.message == "Unauthenticated"
    assert error.trailing_metadata == ()  # no "exception" key


def assert_access_denied(error: StatusError) -> None:
    assert error.code is StatusCode.PERMISSION_DENIED
    assert error.message == "Access Denied"
    assert ("exception", "access-denied") in error.trailing_metadata


# ---- credentials ---------------------------------------------------------------------


def test_good_credentials_append_and_read(channel: Channel) -> None:
    assert append(channel, "orders-1", ADMIN).HasField("success")
    assert append(channel, "orders-1", OPS).HasField("success")
    assert read(channel, read_stream_req("orders-1"), ALICE) == ["event", "event"]
    assert read(channel, read_stream_req("orders-1"), BOB) == ["event", "event"]


@pytest.mark.parametrize(
    "metadata",
    [basic("admin", "wrong"), basic("nobody", "changeit"), [("authorization", "Basic %%%")]],
    ids=["wrong-password", "unknown-user", "malformed"],
)
def test_bad_credentials_are_unauthenticated_everywhere(
    channel: Channel, metadata: Metadata
) -> None:
    assert_unauthenticated(error_of(lambda: read(channel, read_stream_req("s"), metadata)))
    assert_unauthenticated(error_of(lambda: append(channel, "s", metadata)))
    # Even the rpcs anonymous callers may use: authentication comes first.
    gossip = lambda: channel.unary_unary(paths.GOSSIP_READ, b"", metadata=metadata)  # noqa: E731
    assert_unauthenticated(error_of(gossip))


def test_unauthenticated_is_trailers_only(server: EmbeddedServer, certs: CertificateFiles) -> None:
    """One HEADERS frame ending the stream, with grpc-status 16 and nothing else custom."""
    context = client_context(cafile=str(certs.ca_certificate))
    raw = socket.create_connection((server.host, server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname=server.host) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        events = _raw_h2_call(sock, paths.READ, basic("admin", "nope"))
    responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert len(responses) == 1
    assert responses[0].stream_ended is not None
    assert not [
        e for e in events if isinstance(e, (h2.events.DataReceived, h2.events.TrailersReceived))
    ]
    headers = dict(responses[0].headers)
    assert headers[b":status"] == b"200"
    assert headers[b"grpc-status"] == b"16"
    assert headers[b"grpc-message"] == b"Unauthenticated"
    assert b"exception" not in headers


def _raw_h2_call(sock: ssl.SSLSocket, path: str, metadata: Metadata) -> list[h2.events.Event]:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    request = read_stream_req("s").SerializeToString()
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        *metadata,
    ]
    connection.send_headers(1, headers)
    connection.send_data(1, b"\x00" + len(request).to_bytes(4, "big") + request, end_stream=True)
    sock.sendall(connection.data_to_send())
    seen: list[h2.events.Event] = []
    while not any(isinstance(e, h2.events.StreamEnded) for e in seen):
        data = sock.recv(65536)
        assert data, "connection closed before the call ended"
        seen.extend(connection.receive_data(data))
        sock.sendall(connection.data_to_send())
    return seen


# ---- anonymous callers -----------------------------------------------------------------


def test_anonymous_stream_access_is_denied(channel: Channel) -> None:
    append(channel, "orders-2", ADMIN)
    assert_access_denied(error_of(lambda: read(channel, read_stream_req("orders-2"), ANONYMOUS)))
    assert_access_denied(error_of(lambda: read(channel, read_all_req(), ANONYMOUS)))
    assert_access_denied(error_of(lambda: append(channel, "orders-2", ANONYMOUS)))
    delete = streams_pb2.DeleteReq(
        options=streams_pb2.DeleteReq.Options(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"orders-2"),
            any=shared_pb2.Empty(),
        )
    )
    call = lambda: channel.unary_unary(paths.DELETE, delete.SerializeToString())  # noqa: E731
    assert_access_denied(error_of(call))


def test_gossip_and_server_features_are_anonymous(channel: Channel, server: EmbeddedServer) -> None:
    info = gossip_pb2.ClusterInfo.FromString(channel.unary_unary(paths.GOSSIP_READ, b""))
    assert info.members[0].http_end_point.port == server.port
    features = serverfeatures_pb2.SupportedMethods.FromString(
        channel.unary_unary(paths.SUPPORTED_METHODS, b"")
    )
    assert any(m.method_name == "batchappend" for m in features.methods)


# ---- ACLs ------------------------------------------------------------------------------


def test_system_streams_and_all_need_admins(channel: Channel) -> None:
    assert read(channel, read_stream_req("$settings"), ADMIN) == ["event"]
    assert "event" in read(channel, read_all_req(count=5), ADMIN)
    for user in (OPS, ALICE):
        assert_access_denied(error_of(lambda: read(channel, read_stream_req("$settings"), user)))  # noqa: B023
        assert_access_denied(error_of(lambda: read(channel, read_all_req(), user)))  # noqa: B023
        assert_access_denied(error_of(lambda: append(channel, "$custom", user)))  # noqa: B023
    assert append(channel, "$custom", ADMIN).HasField("success")


def test_stream_acl_grants_and_denies(channel: Channel) -> None:
    append(channel, "ledger", ADMIN)
    set_acl(channel, "ledger", {"$r": ["alice", "$ops"], "$w": "bob", "$mr": "alice"})
    assert read(channel, read_stream_req("ledger"), ALICE) == ["event"]  # by name
    assert read(channel, read_stream_req("ledger"), OPS) == ["event"]  # by group
    assert_access_denied(error_of(lambda: read(channel, read_stream_req("ledger"), BOB)))
    assert append(channel, "ledger", BOB).HasField("success")
    assert_access_denied(error_of(lambda: append(channel, "ledger", ALICE)))
    # The metastream has its own entries: $mr for reads, $mw (default $all) for writes.
    assert read(channel, read_stream_req("$$ledger"), ALICE) == ["event"]
    assert_access_denied(error_of(lambda: read(channel, read_stream_req("$$ledger"), BOB)))
    # $mw is not set, so its default ($all) lets bob rewrite the ACL, locking it to admins.
    assert set_acl(channel, "ledger", {"$r": "$admins", "$mw": "$admins"}, BOB).HasField("success")
    assert_access_denied(error_of(lambda: set_acl(channel, "ledger", {}, BOB)))
    assert_access_denied(error_of(lambda: read(channel, read_stream_req("ledger"), ALICE)))
    assert read(channel, read_stream_req("ledger"), ADMIN) == ["event", "event"]


def test_subscriptions_are_checked_when_they_start(channel: Channel) -> None:
    request = read_all_req(subscribe=True)
    call = lambda: read(channel, request, OPS)  # noqa: E731
    assert_access_denied(error_of(call))


# ---- user certificates -----------------------------------------------------------------


def test_a_user_certificate_authenticates_as_its_common_name(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    with connect(server, certs, user_certificate=True) as channel:
        # The certificate's CN is "ops": a user, but not an admin.
        assert append(channel, "cert-stream", ANONYMOUS).HasField("success")
        assert read(channel, read_stream_req("cert-stream"), ANONYMOUS) == ["event"]
        assert_access_denied(error_of(lambda: read(channel, read_all_req(), ANONYMOUS)))
        # Credentials in the header win over the certificate.
        assert "event" in read(channel, read_all_req(count=3), ADMIN)
        assert_unauthenticated(error_of(lambda: read(channel, read_all_req(), basic("ops", "x"))))


# ---- insecure mode -----------------------------------------------------------------------


def test_insecure_mode_ignores_credentials() -> None:
    with EmbeddedServer() as insecure, Channel(insecure.host, insecure.port) as channel:
        assert not insecure.secure
        assert insecure.esdb_uri == f"esdb://127.0.0.1:{insecure.port}?Tls=false"
        wrong = basic("admin", "wrong")
        assert append(channel, "$anything", wrong).HasField("success")
        assert append(channel, "orders", ANONYMOUS).HasField("success")
        assert "event" in read(channel, read_all_req(count=3), wrong)


def test_secure_uri(server: EmbeddedServer, certs: CertificateFiles) -> None:
    assert server.secure
    ca = certs.ca_certificate.absolute()
    assert server.esdb_uri == f"esdb://127.0.0.1:{server.port}?Tls=true&TlsCaFile={ca}"
    assert server.connection_string("admin", "p@ss").startswith("esdb://admin:p%40ss@127.0.0.1:")


def test_plaintext_clients_cannot_talk_to_a_secure_server(server: EmbeddedServer) -> None:
    with Channel(server.host, server.port) as channel, pytest.raises(StatusError) as info:
        channel.unary_unary(paths.GOSSIP_READ, b"", timeout=5)
    assert info.value.code in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED)


# ---- configuration -----------------------------------------------------------------------


def test_server_ssl_context(certs: CertificateFiles, tmp_path: Path) -> None:
    context = server_ssl_context(certs.node_certificate, certs.node_key)
    assert context.verify_mode is ssl.CERT_NONE
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    # A CA file, or a directory of PEM files (like TrustedRootCertificatesPath).
    for ca in (certs.ca_certificate, certs.ca_certificate.parent):
        context = server_ssl_context(certs.node_certificate, certs.node_key, ca)
        assert context.verify_mode is ssl.CERT_OPTIONAL  # requested, not required
    with pytest.raises(ValueError, match="no CA certificate"):
        server_ssl_context(certs.node_certificate, certs.node_key, tmp_path)


def test_secure_mode_needs_certificate_and_key(certs: CertificateFiles) -> None:
    with pytest.raises(ValueError, match="both a certificate and its private key"):
        EmbeddedServer(certificate=certs.node_certificate)
    with pytest.raises(ValueError, match="only used in secure mode"):
        EmbeddedServer(ca=certs.ca_certificate)
    without_ca = EmbeddedServer(certificate=certs.node_certificate, private_key=certs.node_key)
    assert without_ca.esdb_uri == "esdb://127.0.0.1:0?Tls=true"
    assert without_ca.security is not None
    assert not without_ca.security.certificate_users  # no CA: no client certificates


def test_a_ca_directory_serves_client_certificates(certs: CertificateFiles) -> None:
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate.parent,
    ) as running:
        assert "TlsCaFile" not in running.esdb_uri
        with connect(running, certs, user_certificate=True) as channel:
            assert append(channel, "via-dir", ANONYMOUS).HasField("success")


# ---- persistent subscriptions ------------------------------------------------------------


def connect_consumer(channel: Channel, stream: str | None, group: str, user: Metadata) -> str:
    """Connect a persistent consumer; return the first response's kind, then disconnect."""
    request = read_options(stream, group).SerializeToString()
    with channel.stream_stream(paths.PS_READ, [request], metadata=user, timeout=5) as call:
        first = persistent_pb2.ReadResp.FromString(next(iter(call)))
        return str(first.WhichOneof("content"))


def consumer_names(channel: Channel, stream: str, group: str) -> list[str]:
    options = persistent_pb2.GetInfoReq.Options(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
        group_name=group,
    )
    request = persistent_pb2.GetInfoReq(options=options).SerializeToString()
    response = channel.unary_unary(paths.PS_GET_INFO, request, metadata=ADMIN, timeout=5)
    info = persistent_pb2.GetInfoResp.FromString(response).subscription_info
    return [connection.username for connection in info.connections]


def test_persistent_consumers_need_read_access_to_the_source(channel: Channel) -> None:
    append(channel, "payroll", ADMIN)
    set_acl(channel, "payroll", {"$r": "alice"})
    for request in (create_stream("payroll", "clerks"), create_all("auditors")):
        channel.unary_unary(paths.PS_CREATE, request.SerializeToString(), metadata=ADMIN)
    assert connect_consumer(channel, "payroll", "clerks", ALICE) == "subscription_confirmation"
    assert connect_consumer(channel, "payroll", "clerks", ADMIN) == "subscription_confirmation"
    for user in (BOB, OPS):
        denied = error_of(lambda: connect_consumer(channel, "payroll", "clerks", user))  # noqa: B023
        assert_access_denied(denied)
    # $all is a system stream: only $admins may consume it by default.
    assert connect_consumer(channel, None, "auditors", ADMIN) == "subscription_confirmation"
    assert_access_denied(error_of(lambda: connect_consumer(channel, None, "auditors", ALICE)))
    # Denied even when the group does not exist: the ACL is checked first.
    assert_access_denied(error_of(lambda: connect_consumer(channel, "payroll", "nobody", BOB)))


def test_persistent_consumers_are_reported_as_their_user(channel: Channel) -> None:
    append(channel, "tickets", ADMIN)
    request = create_stream("tickets", "agents").SerializeToString()
    channel.unary_unary(paths.PS_CREATE, request, metadata=ADMIN)
    read = read_options("tickets", "agents").SerializeToString()
    with channel.stream_stream(paths.PS_READ, [read], metadata=ALICE, timeout=5) as call:
        next(iter(call))  # the confirmation: the consumer is connected
        assert consumer_names(channel, "tickets", "agents") == ["alice"]
