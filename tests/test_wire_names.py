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


def test_every_service_has_a_canonical_event_store_path() -> None:
    paths = [
        method_path(service, method.name)
        for module in pb2_modules()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    assert len(paths) >= 40
    assert all(path.startswith("/event_store.client.") for path in paths), paths
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
