"""AsyncEventStoreDBClient against an embedded cluster: discovery, node preference,
NotLeader redirects, failover of a live subscription, and the discovery settings inside
an operation's deadline (asyncio: the source of ``test_sync_cluster_client.py``, made by
``scripts/unasync.py``)."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    DeadlineExceeded,
    NewEvent,
    NewEvents,
    ServiceUnavailable,
    StreamState,
)
from esdb_wire.exceptions import DiscoveryFailed, ReadOnlyReplicaNotFound
from esdb_wire.server.cluster import ClusterNode, EmbeddedCluster, VNodeState
from tests.client_v1._async_helpers import take

DEADLINE = 10.0
CLIENT_LOG = "esdb_wire.client"


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    """Three nodes and a read-only replica, shared by the tests that break nothing."""
    with EmbeddedCluster(3, read_only_replicas=1) as running:
        yield running


def new_events(count: int) -> list[NewEvent]:
    return [NewEvent(type="Happened", data=b'{"n": %d}' % i) for i in range(count)]


def node_at(cluster: EmbeddedCluster, target: str) -> ClusterNode:
    (node,) = [n for n in cluster.nodes if n.uri == target]
    return node


def refused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def leader_of(cluster: EmbeddedCluster) -> ClusterNode:
    leader = cluster.leader
    assert leader is not None
    return leader


async def test_several_seeds_discover_the_leader(cluster: EmbeddedCluster) -> None:
    async with AsyncEventStoreDBClient(cluster.esdb_uri) as client:
        name = f"cluster-{uuid.uuid4()}"
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        assert client.connection_target == leader_of(cluster).uri
        assert len(await client.get_stream(name)) == 2
        members = await client.read_gossip()
        assert sorted(m.state for m in members) == [
            "NODE_STATE_FOLLOWER",
            "NODE_STATE_FOLLOWER",
            "NODE_STATE_LEADER",
            "NODE_STATE_REPLICA",
        ]


async def test_a_refusing_seed_is_skipped(cluster: EmbeddedCluster) -> None:
    follower = cluster.followers[0]
    uri = f"esdb://127.0.0.1:{refused_port()},{follower.uri}?Tls=false"
    async with AsyncEventStoreDBClient(uri) as client:
        await client.append_to_stream(
            f"cluster-{uuid.uuid4()}", current_version=StreamState.ANY, events=new_events(1)
        )
        assert client.connection_target == leader_of(cluster).uri


async def test_discover_scheme_through_a_host_name(cluster: EmbeddedCluster) -> None:
    """``esdb+discover://`` with one name: the name is resolved for the gossip request,
    and the leader is reached at the address gossip advertises."""
    seed = cluster.followers[0]
    async with AsyncEventStoreDBClient(
        f"esdb+discover://localhost:{seed.port}?Tls=false"
    ) as client:
        await client.append_to_stream(
            f"cluster-{uuid.uuid4()}", current_version=StreamState.ANY, events=new_events(1)
        )
        assert client.connection_target == leader_of(cluster).uri


@pytest.mark.parametrize(
    ("preference", "states"),
    [
        ("leader", {VNodeState.LEADER}),
        ("follower", {VNodeState.FOLLOWER}),
        ("readonlyreplica", {VNodeState.READ_ONLY_REPLICA}),
        ("random", {VNodeState.LEADER, VNodeState.FOLLOWER, VNodeState.READ_ONLY_REPLICA}),
    ],
)
async def test_node_preference(
    cluster: EmbeddedCluster, preference: str, states: set[VNodeState]
) -> None:
    name = f"cluster-{uuid.uuid4()}"
    async with AsyncEventStoreDBClient(cluster.esdb_uri) as writer:
        await writer.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(3)
        )
    uri = cluster.connection_string(NodePreference=preference)
    async with AsyncEventStoreDBClient(uri) as client:
        # Reads are served where the client connected (no requires-leader off "leader").
        assert len(await client.get_stream(name)) == 3
        assert node_at(cluster, client.connection_target).state in states


async def test_no_read_only_replica_fails_discovery(fresh_cluster: EmbeddedCluster) -> None:
    uri = fresh_cluster.connection_string(
        NodePreference="readonlyreplica", MaxDiscoverAttempts="2", DiscoveryInterval="10"
    )
    async with AsyncEventStoreDBClient(uri) as client:
        with pytest.raises(ReadOnlyReplicaNotFound):
            await client.get_commit_position()


async def test_an_append_on_a_follower_is_redirected_to_the_leader(
    cluster: EmbeddedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    follower = cluster.followers[0]
    leader = leader_of(cluster)
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    # One host, no discovery: the client talks to the follower until told otherwise.
    async with AsyncEventStoreDBClient(f"esdb://{follower.uri}?Tls=false") as client:
        name = f"cluster-{uuid.uuid4()}"
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1)
        )
        assert client.connection_target == leader.uri
        assert f"{follower.uri} is not the leader: redirected to {leader.uri}" in caplog.text
        assert len(await client.get_stream(name)) == 1


async def test_a_v2_multi_stream_append_on_a_follower_is_redirected(
    cluster: EmbeddedCluster,
) -> None:
    """KurrentDB's v2 API answers a follower's append with its rich NOT_LEADER_NODE error
    (the leader's host and port in NotLeaderNodeErrorDetails): the client follows it."""
    follower = cluster.followers[0]
    async with AsyncEventStoreDBClient(f"esdb://{follower.uri}?Tls=false") as client:
        names = [f"cluster-{uuid.uuid4()}" for _ in range(2)]
        await client.multi_append_to_stream(
            [NewEvents(name, new_events(1), StreamState.NO_STREAM) for name in names]
        )
        assert client.connection_target == leader_of(cluster).uri
        for name in names:
            assert len(await client.get_stream(name)) == 1


async def test_a_read_requiring_the_leader_is_redirected(cluster: EmbeddedCluster) -> None:
    name = f"cluster-{uuid.uuid4()}"
    async with AsyncEventStoreDBClient(cluster.esdb_uri) as writer:
        await writer.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
    follower = cluster.followers[-1]
    async with AsyncEventStoreDBClient(f"esdb://{follower.uri}?Tls=false") as client:
        assert len(await client.get_stream(name)) == 2
        assert client.connection_target == leader_of(cluster).uri
    uri = f"esdb://{follower.uri}?Tls=false&NodePreference=follower"
    async with AsyncEventStoreDBClient(uri) as reader:
        assert len(await reader.get_stream(name)) == 2
        assert reader.connection_target == follower.uri  # served where it is


async def test_discovery_is_logged(
    cluster: EmbeddedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=CLIENT_LOG)
    uri = f"esdb://127.0.0.1:{refused_port()},{cluster.nodes[0].uri}?Tls=false"
    async with AsyncEventStoreDBClient(uri) as client:
        await client.get_commit_position()
    leader = leader_of(cluster)
    assert "discovery: asking" in caplog.text
    assert "failed" in caplog.text  # the refusing seed
    assert f"discovery: chose {leader.uri} (NODE_STATE_LEADER, preference leader)" in caplog.text


async def test_a_resigned_leader_redirects_the_next_write(fresh_cluster: EmbeddedCluster) -> None:
    async with AsyncEventStoreDBClient(fresh_cluster.esdb_uri) as client:
        name = f"cluster-{uuid.uuid4()}"
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1)
        )
        old = leader_of(fresh_cluster)
        old.resign()
        new = leader_of(fresh_cluster)
        assert new is not old
        await client.append_to_stream(name, current_version=0, events=new_events(1))
        assert client.connection_target == new.uri


async def test_a_killed_leader_is_replaced_for_the_next_call(
    fresh_cluster: EmbeddedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    async with AsyncEventStoreDBClient(fresh_cluster.esdb_uri) as client:
        name = f"cluster-{uuid.uuid4()}"
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(1)
        )
        leader_of(fresh_cluster).kill()
        events = new_events(1)
        try:
            await client.append_to_stream(name, current_version=0, events=events)
        except ServiceUnavailable:  # the dead connection took the call: its outcome is unknown
            await client.append_to_stream(name, current_version=0, events=events)  # idempotent
        assert client.connection_target == leader_of(fresh_cluster).uri
        assert len(await client.get_stream(name)) == 2
    assert "discovering the cluster again" in caplog.text


async def test_auto_resubscribe_across_a_leader_kill(fresh_cluster: EmbeddedCluster) -> None:
    """A live subscription on the leader, which is killed: it resubscribes on the new
    leader after the last event it received, with no gap and no duplicate."""
    name = f"cluster-{uuid.uuid4()}"
    first, second = new_events(5), new_events(5)
    async with AsyncEventStoreDBClient(fresh_cluster.esdb_uri) as reader:
        subscription = await reader.subscribe_to_stream(name, auto_resubscribe=True)
        async with AsyncEventStoreDBClient(fresh_cluster.esdb_uri) as writer:
            await writer.append_to_stream(name, current_version=StreamState.NO_STREAM, events=first)
            received = await take(subscription, 3)
            assert reader.connection_target == leader_of(fresh_cluster).uri
            leader_of(fresh_cluster).kill()
            received += await take(subscription, 2)
            try:
                await writer.append_to_stream(name, current_version=4, events=second)
            except ServiceUnavailable:  # its connection died with the leader: the same append again
                await writer.append_to_stream(name, current_version=4, events=second)
            received += await take(subscription, 5)
        subscription.stop()
        assert reader.connection_target == leader_of(fresh_cluster).uri
    assert [e.id for e in received] == [e.id for e in first + second]
    assert [e.stream_position for e in received] == list(range(10))


@pytest.mark.timing
async def test_keepalive_leaves_a_partitioned_leader(fresh_cluster: EmbeddedCluster) -> None:
    """The leader is cut off (it stops answering; nothing closes the connections): the
    clients' keepalive PINGs go unanswered, the connections are given up, and a live
    subscription resubscribes on the new leader with no gap and no duplicate."""
    uri = fresh_cluster.connection_string(KeepAliveInterval="200", KeepAliveTimeout="300")
    name = f"cluster-{uuid.uuid4()}"
    first, second = new_events(2), new_events(2)
    async with AsyncEventStoreDBClient(uri) as reader, AsyncEventStoreDBClient(uri) as writer:
        subscription = await reader.subscribe_to_stream(name, auto_resubscribe=True)
        await writer.append_to_stream(name, current_version=StreamState.NO_STREAM, events=first)
        received = await take(subscription, 2)
        old = leader_of(fresh_cluster)
        old.partition()
        for _ in range(3):  # the first try may go to the silent node
            try:
                await writer.append_to_stream(name, current_version=1, events=second, timeout=3)
                break
            except (ServiceUnavailable, DeadlineExceeded):
                continue
        received += await take(subscription, 2)
        subscription.stop()
        assert reader.connection_target == leader_of(fresh_cluster).uri != old.uri
        old.heal()
    assert [e.id for e in received] == [e.id for e in first + second]


@pytest.mark.timing
async def test_discovery_settings_are_honoured(fresh_cluster: EmbeddedCluster) -> None:
    """Every node partitioned (they accept connections and never answer): each round asks
    every seed for at most GossipTimeout, rounds are DiscoveryInterval apart, and after
    MaxDiscoverAttempts rounds discovery fails."""
    for node in fresh_cluster.nodes:
        node.partition()
    uri = fresh_cluster.connection_string(
        MaxDiscoverAttempts="2", DiscoveryInterval="300", GossipTimeout="200"
    )
    async with AsyncEventStoreDBClient(uri) as client:
        began = time.monotonic()
        with pytest.raises(DiscoveryFailed):
            await client.get_commit_position(timeout=DEADLINE)
        took = time.monotonic() - began
    # Two rounds of three 0.2 s gossip timeouts, 0.3 s apart: 1.5 s.
    assert 1.4 <= took < 3.0


@pytest.mark.timing
async def test_discovery_stays_inside_the_operations_deadline(
    fresh_cluster: EmbeddedCluster,
) -> None:
    for node in fresh_cluster.nodes:
        node.partition()
    uri = fresh_cluster.connection_string(
        MaxDiscoverAttempts="10", DiscoveryInterval="500", GossipTimeout="1000"
    )
    async with AsyncEventStoreDBClient(uri) as client:
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await client.append_to_stream(
                f"cluster-{uuid.uuid4()}",
                current_version=StreamState.ANY,
                events=new_events(1),
                timeout=1.0,
            )
        took = time.monotonic() - began
    assert 0.9 <= took < 1.6  # discovery alone would take 10 rounds of 3 s
