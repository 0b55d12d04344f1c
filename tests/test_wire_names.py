"""Canonical gRPC paths and Any type URLs come out of our prefixed descriptors."""

from __future__ import annotations

import pytest

from esdb_wire.protos import code_pb2, serverfeatures_pb2, shared_pb2, status_pb2, streams_pb2
from esdb_wire.protos.wire_names import (
    canonical_name,
    method_path,
    pack_any,
    type_url,
    unpack_any,
)
from tests.proto_samples import pb2_modules


def test_method_paths_are_canonical() -> None:
    streams = streams_pb2.DESCRIPTOR.services_by_name["Streams"]
    assert method_path(streams, "Read") == "/event_store.client.streams.Streams/Read"
    assert method_path(streams, "BatchAppend") == "/event_store.client.streams.Streams/BatchAppend"
    features = serverfeatures_pb2.DESCRIPTOR.services_by_name["ServerFeatures"]
    assert (
        method_path(features, "GetSupportedMethods")
        == "/event_store.client.server_features.ServerFeatures/GetSupportedMethods"
    )
    with pytest.raises(KeyError, match="Nope"):
        method_path(streams, "Nope")


def test_every_service_has_a_canonical_path() -> None:
    paths = [
        method_path(service, method.name)
        for module in pb2_modules()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    assert len(paths) >= 40
    v1 = [path for path in paths if path.startswith("/event_store.client.")]
    v2 = [path for path in paths if path.startswith("/kurrentdb.protocol.v2.")]
    assert sorted(v1 + v2) == sorted(paths), paths
    assert sorted(v2) == [
        "/kurrentdb.protocol.v2.streams.StreamsService/AppendRecords",
        "/kurrentdb.protocol.v2.streams.StreamsService/AppendSession",
    ]
    assert "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Read" in paths
    assert "/event_store.client.gossip.Gossip/Read" in paths


def test_every_message_lives_under_our_prefix() -> None:
    for module in pb2_modules():
        assert module.DESCRIPTOR.package.startswith("esdb_wire.")
        assert module.DESCRIPTOR.name.startswith("esdb_wire/protos/")


def test_any_type_url_and_round_trip() -> None:
    wev = shared_pb2.WrongExpectedVersion(current_stream_revision=3, expected_stream_position=1)
    packed = pack_any(wev)
    assert packed.type_url == "type.googleapis.com/event_store.client.WrongExpectedVersion"
    assert unpack_any(packed, shared_pb2.WrongExpectedVersion) == wev
    assert unpack_any(packed, shared_pb2.AccessDenied) is None
    assert (
        type_url(status_pb2.Status.DESCRIPTOR.full_name) == "type.googleapis.com/google.rpc.Status"
    )
    assert canonical_name("google.protobuf.Empty") == "google.protobuf.Empty"


def test_status_details_is_a_single_any() -> None:
    status = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message="boom")
    status.details.CopyFrom(pack_any(shared_pb2.AccessDenied()))
    decoded = status_pb2.Status.FromString(status.SerializeToString())
    assert decoded.details.type_url.endswith("event_store.client.AccessDenied")


def test_client_paths_match_the_descriptors() -> None:
    from esdb_wire.client import paths  # noqa: PLC0415
    from esdb_wire.protos import gossip_pb2, persistent_pb2  # noqa: PLC0415

    streams = streams_pb2.DESCRIPTOR.services_by_name["Streams"]
    persistent = persistent_pb2.DESCRIPTOR.services_by_name["PersistentSubscriptions"]
    expected = {
        paths.READ: method_path(streams, "Read"),
        paths.APPEND: method_path(streams, "Append"),
        paths.BATCH_APPEND: method_path(streams, "BatchAppend"),
        paths.DELETE: method_path(streams, "Delete"),
        paths.TOMBSTONE: method_path(streams, "Tombstone"),
        paths.GOSSIP_READ: method_path(gossip_pb2.DESCRIPTOR.services_by_name["Gossip"], "Read"),
        paths.SUPPORTED_METHODS: method_path(
            serverfeatures_pb2.DESCRIPTOR.services_by_name["ServerFeatures"], "GetSupportedMethods"
        ),
        paths.PS_CREATE: method_path(persistent, "Create"),
        paths.PS_UPDATE: method_path(persistent, "Update"),
        paths.PS_DELETE: method_path(persistent, "Delete"),
        paths.PS_READ: method_path(persistent, "Read"),
        paths.PS_GET_INFO: method_path(persistent, "GetInfo"),
        paths.PS_LIST: method_path(persistent, "List"),
        paths.PS_REPLAY_PARKED: method_path(persistent, "ReplayParked"),
        paths.PS_RESTART_SUBSYSTEM: method_path(persistent, "RestartSubsystem"),
    }
    assert all(ours == canonical for ours, canonical in expected.items())


def test_v2_type_urls_are_canonical() -> None:
    from esdb_wire.protos import error_details_pb2, v2_errors_pb2  # noqa: PLC0415

    info = pack_any(error_details_pb2.ErrorInfo(reason="STREAM_TOMBSTONED", domain="streams"))
    assert info.type_url == "type.googleapis.com/google.rpc.ErrorInfo"
    detail = pack_any(v2_errors_pb2.StreamTombstonedErrorDetails(stream="s"))
    assert detail.type_url == (
        "type.googleapis.com/kurrentdb.protocol.v2.streams.errors.StreamTombstonedErrorDetails"
    )
