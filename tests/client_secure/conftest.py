"""Certificates and a secure embedded server for the client's TLS and credential tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.peers import require_peer

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
