"""AsyncEventStoreDBClient over real TLS to the secure embedded server: CA handling,
verification off, user certificates, credentials (URI, per call, bearer), and secrets kept
out of sight (asyncio: the source of ``test_sync_tls.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote
from uuid import uuid4

import pytest

from esdb_wire import AsyncEventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import (
    AccessDeniedError,
    ServiceUnavailable,
    SSLError,
    UnauthenticatedError,
)
from esdb_wire.server.embedded import EmbeddedServer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles
    from tests.client_secure.conftest import RecordingGossip


def ca_option(files: CertificateFiles) -> str:
    return f"TlsCaFile={quote(str(files.ca_certificate), safe='/')}"


def uri(server: EmbeddedServer, userinfo: str = "", options: str = "") -> str:
    return f"esdb://{userinfo}localhost:{server.port}?Tls=true" + (f"&{options}" if options else "")


async def append_and_read(client: AsyncEventStoreDBClient) -> None:
    name = f"tls-{uuid4()}"
    await client.append_to_stream(
        name, current_version=StreamState.NO_STREAM, events=NewEvent("T", b"{}")
    )
    assert [event.type for event in await client.get_stream(name)] == ["T"]


async def test_a_good_ca_file_verifies_the_server(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    async with AsyncEventStoreDBClient(uri(server, "admin:changeit@", ca_option(certs))) as client:
        await append_and_read(client)


async def test_root_certificates_given_in_memory(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    pem = certs.ca_certificate.read_bytes()
    address = uri(server, "admin:changeit@")
    async with AsyncEventStoreDBClient(address, root_certificates=pem) as client:
        await append_and_read(client)


async def test_a_wrong_ca_fails_with_a_clear_error(
    server: EmbeddedServer, other_certs: CertificateFiles
) -> None:
    address = uri(server, "admin:changeit@", ca_option(other_certs))
    async with AsyncEventStoreDBClient(address) as client:
        with pytest.raises(SSLError) as info:
            await client.get_commit_position()
    assert "certificate verify failed" in str(info.value)
    assert isinstance(info.value, ServiceUnavailable)


async def test_a_client_certificate_the_server_refuses_is_named_in_the_error(
    server: EmbeddedServer, certs: CertificateFiles, other_certs: CertificateFiles
) -> None:
    """A user certificate signed by a CA the server does not trust: the server ends the
    connection after the handshake; the error says so (not "does it expect TLS?")."""
    options = (
        f"{ca_option(certs)}&UserCertFile={quote(str(other_certs.user_certificate), safe='/')}"
        f"&UserKeyFile={quote(str(other_certs.user_key), safe='/')}"
    )
    client = AsyncEventStoreDBClient(uri(server, options=options))
    try:
        with pytest.raises(ServiceUnavailable) as info:
            await client.get_commit_position()
    finally:
        await client.close()
    message = str(info.value)
    assert "expect TLS" not in message
    assert "client certificate" in message


async def test_verification_off_really_works(
    server: EmbeddedServer, other_certs: CertificateFiles
) -> None:
    options = f"{ca_option(other_certs)}&TlsVerifyCert=false"
    async with AsyncEventStoreDBClient(uri(server, "admin:changeit@", options)) as client:
        await append_and_read(client)


async def test_a_user_certificate_authenticates_without_a_password(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    options = (
        f"{ca_option(certs)}&UserCertFile={quote(str(certs.user_certificate), safe='/')}"
        f"&UserKeyFile={quote(str(certs.user_key), safe='/')}"
    )
    async with AsyncEventStoreDBClient(uri(server, options=options)) as client:
        await append_and_read(client)  # the certificate's CN is "admin"
    async with AsyncEventStoreDBClient(
        uri(server, options=ca_option(certs)),
        certificate_chain=certs.user_certificate.read_bytes(),
        private_key=certs.user_key.read_bytes(),
    ) as client:
        await append_and_read(client)


async def test_wrong_password_and_anonymous(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    async with AsyncEventStoreDBClient(uri(server, "admin:wrong@", ca_option(certs))) as client:
        with pytest.raises(UnauthenticatedError) as info:
            await client.get_stream("anything")
        assert "wrong" not in str(info.value)
    anonymous = AsyncEventStoreDBClient(uri(server, options=ca_option(certs)))
    async with anonymous:
        with pytest.raises(AccessDeniedError):
            await anonymous.get_stream("anything")


async def test_per_call_credentials_override_the_uris(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    async with AsyncEventStoreDBClient(uri(server, "ops:changeit@", ca_option(certs))) as client:
        with pytest.raises(AccessDeniedError):
            await client.get_commit_position()  # $all needs $admins; ops is not one
        admin = client.construct_call_credentials("admin", "changeit")
        assert await client.get_commit_position(credentials=admin) >= 0


async def test_secrets_stay_out_of_reprs_and_errors(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    secret = "s3cr3t-Passw0rd"
    address = f"esdb://admin:{secret}@127.0.0.1:1?Tls=true&{ca_option(certs)}"
    client = AsyncEventStoreDBClient(address)
    assert secret not in repr(client.settings)
    assert secret not in repr(client.settings.credentials)
    with pytest.raises(ServiceUnavailable) as info:
        await client.get_commit_position()
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    await client.close()
    with pytest.raises(ValueError, match="NoSuchKey") as bad:
        AsyncEventStoreDBClient(f"esdb://admin:{secret}@host?NoSuchKey=1")
    assert secret not in str(bad.value)


async def test_credentials_never_go_over_plaintext_unless_allowed(
    recording_gossip: RecordingGossip,
) -> None:
    plain = f"esdb://admin:changeit@127.0.0.1:{recording_gossip.port}?Tls=false"
    async with AsyncEventStoreDBClient(plain) as client:
        await client.read_gossip()
        per_call = client.construct_call_credentials("ops", "changeit")
        await client.read_gossip(credentials=per_call)
    async with AsyncEventStoreDBClient(plain, allow_plaintext_credentials=True) as client:
        await client.read_gossip()
    seen = recording_gossip.seen
    assert "authorization" not in seen[0]
    assert "authorization" not in seen[1]
    assert seen[2]["authorization"].startswith("Basic ")
    assert all(headers.get("connection-name") for headers in seen)
