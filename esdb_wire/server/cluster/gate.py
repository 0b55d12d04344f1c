"""What a cluster node does with a call its role does not allow, and its gossip.

A follower (or read-only replica) of a real cluster (``ClusterVNodeController``, spec §6):

* **writes** (Append, BatchAppend, Delete, Tombstone; the v2 appends): with
  ``requires-leader: true`` it answers NotLeader (NOT_FOUND "Leader info available",
  trailers ``exception: not-leader``, ``leader-endpoint-host``, ``leader-endpoint-port``;
  the v2 API's rich ``NOT_LEADER_NODE`` error); without it the write is forwarded to the
  leader. Here the log is shared, so forwarding is serving it.
* **reads and catch-up subscriptions**: NotLeader with ``requires-leader: true``, otherwise
  served from the node's own (replicated) log.
* **persistent subscriptions**: they live on the leader. Create, Update, Delete, Read,
  ReplayParked and RestartSubsystem always answer NotLeader; List and GetInfo, which ask
  the (not started) persistent subscriptions service for its statistics, answer
  UNAVAILABLE "Server Is Not Ready" (esdbclient reports both as ``NodeIsNotLeader``).
* everything else (gossip, server features, users, projections, operations, monitoring)
  is served.

Without a leader (no quorum) what would be refused or forwarded fails with UNAVAILABLE
"Server Is Not Ready". The ``requires-leader`` header is parsed as .NET's
``bool.TryParse``: ``true`` in any case; absent or anything else is false.

:func:`gate_methods` wraps the mounted methods with these checks (a plain function around
each handler, so a refused call ends before any response and a served one costs no extra
await); :class:`ClusterGossipService` answers ``Gossip.Read`` with every member.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from esdb_wire.codec import v2_errors as codes
from esdb_wire.protos import gossip_pb2, kurrent_errors_pb2, shared_pb2
from esdb_wire.protos.uuids import uuid_message
from esdb_wire.server import errors
from esdb_wire.server.cluster.membership import MemberView
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.server.streams_v2_errors import rich_error

REQUIRES_LEADER = "requires-leader"
_STREAMS = "/event_store.client.streams.Streams/"
_V2_STREAMS = "/kurrentdb.protocol.v2.streams.StreamsService/"
_PERSISTENT = "/event_store.client.persistent_subscriptions.PersistentSubscriptions/"


class CallKind(enum.Enum):
    """How a node's role decides about a call."""

    WRITE = "write"  # forwarded, or NotLeader with requires-leader
    V2_WRITE = "v2 write"  # the same, with the v2 API's rich errors
    READ = "read"  # served, or NotLeader with requires-leader
    LEADER_ONLY = "leader only"  # always NotLeader off the leader
    LEADER_STATS = "leader statistics"  # always "Server Is Not Ready" off the leader
    ANYWHERE = "anywhere"  # served by every node


def kind_of(path: str) -> CallKind:
    """The :class:`CallKind` of the rpc at ``path``."""
    if path.startswith(_PERSISTENT):
        if path in (_PERSISTENT + "List", _PERSISTENT + "GetInfo"):
            return CallKind.LEADER_STATS
        return CallKind.LEADER_ONLY
    if path.startswith(_STREAMS):
        return CallKind.READ if path == _STREAMS + "Read" else CallKind.WRITE
    if path.startswith(_V2_STREAMS):
        return CallKind.V2_WRITE
    return CallKind.ANYWHERE


def requires_leader(metadata: Mapping[str, str]) -> bool:
    """The ``requires-leader`` header as the server reads it."""
    return metadata.get(REQUIRES_LEADER, "").strip().lower() == "true"


class NodeRole(Protocol):
    """What the gate needs to know about its node, at the time of each call."""

    @property
    def is_leader(self) -> bool:
        """Whether the node is the leader now."""

    @property
    def leader_endpoint(self) -> tuple[str, int] | None:
        """The advertised (host, port) of the current leader, None without one."""


def refusal(kind: CallKind, metadata: Mapping[str, str], role: NodeRole) -> Exception | None:
    """The error a call of ``kind`` gets on a node in ``role``, or None to serve it."""
    if kind is CallKind.ANYWHERE or role.is_leader:
        return None
    if kind is CallKind.LEADER_STATS:
        return errors.server_not_ready()
    needs_leader = kind is CallKind.LEADER_ONLY or requires_leader(metadata)
    if kind is CallKind.READ and not needs_leader:
        return None
    leader = role.leader_endpoint
    if leader is None:
        if kind is CallKind.V2_WRITE:
            return rich_error(
                codes.SERVER_NOT_READY, "Server Is Not Ready", domain=codes.SERVER_DOMAIN
            )
        return errors.server_not_ready()
    if not needs_leader:
        return None  # a write forwarded to the leader: the log is shared
    if kind is CallKind.V2_WRITE:
        return _v2_not_leader(*leader)
    return errors.not_leader(*leader)


def _v2_not_leader(host: str, port: int) -> Exception:
    details = kurrent_errors_pb2.NotLeaderNodeErrorDetails(
        current_leader=kurrent_errors_pb2.NotLeaderNodeErrorDetails.NodeInfo(host=host, port=port)
    )
    return rich_error(
        codes.NOT_LEADER_NODE,
        f"Not leader. New leader at {host}:{port}.",
        [details],
        domain=codes.SERVER_DOMAIN,
    )


def _gated(handler: Callable[..., Any], kind: CallKind, role: NodeRole) -> Callable[..., Any]:
    def gated(argument: Any, context: CallContext) -> Any:
        error = refusal(kind, context.metadata, role)
        if error is not None:
            raise error
        return handler(argument, context)

    return gated


def gate_methods(methods: Mapping[str, Method], role: NodeRole) -> dict[str, Method]:
    """``methods`` behind the checks of the node's ``role`` (decided at each call)."""
    gated: dict[str, Method] = {}
    for path, method in methods.items():
        kind = kind_of(path)
        if kind is CallKind.ANYWHERE:
            gated[path] = method
        else:
            gated[path] = dataclasses.replace(method, handler=_gated(method.handler, kind, role))
    return gated


class ClusterGossipService:
    """``event_store.client.gossip.Gossip`` of a cluster node: every member, as
    ``members()`` gives them at the time of the call."""

    def __init__(self, members: Callable[[], list[MemberView]]) -> None:
        self._members = members

    async def Read(self, request: shared_pb2.Empty, context: CallContext) -> gossip_pb2.ClusterInfo:
        """Every member, as the cluster knows them now."""
        return cluster_info(self._members())


def cluster_info(views: list[MemberView]) -> gossip_pb2.ClusterInfo:
    """The ``ClusterInfo`` message of ``views``."""
    return gossip_pb2.ClusterInfo(
        members=[
            gossip_pb2.MemberInfo(
                instance_id=uuid_message(view.instance_id),
                time_stamp=view.time_stamp,
                state=int(view.state),  # type: ignore[arg-type]
                is_alive=view.is_alive,
                http_end_point=gossip_pb2.EndPoint(address=view.host, port=view.port),
            )
            for view in views
        ]
    )
