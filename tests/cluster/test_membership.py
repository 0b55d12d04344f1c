"""The cluster's bookkeeping on its own: elections, quorum, epochs and the states gossip
shows (:mod:`esdb_wire.server.cluster.membership`)."""

from __future__ import annotations

import pytest

from esdb_wire.server.cluster.membership import Health, Member, Membership, VNodeState

S = VNodeState


def cluster(ports: tuple[int, ...] = (2110, 2111, 2112), replicas: int = 0) -> Membership:
    voters = len(ports) - replicas
    members = [
        Member(index=i, port=port, advertise_host="127.0.0.1", read_only=i >= voters)
        for i, port in enumerate(ports)
    ]
    membership = Membership(members)
    membership.settle(0)
    return membership


def states(membership: Membership) -> list[VNodeState]:
    return [m.state for m in membership.members]


def test_the_lowest_port_leads_at_first() -> None:
    membership = cluster((2112, 2110, 2111))
    assert membership.leader is membership.members[1]
    assert states(membership) == [S.FOLLOWER, S.LEADER, S.FOLLOWER]
    assert membership.epoch_number == 0


def test_losing_the_leader_elects_another_and_bumps_the_epoch() -> None:
    membership = cluster()
    first = membership.members[0]
    first.health = Health.KILLED
    assert membership.settle(500)
    assert membership.leader is membership.members[1]
    assert (membership.epoch_number, membership.epoch_position) == (1, 500)
    assert states(membership) == [S.UNKNOWN, S.LEADER, S.FOLLOWER]


def test_a_member_that_comes_back_follows() -> None:
    membership = cluster()
    membership.members[0].health = Health.KILLED
    membership.settle(0)
    membership.members[0].health = Health.RUNNING
    assert not membership.settle(0)  # the leader stays
    assert states(membership) == [S.FOLLOWER, S.LEADER, S.FOLLOWER]
    assert membership.epoch_number == 1


def test_losing_a_follower_elects_nobody() -> None:
    membership = cluster()
    membership.members[2].health = Health.PARTITIONED
    assert not membership.settle(0)
    assert states(membership) == [S.LEADER, S.FOLLOWER, S.UNKNOWN]
    assert membership.epoch_number == 0


def test_without_a_quorum_there_is_no_leader() -> None:
    membership = cluster()
    membership.members[0].health = Health.KILLED
    membership.members[1].health = Health.STOPPED
    assert membership.settle(0)
    assert membership.leader is None
    assert states(membership) == [S.UNKNOWN, S.SHUTDOWN, S.UNKNOWN]
    membership.members[1].health = Health.RUNNING
    assert membership.settle(0)
    assert membership.leader is membership.members[1]


def test_a_resigning_leader_hands_over_to_the_next() -> None:
    membership = cluster()
    assert membership.settle(0, resigning=membership.members[0])
    assert membership.leader is membership.members[1]
    assert states(membership) == [S.FOLLOWER, S.LEADER, S.FOLLOWER]


def test_a_lone_leader_that_resigns_is_elected_again() -> None:
    membership = cluster((2110,))
    assert not membership.settle(0, resigning=membership.members[0])
    assert membership.leader is membership.members[0]


def test_priority_wins_elections() -> None:
    membership = cluster()
    membership.members[2].priority = 5
    membership.settle(0, resigning=membership.members[0])
    assert membership.leader is membership.members[2]


def test_read_only_replicas_never_lead_nor_count() -> None:
    membership = cluster((2110, 2111, 2112, 2113), replicas=1)
    assert membership.quorum == 2
    assert states(membership)[-1] is S.READ_ONLY_REPLICA
    for member in membership.members[:2]:
        member.health = Health.KILLED
    membership.settle(0)
    assert membership.leader is None
    assert states(membership)[2:] == [S.UNKNOWN, S.READ_ONLY_LEADERLESS]


def test_gossip_views() -> None:
    membership = cluster()
    membership.members[1].health = Health.KILLED
    membership.settle(42)
    views = membership.views(99)
    assert [(v.name, v.state, v.is_alive, v.port) for v in views] == [
        ("node1", S.LEADER, True, 2110),
        ("node2", S.UNKNOWN, False, 2111),
        ("node3", S.FOLLOWER, True, 2112),
    ]
    assert {(v.epoch_number, v.writer_checkpoint, v.chaser_checkpoint) for v in views} == {
        (0, 99, 99)
    }
    assert len({v.instance_id for v in views}) == 3


def test_a_cluster_needs_a_voter() -> None:
    with pytest.raises(ValueError, match="voting"):
        Membership([Member(index=0, port=1, advertise_host="h", read_only=True)])
