"""An embedded cluster: several nodes over one replicated log, with fault controls
(:class:`~esdb_wire.server.cluster.embedded.EmbeddedCluster`)."""

from __future__ import annotations

from esdb_wire.server.cluster.embedded import ClusterNode, EmbeddedCluster
from esdb_wire.server.cluster.membership import Health, MemberView, VNodeState

__all__ = ["ClusterNode", "EmbeddedCluster", "Health", "MemberView", "VNodeState"]
