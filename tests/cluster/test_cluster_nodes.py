"""The embedded cluster's nodes as grpcio (an independent gRPC client) sees them: gossip on
every node, what a follower answers (NotLeader and its trailers, forwarding, reads, the
``requires-leader`` header, persistent subscriptions), and the faults: kill, stop,
partition, heal, restart, resign (also through Operations.ResignNode), loss of quorum."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from esdb_wire import EventStoreDBClient
from esdb_wire.protos import gossip_pb2, persistent_pb2, shared_pb2, streams_pb2
from esdb_wire.server.cluster import ClusterNode, EmbeddedCluster, Health, VNodeState
from tests.peers import require_peer
from tests.server_hostile.raw import NATIVE_SERVER_SETTINGS, first_settings

pytestmark = pytest.mark.peers

GOSSIP = "/event_store.client.gossip.Gossip/Read"
READ = "/event_store.client.streams.Streams/Read"
APPEND = "/event_store.client.streams.Streams/Append"
PERSISTENT = "/event_store.client.persistent_subscriptions.PersistentSubscriptions/"
REQUIRES_LEADER = (("requires-leader", "true"),)
CALL_TIMEOUT = 5.0


class Peer:
    """grpcio channels to the nodes of a cluster, for raw calls."""

    def __init__(self) -> None:
        self.grpc: Any = require_peer("grpc")
        self.channels: list[Any] = []

    def channel(self, node: ClusterNode) -> Any:
        channel = self.grpc.insecure_channel(node.uri)
        self.channels.append(channel)
        return channel

    def unary(
        self,
        node: ClusterNode,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float = CALL_TIMEOUT,
    ) -> bytes:
        call = self.channel(node).unary_unary(path)
        result: bytes = call(request, metadata=tuple(metadata), timeout=timeout)
        return result

    def read(
        self, node: ClusterNode, request: bytes, metadata: Sequence[tuple[str, str]] = ()
    ) -> list[bytes]:
        call = self.channel(node).unary_stream(READ)
        return list(call(request, metadata=tuple(metadata), timeout=CALL_TIMEOUT))

    def append(
        self, node: ClusterNode, stream: str, metadata: Sequence[tuple[str, str]] = ()
    ) -> streams_pb2.AppendResp:
        call = self.channel(node).stream_unary(APPEND)
        data = call(iter(append_requests(stream)), metadata=tuple(metadata), timeout=CALL_TIMEOUT)
        return streams_pb2.AppendResp.FromString(data)

    def gossip(self, node: ClusterNode) -> gossip_pb2.ClusterInfo:
        data = self.unary(node, GOSSIP, shared_pb2.Empty().SerializeToString())
        return gossip_pb2.ClusterInfo.FromString(data)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    made = Peer()
    yield made
    made.close()


def append_requests(stream: str) -> list[bytes]:
    options = streams_pb2.AppendReq()
    options.options.stream_identifier.stream_name = stream.encode()
    options.options.any.SetInParent()
    event = streams_pb2.AppendReq()
    message = event.proposed_message
    message.id.string = str(uuid.uuid4())
    message.metadata["type"] = "Happened"
    message.metadata["content-type"] = "application/json"
    message.data = b"{}"
    return [options.SerializeToString(), event.SerializeToString()]


def read_request(stream: str) -> bytes:
    request = streams_pb2.ReadReq()
    options = request.options
    options.stream.stream_identifier.stream_name = stream.encode()
    options.stream.start.SetInParent()
    options.count = 100
    options.no_filter.SetInParent()
    options.uuid_option.string.SetInParent()
    options.control_option.compatibility = 1
    return request.SerializeToString()


def trailers(error: Any) -> dict[str, str]:
    return dict(error.trailing_metadata() or ())


def leader_of(cluster: EmbeddedCluster) -> ClusterNode:
    leader = cluster.leader
    assert leader is not None
    return leader


def state_names(info: gossip_pb2.ClusterInfo) -> list[tuple[int, int, bool]]:
    return sorted((m.http_end_point.port, m.state, m.is_alive) for m in info.members)


# -- gossip ------------------------------------------------------------------------------


def test_every_node_gossips_every_member_alike(cluster: EmbeddedCluster, peer: Peer) -> None:
    answers = [peer.gossip(node) for node in cluster.nodes]
    leader = leader_of(cluster)
    expected = sorted(
        (
            node.port,
            gossip_pb2.MemberInfo.Leader if node is leader else gossip_pb2.MemberInfo.Follower,
            True,
        )
        for node in cluster.nodes
    )
    for info in answers:
        assert state_names(info) == expected
        assert {m.http_end_point.address for m in info.members} == {"127.0.0.1"}
    ids = [sorted(m.instance_id.SerializeToString() for m in info.members) for info in answers]
    assert ids[0] == ids[1] == ids[2]
    views = cluster.gossip()
    assert {v.epoch_number for v in views} == {0}
    assert len({v.writer_checkpoint for v in views}) == 1


def test_the_advertised_host_is_gossiped_and_named_by_not_leader(peer: Peer) -> None:
    with EmbeddedCluster(3, advertise_host="localhost") as cluster:
        follower = cluster.followers[0]
        info = peer.gossip(follower)
        assert {m.http_end_point.address for m in info.members} == {"localhost"}
        with pytest.raises(peer.grpc.RpcError) as refused:
            peer.append(follower, f"s-{uuid.uuid4()}", REQUIRES_LEADER)
        assert trailers(refused.value)["leader-endpoint-host"] == "localhost"


# -- what a follower answers -------------------------------------------------------------


@pytest.mark.parametrize("header", ["true", "True", "TRUE"])
def test_a_write_requiring_the_leader_gets_not_leader(
    cluster: EmbeddedCluster, peer: Peer, header: str
) -> None:
    follower, leader = cluster.followers[0], leader_of(cluster)
    with pytest.raises(peer.grpc.RpcError) as refused:
        peer.append(follower, f"s-{uuid.uuid4()}", [("requires-leader", header)])
    error = refused.value
    assert error.code() == peer.grpc.StatusCode.NOT_FOUND
    assert error.details() == "Leader info available"
    assert trailers(error) == {
        "exception": "not-leader",
        "leader-endpoint-host": "127.0.0.1",
        "leader-endpoint-port": str(leader.port),
    }


@pytest.mark.parametrize("header", [None, "false", "yes"])
def test_a_write_not_requiring_the_leader_is_forwarded(
    cluster: EmbeddedCluster, peer: Peer, header: str | None
) -> None:
    follower, stream = cluster.followers[0], f"s-{uuid.uuid4()}"
    metadata = [] if header is None else [("requires-leader", header)]
    response = peer.append(follower, stream, metadata)
    assert response.WhichOneof("result") == "success"
    assert len(peer.read(leader_of(cluster), read_request(stream))) >= 1


def test_reads_on_a_follower(cluster: EmbeddedCluster, peer: Peer) -> None:
    stream = f"s-{uuid.uuid4()}"
    peer.append(leader_of(cluster), stream, REQUIRES_LEADER)
    follower = cluster.followers[-1]
    served = peer.read(follower, read_request(stream))
    assert sum(1 for m in served if streams_pb2.ReadResp.FromString(m).HasField("event")) == 1
    with pytest.raises(peer.grpc.RpcError) as refused:
        peer.read(follower, read_request(stream), REQUIRES_LEADER)
    assert trailers(refused.value)["exception"] == "not-leader"


def test_persistent_subscriptions_live_on_the_leader(cluster: EmbeddedCluster, peer: Peer) -> None:
    follower = cluster.followers[0]
    delete = persistent_pb2.DeleteReq()
    delete.options.stream_identifier.stream_name = b"orders"
    delete.options.group_name = "workers"
    with pytest.raises(peer.grpc.RpcError) as refused:  # with or without the header
        peer.unary(follower, PERSISTENT + "Delete", delete.SerializeToString())
    assert trailers(refused.value)["exception"] == "not-leader"
    listing = persistent_pb2.ListReq()
    listing.options.list_all_subscriptions.SetInParent()
    with pytest.raises(peer.grpc.RpcError) as not_ready:
        peer.unary(follower, PERSISTENT + "List", listing.SerializeToString())
    assert not_ready.value.code() == peer.grpc.StatusCode.UNAVAILABLE
    assert not_ready.value.details() == "Server Is Not Ready"
    answer = peer.unary(leader_of(cluster), PERSISTENT + "List", listing.SerializeToString())
    assert persistent_pb2.ListResp.FromString(answer) is not None


# -- faults ------------------------------------------------------------------------------


def connect_refused(node: ClusterNode) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_a_killed_leader_is_replaced_within_a_second(
    fresh_cluster: EmbeddedCluster, peer: Peer
) -> None:
    old = leader_of(fresh_cluster)
    survivor = next(n for n in fresh_cluster.nodes if n is not old)
    began = time.monotonic()
    old.kill()
    info = peer.gossip(survivor)
    took = time.monotonic() - began
    assert took < 1.0
    members = {m.http_end_point.port: m for m in info.members}
    assert members[old.port].is_alive is False
    assert members[old.port].state == gossip_pb2.MemberInfo.Unknown
    new = leader_of(fresh_cluster)
    assert members[new.port].state == gossip_pb2.MemberInfo.Leader
    assert connect_refused(old)
    assert fresh_cluster.membership.epoch_number == 1

    old.restart()
    assert old.state is VNodeState.FOLLOWER
    assert peer.gossip(old).members  # it answers again
    assert leader_of(fresh_cluster) is new


def test_a_stopped_node_is_shown_shut_down(fresh_cluster: EmbeddedCluster, peer: Peer) -> None:
    follower = fresh_cluster.followers[0]
    follower.stop()
    assert connect_refused(follower)
    info = peer.gossip(leader_of(fresh_cluster))
    member = next(m for m in info.members if m.http_end_point.port == follower.port)
    assert (member.state, member.is_alive) == (gossip_pb2.MemberInfo.Shutdown, False)
    follower.restart()
    assert follower.health is Health.RUNNING


def test_a_partitioned_node_accepts_but_never_answers(
    fresh_cluster: EmbeddedCluster, peer: Peer
) -> None:
    old = leader_of(fresh_cluster)
    held = EventStoreDBClient(f"esdb://{old.uri}?Tls=false")  # connected before the cut
    try:
        held.get_commit_position()
        old.partition()
        assert leader_of(fresh_cluster) is not old
        with socket.create_connection(("127.0.0.1", old.port), timeout=2) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            sock.settimeout(0.5)
            with pytest.raises(socket.timeout):
                sock.recv(100)
        with pytest.raises(peer.grpc.RpcError) as silent:
            peer.unary(old, GOSSIP, b"", timeout=0.5)
        assert silent.value.code() == peer.grpc.StatusCode.DEADLINE_EXCEEDED

        # A call on the held connection waits; after the heal it is answered (the old
        # leader is a follower now: a read is served where it is).
        answered: list[int] = []
        reader = threading.Thread(
            target=lambda: answered.append(held.get_commit_position(timeout=5)), daemon=True
        )
        reader.start()
        time.sleep(0.5)
        assert reader.is_alive()  # no answer while cut off
        old.heal()
        reader.join(5)
        assert answered  # it got through once reachable again
        assert old.state is VNodeState.FOLLOWER
    finally:
        held.close()


def test_resign_through_the_operations_api(fresh_cluster: EmbeddedCluster) -> None:
    old = leader_of(fresh_cluster)
    with EventStoreDBClient(f"esdb://{old.uri}?Tls=false") as client:
        client.resign_node()
    new = leader_of(fresh_cluster)
    assert new is not old
    assert old.state is VNodeState.FOLLOWER
    assert fresh_cluster.membership.epoch_number == 1
    # A follower asked to resign stays a follower.
    with EventStoreDBClient(f"esdb://{old.uri}?Tls=false") as client:
        client.resign_node()
    assert leader_of(fresh_cluster) is new


def test_node_priority_decides_the_next_election(fresh_cluster: EmbeddedCluster) -> None:
    favourite = fresh_cluster.nodes[2]
    with EventStoreDBClient(f"esdb://{favourite.uri}?Tls=false") as client:
        client.set_node_priority(10)
    leader_of(fresh_cluster).resign()
    assert leader_of(fresh_cluster) is favourite


def test_without_quorum_writes_are_not_ready(fresh_cluster: EmbeddedCluster, peer: Peer) -> None:
    first, second, last = fresh_cluster.nodes
    first.kill()
    second.kill()
    assert fresh_cluster.leader is None
    assert last.state is VNodeState.UNKNOWN
    with pytest.raises(peer.grpc.RpcError) as refused:
        peer.append(last, f"s-{uuid.uuid4()}", REQUIRES_LEADER)
    assert refused.value.code() == peer.grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "Server Is Not Ready"
    assert peer.read(last, read_request("$all-nothing")) is not None  # reads still served
    second.restart()
    assert leader_of(fresh_cluster) in (second, last)
    peer.append(leader_of(fresh_cluster), f"s-{uuid.uuid4()}", REQUIRES_LEADER)


def test_a_read_only_replica_serves_reads_and_never_leads(peer: Peer) -> None:
    with EmbeddedCluster(3, read_only_replicas=1) as cluster:
        replica = cluster.nodes[3]
        assert replica.state is VNodeState.READ_ONLY_REPLICA
        stream = f"s-{uuid.uuid4()}"
        peer.append(leader_of(cluster), stream, REQUIRES_LEADER)
        assert peer.read(replica, read_request(stream))
        with pytest.raises(peer.grpc.RpcError) as refused:
            peer.append(replica, stream, REQUIRES_LEADER)
        assert trailers(refused.value)["leader-endpoint-port"] == str(leader_of(cluster).port)
        for node in cluster.nodes[:2]:
            node.kill()
        assert cluster.leader is None
        assert cluster.nodes[3].state is VNodeState.READ_ONLY_LEADERLESS


def test_shutdown_through_the_operations_api_stops_that_node_only(
    fresh_cluster: EmbeddedCluster, peer: Peer
) -> None:
    follower = fresh_cluster.followers[0]
    with EventStoreDBClient(f"esdb://{follower.uri}?Tls=false") as client:
        client.shutdown()
    deadline = time.monotonic() + 5
    while follower.health is not Health.STOPPED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert follower.health is Health.STOPPED
    assert connect_refused(follower)
    assert len(peer.gossip(leader_of(fresh_cluster)).members) == 3
    follower.restart()
    assert follower.state is VNodeState.FOLLOWER


def test_reset_empties_the_log_of_every_node(fresh_cluster: EmbeddedCluster, peer: Peer) -> None:
    stream = f"s-{uuid.uuid4()}"
    peer.append(leader_of(fresh_cluster), stream, REQUIRES_LEADER)
    fresh_cluster.reset()
    for node in fresh_cluster.nodes:
        (answer,) = peer.read(node, read_request(stream))
        assert streams_pb2.ReadResp.FromString(answer).HasField("stream_not_found")
    assert leader_of(fresh_cluster).state is VNodeState.LEADER  # roles are kept


def test_a_cluster_on_a_journal_finds_its_log_again(tmp_path: Any, peer: Peer) -> None:
    """``db``: the cluster's one log is kept in a journal file, as a node's is."""
    db = tmp_path / "cluster.db"
    stream = f"s-{uuid.uuid4()}"
    with EmbeddedCluster(3, db=db) as cluster:
        peer.append(leader_of(cluster), stream, REQUIRES_LEADER)
    with EmbeddedCluster(3, db=db) as again:
        for node in again.nodes:
            events = [
                streams_pb2.ReadResp.FromString(m) for m in peer.read(node, read_request(stream))
            ]
            assert sum(1 for e in events if e.HasField("event")) == 1


# -- the server HTTP/2 engine ----------------------------------------------------------


def test_every_node_runs_the_chosen_server_engine(peer: Peer) -> None:
    with EmbeddedCluster(3, http2_engine="native") as cluster:
        assert [
            first_settings(node.member.advertise_host, node.port) for node in cluster.nodes
        ] == [NATIVE_SERVER_SETTINGS] * 3
        leader, follower, stream = leader_of(cluster), cluster.followers[0], f"s-{uuid.uuid4()}"
        assert peer.append(leader, stream, REQUIRES_LEADER).WhichOneof("result") == "success"
        assert peer.append(follower, stream).WhichOneof("result") == "success"  # forwarded
        events = [
            streams_pb2.ReadResp.FromString(m) for m in peer.read(follower, read_request(stream))
        ]
        assert sum(1 for e in events if e.HasField("event")) == 2
        with pytest.raises(peer.grpc.RpcError) as refused:
            peer.append(follower, stream, REQUIRES_LEADER)
        assert trailers(refused.value)["leader-endpoint-port"] == str(leader.port)
    with EmbeddedCluster(1) as default:  # h2, the default, names more
        assert first_settings("127.0.0.1", default.nodes[0].port) > NATIVE_SERVER_SETTINGS
    with pytest.raises(ValueError, match="engine"):
        EmbeddedCluster(3, http2_engine="grpc")
