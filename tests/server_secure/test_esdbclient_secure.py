"""esdbclient 1.1.7 (grpcio, an independent client) against the secure embedded server:
a TLS connection string with credentials works, and bad or missing rights fail the way
the client reports them for a real node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.peers import require_peer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def esdbclient() -> Any:
    return require_peer("esdbclient")


@pytest.fixture
def clients(esdbclient: Any) -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for client in opened:
        client.close()


def connect(clients: list[Any], esdbclient: Any, uri: str, **kwargs: Any) -> Any:
    client = esdbclient.EventStoreDBClient(uri=uri, **kwargs)
    clients.append(client)
    return client


def new_event(esdbclient: Any, data: bytes = b'{"n":1}') -> Any:
    return esdbclient.NewEvent(type="Happened", data=data)


def test_admin_appends_and_reads(
    esdbclient: Any, clients: list[Any], server: EmbeddedServer, certs: CertificateFiles
) -> None:
    """The issue's evidence: the documented secure connection string works."""
    ca_pem = certs.ca_certificate.read_text()
    uri = f"esdb://admin:changeit@localhost:{server.port}"
    client = connect(clients, esdbclient, uri, root_certificates=ca_pem)
    stream = f"secure-{uuid4()}"
    events = [new_event(esdbclient), new_event(esdbclient, b'{"n":2}')]
    client.append_to_stream(stream, current_version=esdbclient.StreamState.NO_STREAM, events=events)
    client.append_to_stream(stream, current_version=1, events=new_event(esdbclient))
    recorded = client.get_stream(stream)
    assert [e.data for e in recorded] == [b'{"n":1}', b'{"n":2}', b'{"n":1}']
    # $all is for admins: this read works.
    assert any(e.stream_name == stream for e in client.read_all(limit=100))


def test_connection_string_from_the_server(
    esdbclient: Any, clients: list[Any], server: EmbeddedServer
) -> None:
    """``connection_string`` names the CA file (TlsCaFile), so no root_certificates."""
    client = connect(clients, esdbclient, server.connection_string("alice", "secret"))
    stream = f"alice-{uuid4()}"
    client.append_to_stream(
        stream, current_version=esdbclient.StreamState.ANY, events=[new_event(esdbclient)]
    )
    assert len(client.get_stream(stream)) == 1


def test_wrong_password_is_refused(
    esdbclient: Any, clients: list[Any], server: EmbeddedServer, certs: CertificateFiles
) -> None:
    uri = f"esdb://admin:wrong@localhost:{server.port}"
    client = connect(clients, esdbclient, uri, root_certificates=certs.ca_certificate.read_text())
    with pytest.raises(esdbclient.exceptions.GrpcError) as info:
        client.get_stream("anything")
    assert "StatusCode.UNAUTHENTICATED" in str(info.value)
    assert 'details = "Unauthenticated"' in str(info.value)


def test_rights_are_enforced(
    esdbclient: Any, clients: list[Any], server: EmbeddedServer, certs: CertificateFiles
) -> None:
    ca_pem = certs.ca_certificate.read_text()
    ops = connect(
        clients,
        esdbclient,
        f"esdb://ops:changeit@localhost:{server.port}",
        root_certificates=ca_pem,
    )
    exceptions = esdbclient.exceptions
    # BatchAppend (several events) reports the per-write AccessDenied status.
    with pytest.raises(exceptions.AccessDeniedError):
        ops.append_to_stream(
            "$not-for-ops",
            current_version=esdbclient.StreamState.ANY,
            events=[new_event(esdbclient), new_event(esdbclient)],
        )
    # Append and reads end with PERMISSION_DENIED, which esdbclient passes on as GrpcError.
    with pytest.raises(exceptions.GrpcError) as info:
        ops.append_to_stream(
            "$not-for-ops", current_version=esdbclient.StreamState.ANY, events=new_event(esdbclient)
        )
    assert "Access Denied" in str(info.value)
    with pytest.raises(exceptions.GrpcError) as info:
        list(ops.read_all(limit=1))
    assert "Access Denied" in str(info.value)


def test_a_user_certificate_alone_is_not_possible_with_esdbclient(
    esdbclient: Any, server: EmbeddedServer, certs: CertificateFiles
) -> None:
    """esdbclient insists on a username and password whenever TLS is on, so its
    ``UserCertFile`` is always paired with Basic credentials (which the server checks
    first). esdb_wire's own client can use a certificate alone (see test_own_client)."""
    uri = (
        f"esdb://localhost:{server.port}?TlsCaFile={certs.ca_certificate}"
        f"&UserCertFile={certs.user_certificate}&UserKeyFile={certs.user_key}"
    )
    with pytest.raises(ValueError, match="Username and password are required"):
        esdbclient.EventStoreDBClient(uri=uri)
