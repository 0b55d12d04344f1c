"""Fixtures of the cluster tests: development certificates and embedded clusters.

Every cluster listens on free loopback ports; ``async def`` tests run in an event loop of
their own (see :mod:`tests.coroutine_tests`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.cluster import EmbeddedCluster
from tests.coroutine_tests import pytest_pyfunc_call
from tests.peers import require_peer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

__all__ = ["pytest_pyfunc_call"]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """A CA and one node certificate (localhost, 127.0.0.1, ::1) that every node uses."""
    require_peer("cryptography")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    return generate(tmp_path_factory.mktemp("cluster-certs"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    """An insecure three-node cluster, shared by a module's tests (which must leave every
    node running, as they found it)."""
    with EmbeddedCluster(3) as running:
        yield running


@pytest.fixture
def fresh_cluster() -> Iterator[EmbeddedCluster]:
    """An insecure three-node cluster of the test's own (for tests that break nodes)."""
    with EmbeddedCluster(3) as running:
        yield running
