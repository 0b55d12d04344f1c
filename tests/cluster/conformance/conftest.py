"""esdbclient 1.1.7 against ``esdb-wire-server --cluster 3`` (secure, in a subprocess), as
its own ``TestESDBClusterNode1/2/3`` classes run its whole client test case against a
three-node cluster: TLS with the cluster's CA, ``admin:changeit``, and a connection string
naming one node twice so that the client discovers the leader through that node's gossip
(``MaxDiscoverAttempts=2&DiscoveryInterval=100&GossipTimeout=1``). Faults go to the CLI's
stdin (``resign``).

esdbclient's test classes are not in its PyPI distribution (the sdist holds the package
only), so the modules here run our own conformance tests (:mod:`tests.conformance`)
through each node in turn instead: the ``client`` fixture is parametrized over the nodes.
``make upstream-cluster-tests`` runs esdbclient's own classes, fetched from GitHub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.cli_cluster import CliCluster
from tests.conformance._peer import esdbclient_or_skip

if TYPE_CHECKING:
    from esdbclient import EventStoreDBClient

    from esdb_wire.devcerts import CertificateFiles

# esdbclient's own cluster test case options (EventStoreDBClientTestCase.construct_esdb_client).
DISCOVERY_OPTIONS = "MaxDiscoverAttempts=2&DiscoveryInterval=100&GossipTimeout=1"
NODES = (1, 2, 3)


@pytest.fixture(scope="module")
def esdbclient() -> Any:
    return esdbclient_or_skip()


@pytest.fixture(scope="module")
def secure_cluster(request: pytest.FixtureRequest, certs: CertificateFiles) -> Iterator[CliCluster]:
    """``esdb-wire-server --cluster 3`` with the test certificates, for the module
    (``RUN_PROJECTIONS`` in the module chooses ``--run-projections``, "none" by default;
    ``START_STANDARD_PROJECTIONS``, if there, ``--start-standard-projections``)."""
    options = [
        "--certificate",
        str(certs.node_certificate),
        "--private-key",
        str(certs.node_key),
        "--ca",
        str(certs.ca_certificate),
        "--run-projections",
        getattr(request.module, "RUN_PROJECTIONS", "none"),
    ]
    start_standard = getattr(request.module, "START_STANDARD_PROJECTIONS", None)
    if start_standard is not None:
        options += ["--start-standard-projections", start_standard]
    with CliCluster(3, options) as running:
        yield running


def node_uri(cluster: CliCluster, node: int) -> str:
    """esdbclient's cluster test URI through ``node`` (1-based): that node, twice."""
    target = cluster.nodes[node - 1].uri
    return f"esdb://admin:changeit@{target},{target}?{DISCOVERY_OPTIONS}"


@pytest.fixture(scope="module", params=NODES, ids=[f"node{n}" for n in NODES])
def node(request: pytest.FixtureRequest) -> int:
    """The node (1-based) the module's clients discover the cluster through."""
    return int(request.param)


@pytest.fixture(scope="module")
def client(
    esdbclient: Any, secure_cluster: CliCluster, certs: CertificateFiles, node: int
) -> Iterator[EventStoreDBClient]:
    """A synchronous esdbclient that discovered the leader through ``node``."""
    connected: EventStoreDBClient = esdbclient.EventStoreDBClient(
        node_uri(secure_cluster, node), root_certificates=certs.ca_certificate.read_text()
    )
    try:
        yield connected
    finally:
        connected.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs esdbclient (the ``peers`` marker)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.peers)
