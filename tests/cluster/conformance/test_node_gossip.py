"""Gossip as esdbclient reads it (its ``test_gossip_read``): through each node of a
secure three-node cluster, one leader and two followers at the advertised addresses, and
discovery lands on the leader; a single node advertising ``localhost`` reports it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.cluster.cli_cluster import CliCluster
from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import EventStoreDBClient  # noqa: E402
from esdbclient.gossip import NODE_STATE_FOLLOWER, NODE_STATE_LEADER  # noqa: E402

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

pytestmark = pytest.mark.peers


def test_gossip_read_through_each_node(
    client: EventStoreDBClient, secure_cluster: CliCluster
) -> None:
    members = client.read_gossip()
    assert sorted(m.state for m in members) == [
        NODE_STATE_FOLLOWER,
        NODE_STATE_FOLLOWER,
        NODE_STATE_LEADER,
    ]
    assert sorted((m.address, m.port) for m in members) == sorted(
        (node.host, node.port) for node in secure_cluster.nodes
    )


def test_discovery_through_each_node_lands_on_the_leader(
    client: EventStoreDBClient, secure_cluster: CliCluster
) -> None:
    leader = secure_cluster.leader
    assert leader is not None
    assert client.connection_target == leader.uri


@pytest.fixture(scope="module")
def localhost_server(certs: CertificateFiles) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
        advertise_host="localhost",
    ) as server:
        yield server


def test_a_single_node_advertises_localhost(
    localhost_server: EmbeddedServer, certs: CertificateFiles, esdbclient: Any
) -> None:
    """esdbclient's single-node ``test_gossip_read`` connects to ``localhost:<port>`` and
    expects gossip to name exactly that."""
    client = EventStoreDBClient(
        f"esdb://admin:changeit@localhost:{localhost_server.port}",
        root_certificates=certs.ca_certificate.read_text(),
    )
    try:
        (member,) = client.read_gossip()
    finally:
        client.close()
    assert (member.state, member.address, member.port) == (
        NODE_STATE_LEADER,
        "localhost",
        localhost_server.port,
    )
