"""Every generated message survives a wire round trip with all its fields and oneof members set."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from tests.proto_samples import message_classes, pb2_modules, populate, variant_count

EXPECTED_MODULES = {
    "code_pb2",
    "error_details_pb2",
    "gossip_pb2",
    "kurrent_errors_pb2",
    "monitoring_pb2",
    "operations_pb2",
    "persistent_pb2",
    "projections_pb2",
    "serverfeatures_pb2",
    "shared_pb2",
    "status_pb2",
    "streams_pb2",
    "users_pb2",
    "v2_errors_pb2",
    "v2_shared_pb2",
    "v2_streams_pb2",
}

MESSAGE_CLASSES = list(message_classes())


def test_every_api_file_is_generated() -> None:
    names = {module.__name__.rpartition(".")[2] for module in pb2_modules()}
    assert names == EXPECTED_MODULES


def test_message_walk_finds_nested_types() -> None:
    names = {cls.DESCRIPTOR.full_name for cls in MESSAGE_CLASSES}
    assert "esdb_wire.event_store.client.streams.ReadResp.ReadEvent.RecordedEvent" in names
    assert len(names) > 150


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.DESCRIPTOR.full_name)
def test_round_trip(cls: type[Message]) -> None:
    descriptor = cls.DESCRIPTOR
    for variant in range(variant_count(descriptor)):
        original = cls()
        populate(original, variant)
        encoded = original.SerializeToString()
        decoded = cls.FromString(encoded)
        assert decoded == original
        assert decoded.SerializeToString() == encoded
        # Every non-oneof field and exactly one member of each oneof came back.
        present = {field.name for field, _ in decoded.ListFields()}
        expected_plain = {f.name for f in descriptor.fields if f.containing_oneof is None}
        assert expected_plain <= present
        for oneof in descriptor.oneofs:
            assert decoded.WhichOneof(oneof.name) == oneof.fields[variant % len(oneof.fields)].name
