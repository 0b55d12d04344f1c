"""Gossip on the wire: the request of ``Gossip.Read`` and its answer decoded into
:class:`~esdb_wire.cluster.ClusterMember` entries."""

from __future__ import annotations

from esdb_wire.cluster import ClusterMember, members_of
from esdb_wire.codec.decoding import decode
from esdb_wire.protos import gossip_pb2

GOSSIP_REQUEST = b""
"""An encoded ``Empty``: the request of ``Gossip.Read``."""


def cluster_members(data: bytes) -> list[ClusterMember]:
    """The alive members an encoded ``ClusterInfo`` lists."""
    return members_of(decode(gossip_pb2.ClusterInfo, data, "Gossip.Read"))
