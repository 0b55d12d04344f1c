"""What esdbclient's ``TestRequiresLeaderHeader`` covers, by esdbclient against a secure
three-node embedded cluster: a *writer* (``NodePreference=leader``) and a *reader*
(``NodePreference=follower``), both given every node as a seed.

* Catch-up subscriptions are served by a follower (no ``requires-leader``) and see what
  the leader commits.
* Writes, stream metadata, deletes and every persistent subscription call on a follower
  fail with ``NodeIsNotLeader`` (esdbclient sends ``requires-leader: true`` on them, and
  persistent subscriptions live on the leader whatever the header says; listing and
  getting their info answer "Server Is Not Ready", which esdbclient reports that way too).
* A leader-preferring client whose node stops being the leader (esdbclient's test swaps a
  follower's connection in; here the leader resigns under it: ``resign N`` on the CLI)
  follows NotLeader's ``leader-endpoint-host``/``-port`` trailers to the new leader: its
  writes, and its reads (with ``requires-leader: true``), succeed there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.cluster.cli_cluster import CliCluster, CliNode
from tests.conformance._peer import esdbclient_or_skip

esdbclient = esdbclient_or_skip()

from esdbclient import EventStoreDBClient, NewEvent, StreamState  # noqa: E402
from esdbclient.exceptions import NodeIsNotLeader  # noqa: E402

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

pytestmark = pytest.mark.peers
DEADLINE = 10.0


@dataclass
class Pair:
    """A writer (prefers the leader) and a reader (prefers a follower)."""

    cluster: CliCluster
    writer: EventStoreDBClient
    reader: EventStoreDBClient


@pytest.fixture
def pair(secure_cluster: CliCluster, certs: CertificateFiles) -> Iterator[Pair]:
    ca = certs.ca_certificate.read_text()
    seeds = ",".join(node.uri for node in secure_cluster.nodes)

    def connect(preference: str) -> EventStoreDBClient:
        return EventStoreDBClient(
            f"esdb://admin:changeit@{seeds}?NodePreference={preference}", root_certificates=ca
        )

    writer = connect("leader")
    try:
        reader = connect("follower")
    except BaseException:
        writer.close()
        raise
    try:
        yield Pair(secure_cluster, writer, reader)
    finally:
        writer.close()
        reader.close()


def new_events(count: int) -> list[NewEvent]:
    return [NewEvent(type=f"Happened{i}", data=uuid.uuid4().bytes) for i in range(count)]


def node_of(cluster: CliCluster, client: EventStoreDBClient) -> CliNode:
    (node,) = [n for n in cluster.nodes if n.uri == client.connection_target]
    return node


def test_the_clients_are_on_the_leader_and_a_follower(pair: Pair) -> None:
    assert node_of(pair.cluster, pair.writer).is_leader
    assert node_of(pair.cluster, pair.reader).status.state == "follower"


def test_can_subscribe_to_all_on_a_follower(pair: Pair) -> None:
    subscription = pair.reader.subscribe_to_all(from_end=True, timeout=DEADLINE)
    events = new_events(2)
    pair.writer.append_events(
        str(uuid.uuid4()), current_version=StreamState.NO_STREAM, events=events
    )
    seen = []
    for recorded in subscription:
        seen.append(recorded.id)
        if recorded.id == events[1].id:
            break
    assert seen[-2:] == [events[0].id, events[1].id]
    subscription.stop()


def test_can_subscribe_to_a_stream_on_a_follower(pair: Pair) -> None:
    stream_name, events = str(uuid.uuid4()), new_events(2)
    pair.writer.append_events(stream_name, current_version=StreamState.NO_STREAM, events=events)
    subscription = pair.reader.subscribe_to_stream(stream_name, timeout=DEADLINE)
    assert [next(subscription).id for _ in events] == [e.id for e in events]
    subscription.stop()


def test_a_follower_reads_what_the_leader_wrote(pair: Pair) -> None:
    stream_name, events = str(uuid.uuid4()), new_events(3)
    pair.writer.append_events(stream_name, current_version=StreamState.NO_STREAM, events=events)
    assert [e.id for e in pair.reader.get_stream(stream_name)] == [e.id for e in events]


@dataclass(frozen=True)
class Operation:
    """One call that must be made on the leader: ``prepare`` (on the leader) makes what
    ``act`` needs, and returns the names ``act`` uses."""

    name: str
    act: Callable[[EventStoreDBClient, dict[str, str]], object]
    prepare: Callable[[EventStoreDBClient], dict[str, str]] = lambda _: {}


def _names() -> dict[str, str]:
    return {"stream": str(uuid.uuid4()), "group": f"group{uuid.uuid4()}"}


def _written(client: EventStoreDBClient) -> dict[str, str]:
    names = _names()
    client.append_events(
        names["stream"], current_version=StreamState.NO_STREAM, events=new_events(2)
    )
    return names


def _all_group(client: EventStoreDBClient) -> dict[str, str]:
    names = _names()
    client.create_subscription_to_all(group_name=names["group"])
    return names


def _stream_group(client: EventStoreDBClient) -> dict[str, str]:
    names = _names()
    client.create_subscription_to_stream(group_name=names["group"], stream_name=names["stream"])
    return names


def _read_group(subscription: Any) -> None:
    subscription.stop()


# Answered by the persistent subscriptions service's statistics: "Server Is Not Ready".
STATISTICS = ("list_subscriptions", "list_subscriptions_to_stream", "get_subscription_info")
OPERATIONS = [
    Operation(
        "append_event",
        lambda c, n: c.append_event(
            n["stream"], current_version=StreamState.NO_STREAM, event=new_events(1)[0]
        ),
        lambda _: _names(),
    ),
    Operation(
        "append_events",
        lambda c, n: c.append_events(
            n["stream"], current_version=StreamState.NO_STREAM, events=new_events(2)
        ),
        lambda _: _names(),
    ),
    Operation(
        "set_stream_metadata",
        lambda c, n: c.set_stream_metadata(n["stream"], metadata={}),
        lambda _: _names(),
    ),
    Operation(
        "delete_stream", lambda c, n: c.delete_stream(n["stream"], current_version=1), _written
    ),
    Operation(
        "tombstone_stream",
        lambda c, n: c.tombstone_stream(n["stream"], current_version=StreamState.ANY),
        lambda _: _names(),
    ),
    Operation(
        "create_subscription_to_all",
        lambda c, n: c.create_subscription_to_all(group_name=n["group"]),
        lambda _: _names(),
    ),
    Operation(
        "create_subscription_to_stream",
        lambda c, n: c.create_subscription_to_stream(
            group_name=n["group"], stream_name=n["stream"]
        ),
        lambda _: _names(),
    ),
    Operation(
        "read_subscription_to_all",
        lambda c, n: _read_group(c.read_subscription_to_all(group_name=n["group"])),
        _all_group,
    ),
    Operation(
        "read_subscription_to_stream",
        lambda c, n: _read_group(
            c.read_subscription_to_stream(group_name=n["group"], stream_name=n["stream"])
        ),
        _stream_group,
    ),
    Operation("list_subscriptions", lambda c, n: c.list_subscriptions(), _all_group),
    Operation(
        "list_subscriptions_to_stream",
        lambda c, n: c.list_subscriptions_to_stream(stream_name=n["stream"]),
        _stream_group,
    ),
    Operation(
        "get_subscription_info",
        lambda c, n: c.get_subscription_info(group_name=n["group"]),
        _all_group,
    ),
    Operation(
        "delete_subscription",
        lambda c, n: c.delete_subscription(group_name=n["group"]),
        _all_group,
    ),
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.name for o in OPERATIONS])
def test_a_follower_refuses_and_the_writer_follows_the_leader(
    pair: Pair, operation: Operation
) -> None:
    names = operation.prepare(pair.writer)
    with pytest.raises(NodeIsNotLeader) as refused:
        operation.act(pair.reader, names)
    leader = pair.cluster.leader
    assert leader is not None
    if operation.name in STATISTICS:  # "Server Is Not Ready": no leader named
        assert refused.value.leader_grpc_target is None
    else:  # NotLeader's trailers name the leader
        assert refused.value.leader_grpc_target == leader.uri

    # The writer's node stops being the leader under it: NotLeader, then the new leader.
    old_leader = node_of(pair.cluster, pair.writer)
    old_leader.resign()
    assert not old_leader.is_leader
    operation.act(pair.writer, names)
    assert node_of(pair.cluster, pair.writer).is_leader


def test_a_leader_preferring_reader_moves_to_the_leader(pair: Pair) -> None:
    stream_name, events = str(uuid.uuid4()), new_events(2)
    pair.writer.append_events(stream_name, current_version=StreamState.NO_STREAM, events=events)
    node_of(pair.cluster, pair.writer).resign()
    # On the old leader, now a follower: the read carries requires-leader and is redirected.
    before = node_of(pair.cluster, pair.writer)
    assert not before.is_leader
    assert [e.id for e in pair.writer.get_stream(stream_name)] == [e.id for e in events]
    after = node_of(pair.cluster, pair.writer)
    assert after.is_leader
    assert after is not before
