"""ServerFeatures.GetSupportedMethods and Gossip.Read."""

from __future__ import annotations

import uuid

from esdb_wire.protos import gossip_pb2, persistent_pb2, shared_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.protos.wire_names import canonical_name
from esdb_wire.server.features import GossipService, ServerFeaturesService
from tests.server.helpers import TICKS_2024, Clock, ctx, run


def mounted_pairs() -> list[tuple[str, str]]:
    pairs = []
    for module, service in (
        (streams_pb2, "Streams"),
        (persistent_pb2, "PersistentSubscriptions"),
    ):
        descriptor = module.DESCRIPTOR.services_by_name[service]
        pairs += [(canonical_name(descriptor.full_name), m.name) for m in descriptor.methods]
    pairs.append(("event_store.client.projections.Projections", "Create"))
    pairs.append(("event_store.client.users.Users", "Create"))
    pairs.append(("event_store.cluster.Gossip", "Update"))  # node-to-node: not listed
    pairs.append(("event_store.client.streams.Streams", "Read"))  # duplicates are dropped
    return pairs


def supported() -> dict[tuple[str, str], list[str]]:
    response = run(
        ServerFeaturesService(mounted_pairs()).GetSupportedMethods(shared_pb2.Empty(), ctx())
    )
    assert response.event_store_server_version == "25.0.0"
    return {(m.service_name, m.method_name): list(m.features) for m in response.methods}


def test_supported_methods_are_lower_case_and_only_client_services() -> None:
    methods = supported()
    streams = "event_store.client.streams.streams"
    assert methods[(streams, "read")] == ["position", "events"]
    assert methods[(streams, "batchappend")] == ["deadline_duration"]
    assert methods[(streams, "append")] == []
    assert methods[(streams, "tombstone")] == []
    persistent = "event_store.client.persistent_subscriptions.persistentsubscriptions"
    persistent_methods = {name for service, name in methods if service == persistent}
    assert persistent_methods == {
        "create",
        "update",
        "delete",
        "read",
        "getinfo",
        "replayparked",
        "list",
        "restartsubsystem",
    }
    assert all(methods[(persistent, name)] == ["stream", "all"] for name in persistent_methods)
    assert methods[("event_store.client.projections.projections", "create")] == [
        "track_emitted_streams"
    ]
    assert methods[("event_store.client.users.users", "create")] == []
    assert not any("cluster" in service for service, _ in methods)
    assert len(methods) == 5 + 8 + 2
    assert all(s == s.lower() and m == m.lower() for s, m in methods)


def test_methods_can_come_from_a_callable() -> None:
    pairs: list[tuple[str, str]] = []
    features = ServerFeaturesService(lambda: pairs, version="24.10.1")
    assert len(run(features.GetSupportedMethods(shared_pb2.Empty(), ctx())).methods) == 0
    pairs.append(("event_store.client.gossip.Gossip", "Read"))
    response = run(features.GetSupportedMethods(shared_pb2.Empty(), ctx()))
    assert [(m.service_name, m.method_name) for m in response.methods] == [
        ("event_store.client.gossip.gossip", "read")
    ]
    assert response.event_store_server_version == "24.10.1"


def test_gossip_reports_one_alive_leader() -> None:
    instance = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    gossip = GossipService("127.0.0.1", 21130, instance_id=instance, clock=Clock(TICKS_2024))
    info = run(gossip.Read(shared_pb2.Empty(), ctx()))
    (member,) = info.members
    assert member.state == gossip_pb2.MemberInfo.Leader == 8
    assert member.is_alive
    assert member.time_stamp == TICKS_2024
    assert member.instance_id.WhichOneof("value") == "structured"
    assert read_uuid(member.instance_id) == instance
    assert (member.http_end_point.address, member.http_end_point.port) == ("127.0.0.1", 21130)


def test_gossip_defaults() -> None:
    gossip = GossipService("localhost")
    (member,) = run(gossip.Read(shared_pb2.Empty(), ctx())).members
    assert member.http_end_point.port == 2113
    assert member.time_stamp > TICKS_2024
    assert read_uuid(member.instance_id) == gossip.instance_id
