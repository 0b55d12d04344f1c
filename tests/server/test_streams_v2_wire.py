"""The v2 Streams API over real gRPC: the embedded server (our transport) and the same
services mounted on grpcio, called through our transport's Channel with the v2 codec, and
the embedded server called by grpcio as a client. Rich errors must arrive intact in
``grpc-status-details-bin``; reads through the v1 API must see what v2 wrote."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from esdb_wire.codec import v2, v2_errors
from esdb_wire.events import NewEvent
from esdb_wire.protos import serverfeatures_pb2, shared_pb2, streams_pb2, v2_streams_pb2
from esdb_wire.protos.wire_names import method_path
from esdb_wire.records import NewEvents, NewRecord, StreamStateCheck
from esdb_wire.server.embedded import EmbeddedServer, build_methods
from esdb_wire.server.features import GossipService
from esdb_wire.server.store import EventStore
from esdb_wire.streams import StreamState
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.peers import require_peer

SERVICE = v2_streams_pb2.DESCRIPTOR.services_by_name["StreamsService"]
APPEND_SESSION = method_path(SERVICE, "AppendSession")
APPEND_RECORDS = method_path(SERVICE, "AppendRecords")
READ = "/event_store.client.streams.Streams/Read"
FEATURES = "/event_store.client.server_features.ServerFeatures/GetSupportedMethods"
MAX_APPEND_SIZE = 4096
Options = streams_pb2.ReadReq.Options


@dataclass
class Node:
    host: str
    port: int
    store: EventStore


@pytest.fixture(scope="module", params=["embedded", "grpcio"])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    if request.param == "embedded":
        with EmbeddedServer(max_append_size=MAX_APPEND_SIZE) as server:
            assert server.store is not None
            yield Node(server.host, server.port, server.store)
        return
    require_peer("grpc")
    from tests.grpcio_host import GrpcioHost  # noqa: PLC0415 (needs grpcio)

    store = EventStore(max_append_size=MAX_APPEND_SIZE)
    host = GrpcioHost(build_methods(store, GossipService("127.0.0.1", 0)))
    try:
        yield Node("127.0.0.1", host.port, store)
    finally:
        host.stop()


@pytest.fixture
def channel(node: Node) -> Iterator[Channel]:
    with Channel(node.host, node.port) as chan:
        yield chan


def unique(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def multi_append(channel: Channel, batch: list[NewEvents]) -> Any:
    requests = v2.append_requests(batch)
    return v2.append_session_result(channel.stream_unary(APPEND_SESSION, requests, timeout=10))


def append_records(
    channel: Channel, records: list[NewRecord], checks: list[StreamStateCheck] | None = None
) -> Any:
    request = v2.append_records_request(records, checks)
    return v2.append_records_result(channel.unary_unary(APPEND_RECORDS, request, timeout=10))


def rich(error: pytest.ExceptionInfo[StatusError]) -> v2_errors.RichError:
    decoded = v2_errors.rich_error_of(error.value)
    assert decoded is not None, error.value
    assert decoded.code is error.value.code
    assert decoded.message == error.value.message
    return decoded


def read_stream(channel: Channel, stream: str) -> list[streams_pb2.ReadResp.ReadEvent]:
    request = streams_pb2.ReadReq()
    options = request.options
    options.stream.stream_identifier.stream_name = stream.encode()
    options.stream.start.SetInParent()
    options.read_direction = Options.Forwards
    options.count = 100
    options.no_filter.SetInParent()
    options.uuid_option.string.SetInParent()
    responses = [
        streams_pb2.ReadResp.FromString(data)
        for data in channel.unary_stream(READ, request.SerializeToString(), timeout=10)
    ]
    return [r.event for r in responses if r.HasField("event")]


def read_index(channel: Channel, index: str) -> list[streams_pb2.ReadResp.ReadEvent.RecordedEvent]:
    request = streams_pb2.ReadReq()
    options = request.options
    options.all.start.SetInParent()
    options.read_direction = Options.Forwards
    options.count = 1000
    options.filter.stream_identifier.prefix.append(index)
    options.filter.max = 32
    options.filter.checkpointIntervalMultiplier = 1
    options.uuid_option.string.SetInParent()
    responses = [
        streams_pb2.ReadResp.FromString(data)
        for data in channel.unary_stream(READ, request.SerializeToString(), timeout=10)
    ]
    return [r.event.event for r in responses if r.HasField("event")]


def test_server_features_advertise_the_v2_methods(channel: Channel) -> None:
    data = channel.unary_unary(FEATURES, shared_pb2.Empty().SerializeToString(), timeout=10)
    assert v2.v2_methods(data) == {"appendsession", "appendrecords"}
    supported = serverfeatures_pb2.SupportedMethods.FromString(data)
    assert ("kurrentdb.protocol.v2.streams.streamsservice", "appendsession") in {
        (m.service_name, m.method_name) for m in supported.methods
    }


def test_multi_append_to_ten_streams(channel: Channel, node: Node) -> None:
    streams = [unique("order") for _ in range(10)]
    batch = [
        NewEvents(name, [NewEvent("Placed", b"{}"), NewEvent("Paid", b"{}")], StreamState.NO_STREAM)
        for name in streams
    ]
    result = multi_append(channel, batch)
    assert [(p.stream_name, p.stream_position) for p in result.stream_positions] == [
        (name, 1) for name in streams
    ]
    last = read_stream(channel, streams[-1])[-1]
    assert result.commit_position == last.commit_position
    again = multi_append(channel, [NewEvents(streams[0], [NewEvent("X", b"{}")], 1)])
    assert again.stream_positions[0].stream_position == 2


def test_one_failing_consistency_check_writes_nothing_to_ten_streams(
    channel: Channel, node: Node
) -> None:
    guard = unique("guard")
    multi_append(channel, [NewEvents(guard, [NewEvent("Seed", b"{}")], StreamState.NO_STREAM)])
    streams = [unique("order") for _ in range(10)]
    records = [NewRecord(name, "Placed", b"{}") for name in streams]
    checks = [StreamStateCheck(name, StreamState.NO_STREAM) for name in streams]
    before = node.store.log_end
    with pytest.raises(StatusError) as error:
        append_records(channel, records, [*checks, StreamStateCheck(guard, 5)])
    assert error.value.code is StatusCode.FAILED_PRECONDITION
    assert rich(error).detail == v2_errors.ConsistencyViolation(
        (v2_errors.StreamStateViolation(10, guard, 5, 0),)
    )
    assert node.store.log_end == before
    assert all(read_stream(channel, name) == [] for name in streams)
    result = append_records(channel, records, [*checks, StreamStateCheck(guard, 0)])
    assert sorted(p.stream_name for p in result.stream_positions) == sorted(streams)
    assert all(len(read_stream(channel, name)) == 1 for name in streams)


def test_session_conflict_writes_nothing(channel: Channel) -> None:
    taken = unique("taken")
    multi_append(channel, [NewEvents(taken, [NewEvent("Seed", b"{}")], StreamState.ANY)])
    fresh = unique("fresh")
    batch = [
        NewEvents(fresh, [NewEvent("A", b"{}")], StreamState.NO_STREAM),
        NewEvents(taken, [NewEvent("B", b"{}")], 0),
        NewEvents(unique("other"), [NewEvent("C", b"{}")], 7),
    ]
    with pytest.raises(StatusError) as error:
        multi_append(channel, batch)
    detail = rich(error).detail
    assert isinstance(detail, v2_errors.RevisionConflict)
    assert (detail.expected_revision, detail.actual_revision) == (7, -1)
    assert read_stream(channel, fresh) == []
    assert len(read_stream(channel, taken)) == 1


def test_duplicate_stream_in_a_session(channel: Channel) -> None:
    name = unique("dup")
    batch = [
        NewEvents(name, [NewEvent("A", b"{}")], StreamState.ANY),
        NewEvents(name.upper(), [NewEvent("B", b"{}")], StreamState.ANY),
    ]
    with pytest.raises(StatusError) as error:
        multi_append(channel, batch)
    assert error.value.code is StatusCode.ABORTED
    assert rich(error).detail == v2_errors.DuplicateStreamInSession(name.upper())
    assert read_stream(channel, name) == []


def test_transaction_size_limit(channel: Channel) -> None:
    name = unique("big")
    events = [NewEvent("T", b"x" * 1000) for _ in range(5)]
    with pytest.raises(StatusError) as error:
        multi_append(channel, [NewEvents(name, events, StreamState.ANY)])
    assert error.value.code is StatusCode.ABORTED
    assert rich(error).detail == v2_errors.TransactionTooLarge(5005, MAX_APPEND_SIZE)
    assert read_stream(channel, name) == []


def test_properties_and_ids_seen_by_v1_readers(channel: Channel) -> None:
    name = unique("props")
    given = uuid.uuid4()
    records = [
        NewRecord(name, "Placed", b'{"a":1}', metadata=b'{"user":"u1","n":2}', id=given),
        NewRecord(name, "Blob", b"\x00", content_type="application/octet-stream"),
    ]
    request = v2_streams_pb2.AppendRecordsRequest.FromString(v2.append_records_request(records))
    request.records[1].ClearField("record_id")  # the server generates one
    channel.unary_unary(APPEND_RECORDS, request.SerializeToString(), timeout=10)
    placed, blob = (e.event for e in read_stream(channel, name))
    assert uuid.UUID(placed.id.string) == given
    assert placed.metadata["type"] == "Placed"
    assert placed.metadata["content-type"] == "application/json"
    assert json.loads(placed.custom_metadata) == {
        "user": "u1",
        "n": 2,
        "$schema.name": "Placed",
        "$schema.format": "Json",
    }
    assert uuid.UUID(blob.id.string).version == 4
    assert blob.metadata["content-type"] == "application/octet-stream"
    assert json.loads(blob.custom_metadata) == {"$schema.name": "Blob", "$schema.format": "Bytes"}


def test_index_reads(channel: Channel) -> None:
    category = f"cat{uuid.uuid4().hex[:8]}"
    event_type = f"Type{uuid.uuid4().hex[:8]}"
    names = [f"{category}-{i}" for i in range(3)]
    append_records(
        channel,
        [NewRecord(name, event_type, b"{}") for name in names]
        + [NewRecord(unique("elsewhere"), event_type, b"{}")],
    )
    by_category = read_index(channel, f"$idx-ce-{category}")
    assert [e.stream_identifier.stream_name.decode() for e in by_category] == names
    by_type = read_index(channel, f"$idx-et-{event_type}")
    assert len(by_type) == 4
    with pytest.raises(StatusError) as error:
        read_index(channel, "$idx-nope")
    assert error.value.code is StatusCode.NOT_FOUND


def test_caught_up_fields_over_the_wire(channel: Channel) -> None:
    name = unique("sub")
    events = [NewEvent("A", b"{}"), NewEvent("B", b"{}")]
    multi_append(channel, [NewEvents(name, events, StreamState.ANY)])
    request = streams_pb2.ReadReq()
    options = request.options
    options.stream.stream_identifier.stream_name = name.encode()
    options.stream.start.SetInParent()
    options.read_direction = Options.Forwards
    options.subscription.SetInParent()
    options.no_filter.SetInParent()
    options.uuid_option.string.SetInParent()
    call = channel.unary_stream(READ, request.SerializeToString(), timeout=10)
    try:
        for data in call:
            status = v2.subscription_status(streams_pb2.ReadResp.FromString(data))
            if status is not None:
                break
    finally:
        call.cancel()
    assert status is not None
    assert status.kind == "caught_up"
    assert status.stream_revision == 1
    assert status.timestamp is not None
    assert status.timestamp.year >= 2024


def test_grpcio_client_reads_the_rich_status(node: Node) -> None:
    grpc = require_peer("grpc")
    with grpc.insecure_channel(f"{node.host}:{node.port}") as grpc_channel:
        call = grpc_channel.unary_unary(APPEND_RECORDS)
        request = v2.append_records_request(
            [NewRecord(unique("w"), "T", b"{}")], [StreamStateCheck(unique("c"), 3)]
        )
        with pytest.raises(grpc.RpcError) as error:
            call(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    trailers = dict(error.value.trailing_metadata())
    decoded = v2_errors.decode_rich_error(trailers["grpc-status-details-bin"])
    assert decoded is not None
    # grpcio-status's from_call() requires both to match the call's status.
    assert decoded.message == error.value.details()
    assert int(decoded.code) == error.value.code().value[0]
    assert isinstance(decoded.detail, v2_errors.ConsistencyViolation)
    assert decoded.detail.violations[0].actual_state == -1
