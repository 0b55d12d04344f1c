"""Certificates and a secure embedded server for the client's TLS and credential tests,
which run on both HTTP/2 engines (see :mod:`tests.engines`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.engines import http2_engine
from tests.peers import require_peer

__all__ = ["http2_engine"]


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
