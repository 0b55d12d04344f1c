"""Who is in the embedded cluster and in what state: members, elections and epochs.

Pure bookkeeping, no I/O: :class:`~esdb_wire.server.cluster.embedded.EmbeddedCluster`
changes a member's :class:`Health` (running, stopped, killed, partitioned) and calls
:meth:`Membership.settle`, which elects a leader when the cluster has none.

The rules, modelled on a real cluster's observable behaviour:

* Only voting members (not read-only replicas) that are running and reachable count.
  A leader needs a quorum, a majority of the voting members; without one there is no
  leader and every reachable voting member is ``Unknown`` (it keeps trying to elect), the
  read-only replicas ``ReadOnlyLeaderless``.
* A leader stays leader while it is reachable and the quorum holds. Otherwise, or when it
  resigns, the candidate with the highest priority, then the lowest port, wins (a resigning
  leader only when there is nobody else), and the epoch number goes up by one.
* A member that comes back (restarted, or its partition healed) joins as a follower.
* Gossip shows every member. A stopped one is ``Shutdown``; a killed or partitioned one is
  ``Unknown`` (the others lost contact with it): both with ``is_alive`` false, so a
  client never sees two leaders.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


class VNodeState(enum.IntEnum):
    """A node's state, as gossip's ``MemberInfo.VNodeState`` numbers it."""

    INITIALIZING = 0
    DISCOVER_LEADER = 1
    UNKNOWN = 2
    PRE_REPLICA = 3
    CATCHING_UP = 4
    CLONE = 5
    FOLLOWER = 6
    PRE_LEADER = 7
    LEADER = 8
    MANAGER = 9
    SHUTTING_DOWN = 10
    SHUTDOWN = 11
    READ_ONLY_LEADERLESS = 12
    PRE_READ_ONLY_REPLICA = 13
    READ_ONLY_REPLICA = 14
    RESIGNING_LEADER = 15


class Health(enum.Enum):
    """Whether a member's process runs and can be reached."""

    RUNNING = "running"
    STOPPED = "stopped"  # shut down gracefully: its port refuses
    KILLED = "killed"  # gone at once: its port refuses, its connections closed
    PARTITIONED = "partitioned"  # running, but nothing reaches it and it answers nothing


def gossip_ticks() -> int:
    """Now, in .NET ticks (100 ns) since the Unix epoch: gossip's ``time_stamp``."""
    return time.time_ns() // 100


@dataclass
class Member:
    """One node of the cluster."""

    index: int
    port: int
    advertise_host: str
    read_only: bool = False
    priority: int = 0
    instance_id: uuid.UUID = field(default_factory=uuid.uuid4)
    health: Health = Health.RUNNING
    state: VNodeState = VNodeState.UNKNOWN

    @property
    def reachable(self) -> bool:
        """Running and not cut off: it can take part in an election and serve."""
        return self.health is Health.RUNNING

    @property
    def name(self) -> str:
        """``node<N>`` (1-based), as logs and the CLI name it."""
        return f"node{self.index + 1}"

    @property
    def endpoint(self) -> tuple[str, int]:
        """The advertised (host, port) clients are told to use."""
        return self.advertise_host, self.port


@dataclass(frozen=True)
class MemberView:
    """A member as gossip shows it, with the replication details of the internal gossip."""

    instance_id: uuid.UUID
    name: str
    state: VNodeState
    is_alive: bool
    host: str
    port: int
    epoch_number: int
    epoch_position: int
    writer_checkpoint: int
    chaser_checkpoint: int
    time_stamp: int


class Membership:
    """The members, the leader and the epoch of one cluster."""

    def __init__(self, members: Sequence[Member]) -> None:
        if not any(not m.read_only for m in members):
            raise ValueError("a cluster needs at least one voting (not read-only) member")
        self.members = list(members)
        self.leader: Member | None = None
        self.epoch_number = -1
        self.epoch_position = 0

    @property
    def quorum(self) -> int:
        """How many voting members must be reachable for a leader to exist."""
        voters = sum(1 for m in self.members if not m.read_only)
        return voters // 2 + 1

    def _candidates(self) -> list[Member]:
        return [m for m in self.members if m.reachable and not m.read_only]

    def settle(self, log_position: int, *, resigning: Member | None = None) -> bool:
        """Bring every state up to date after a change; elect a leader if there is none
        (or ``resigning`` is it). ``log_position`` is the end of the log, the new epoch's
        position. Returns whether the leader changed."""
        before = self.leader
        candidates = self._candidates()
        leader = self.leader
        if len(candidates) < self.quorum:
            leader = None
        elif leader is None or leader not in candidates or leader is resigning:
            others = [m for m in candidates if m is not resigning] or candidates
            leader = min(others, key=lambda m: (-m.priority, m.port, m.index))
        if leader is not before and leader is not None:
            self.epoch_number += 1
            self.epoch_position = log_position
        self.leader = leader
        for member in self.members:
            member.state = self._state_of(member)
        return leader is not before

    def _state_of(self, member: Member) -> VNodeState:
        if member.health is Health.STOPPED:
            return VNodeState.SHUTDOWN
        if not member.reachable:
            return VNodeState.UNKNOWN
        if member.read_only:
            if self.leader is None:
                return VNodeState.READ_ONLY_LEADERLESS
            return VNodeState.READ_ONLY_REPLICA
        if self.leader is None:
            return VNodeState.UNKNOWN
        return VNodeState.LEADER if member is self.leader else VNodeState.FOLLOWER

    def views(self, log_position: int) -> list[MemberView]:
        """Every member as gossip shows it now (the log is shared: every reachable member
        has replicated everything committed)."""
        stamp = gossip_ticks()
        return [
            MemberView(
                instance_id=member.instance_id,
                name=member.name,
                state=member.state,
                is_alive=member.reachable,
                host=member.advertise_host,
                port=member.port,
                epoch_number=max(self.epoch_number, 0),
                epoch_position=self.epoch_position,
                writer_checkpoint=log_position,
                chaser_checkpoint=log_position,
                time_stamp=stamp,
            )
            for member in self.members
        ]
