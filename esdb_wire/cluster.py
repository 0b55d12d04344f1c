"""Cluster members (as :mod:`esdb_wire.codec.gossip` decodes them from gossip), and
choosing the node a client should talk to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from esdb_wire.exceptions import FollowerNotFound, LeaderNotFound, ReadOnlyReplicaNotFound
from esdb_wire.lazy_import import lazy_module

if TYPE_CHECKING:
    import random
else:
    random = lazy_module("random")  # only to choose among followers, replicas or all

NODE_STATE_LEADER = "NODE_STATE_LEADER"
NODE_STATE_FOLLOWER = "NODE_STATE_FOLLOWER"
NODE_STATE_REPLICA = "NODE_STATE_REPLICA"
NODE_STATE_OTHER = "NODE_STATE_OTHER"


class ClusterMember(NamedTuple):
    """One node as gossip describes it (esdbclient's names)."""

    state: str
    address: str
    port: int


def select_member(members: Sequence[ClusterMember], preference: str) -> ClusterMember:
    """The member a client with ``preference`` (leader, follower, readonlyreplica,
    random) connects to; raises the matching ``DiscoveryFailed`` subclass if none fits."""
    if preference == "leader":
        leaders = [m for m in members if m.state == NODE_STATE_LEADER]
        if not leaders:
            raise LeaderNotFound(f"no leader among {len(members)} cluster member(s)")
        return leaders[0]
    if preference == "follower":
        followers = [m for m in members if m.state == NODE_STATE_FOLLOWER]
        if not followers:
            raise FollowerNotFound(f"no follower among {len(members)} cluster member(s)")
        return random.choice(followers)
    if preference == "readonlyreplica":
        replicas = [m for m in members if m.state == NODE_STATE_REPLICA]
        if not replicas:
            raise ReadOnlyReplicaNotFound(
                f"no read-only replica among {len(members)} cluster member(s)"
            )
        return random.choice(replicas)
    if not members:
        raise LeaderNotFound("gossip returned no alive members")
    return random.choice(list(members))
