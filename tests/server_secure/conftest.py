"""Certificates and a secure embedded server for the secure-mode tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.peers import require_peer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

# Extra users of the secure server, besides admin/changeit ($admins) and ops/changeit ($ops).
USERS = {"alice": ("secret", ["readers"]), "bob": ("hunter2", [])}


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """A CA, a node certificate for localhost/127.0.0.1, and a user certificate for "ops"."""
    require_peer("cryptography")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    return generate(tmp_path_factory.mktemp("certs"), user="ops")


@pytest.fixture(scope="module")
def server(certs: CertificateFiles) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
        users=USERS,
    ) as running:
        yield running
