"""esdb_wire's own client against the secure embedded server: credentials in the
connection string, and a user certificate instead of them."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import AccessDeniedError, UnauthenticatedError
from esdb_wire.server.embedded import EmbeddedServer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles


def test_credentials_in_the_connection_string(server: EmbeddedServer) -> None:
    client = EventStoreDBClient(server.connection_string("admin", "changeit"))
    try:
        stream = f"own-{uuid4()}"
        client.append_to_stream(
            stream,
            current_version=StreamState.NO_STREAM,
            events=[NewEvent(type="Happened", data=b"{}")],
        )
        assert len(client.get_stream(stream)) == 1
    finally:
        client.close()


def test_wrong_credentials(server: EmbeddedServer) -> None:
    client = EventStoreDBClient(server.connection_string("admin", "nope"))
    try:
        with pytest.raises(UnauthenticatedError):
            client.get_stream(f"own-{uuid4()}")
    finally:
        client.close()


def test_user_certificate_instead_of_credentials(
    server: EmbeddedServer, certs: CertificateFiles
) -> None:
    uri = f"{server.esdb_uri}&UserCertFile={certs.user_certificate}&UserKeyFile={certs.user_key}"
    client = EventStoreDBClient(uri)
    try:
        stream = f"cert-{uuid4()}"
        client.append_to_stream(
            stream, current_version=StreamState.ANY, events=[NewEvent(type="Happened", data=b"{}")]
        )
        assert len(client.get_stream(stream)) == 1  # the certificate's CN, "ops", is a user
        with pytest.raises(AccessDeniedError):
            list(client.read_all(limit=1))  # $all: admins only
    finally:
        client.close()
