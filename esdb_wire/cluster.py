"""Cluster members from gossip, and choosing the node a client should talk to."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from esdb_wire.exceptions import FollowerNotFound, LeaderNotFound, ReadOnlyReplicaNotFound
from esdb_wire.protos import gossip_pb2

NODE_STATE_LEADER = "NODE_STATE_LEADER"
NODE_STATE_FOLLOWER = "NODE_STATE_FOLLOWER"
NODE_STATE_REPLICA = "NODE_STATE_REPLICA"
NODE_STATE_OTHER = "NODE_STATE_OTHER"

_STATES = {
    gossip_pb2.MemberInfo.Leader: NODE_STATE_LEADER,
    gossip_pb2.MemberInfo.Follower: NODE_STATE_FOLLOWER,
    gossip_pb2.MemberInfo.ReadOnlyReplica: NODE_STATE_REPLICA,
}


class ClusterMember(NamedTuple):
    """One node as gossip describes it (esdbclient's names)."""

    state: str
    address: str
    port: int


def members_of(info: gossip_pb2.ClusterInfo) -> list[ClusterMember]:
    """The alive members of a gossip answer."""
    return [
        ClusterMember(
            _STATES.get(member.state, NODE_STATE_OTHER),
            member.http_end_point.address,
            member.http_end_point.port,
        )
        for member in info.members
        if member.is_alive
    ]


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
