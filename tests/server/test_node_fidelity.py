"""Behaviours the independent suites found different from a node (issue 19), over real
sockets against the embedded server:

* reading ``$all`` from a position no record starts or ends at fails as on KurrentDB
  25.0 (UNKNOWN "Unexpected ReadAllResult: InvalidPosition"; a catch-up subscription
  confirms, then ends with INVALID_ARGUMENT "Trying to read from an invalid position.");
* the metadata of a tombstoned stream can still be set (its reads still fail): a node
  checks the metastream's own version when writing to it.

The persistent-subscription clock tick (1 s) is in
tests/conformance/test_esdbclient_persistent.py, with esdbclient's own scenario.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.client import paths
from esdb_wire.exceptions import StreamIsDeleted, WrongCurrentVersion
from esdb_wire.protos import streams_pb2
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.helpers import read_all_req


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(server.esdb_uri) as connected:
        yield connected


@pytest.fixture
def channel(server: EmbeddedServer) -> Iterator[Channel]:
    with Channel(server.host, server.port) as connected:
        yield connected


def read(channel: Channel, request: streams_pb2.ReadReq) -> list[streams_pb2.ReadResp]:
    call = channel.unary_stream(paths.READ, request.SerializeToString(), timeout=10)
    return [streams_pb2.ReadResp.FromString(data) for data in call]


def positions(client: EventStoreDBClient, stream: str) -> list[int]:
    """(commit position, end) of each event of ``stream``, from $all."""
    found = [e for e in client.read_all(filter_exclude=[]) if e.stream_name == stream]
    return [event.commit_position for event in found if event.commit_position is not None]


def type_filter() -> streams_pb2.ReadReq.Options.FilterOptions:
    options = streams_pb2.ReadReq.Options.FilterOptions()
    options.event_type.prefix.append("Placed")
    options.max = 32
    options.checkpointIntervalMultiplier = 1
    return options


# ---- $all from a position that is not an event's --------------------------------------


def test_all_reads_from_an_invalid_position_fail_as_on_a_node(
    client: EventStoreDBClient, channel: Channel
) -> None:
    stream = f"order-{uuid.uuid4().hex}"
    client.append_to_stream(
        stream,
        current_version=StreamState.NO_STREAM,
        events=[NewEvent("Placed", b"{}") for _ in range(3)],
    )
    first, second, _ = positions(client, stream)
    inside = first + 1  # within the first event's record
    for backwards in (False, True):
        with pytest.raises(StatusError) as caught:
            read(channel, read_all_req(position=inside, backwards=backwards))
        assert caught.value.code == StatusCode.UNKNOWN
        assert caught.value.message == "Unexpected ReadAllResult: InvalidPosition"
        with pytest.raises(StatusError) as caught:
            read(channel, read_all_req(position=inside, filter_options=type_filter()))
        assert caught.value.code == StatusCode.UNKNOWN
        assert caught.value.message == "Unexpected FilteredReadAllResult: InvalidPosition"

    # Where a record starts or ends, and at or past the end of the log, reads work.
    assert [r.event.event.commit_position for r in read(channel, read_all_req(position=second))][
        :2
    ] == [second, positions(client, stream)[2]]
    assert read(channel, read_all_req(position=2**62)) == []
    assert read(channel, read_all_req(position=second, backwards=True))


def test_a_subscription_from_an_invalid_position_confirms_then_fails(
    client: EventStoreDBClient, channel: Channel
) -> None:
    stream = f"order-{uuid.uuid4().hex}"
    client.append_to_stream(
        stream,
        current_version=StreamState.NO_STREAM,
        events=[NewEvent("Placed", b"{}") for _ in range(2)],
    )
    client.append_to_stream(
        f"later-{uuid.uuid4().hex}", current_version=StreamState.ANY, events=NewEvent("X", b"")
    )
    first, _ = positions(client, stream)
    for filter_options in (None, type_filter()):
        request = read_all_req(position=first + 3, subscribe=True, filter_options=filter_options)
        call = channel.unary_stream(paths.READ, request.SerializeToString(), timeout=10)
        received = [streams_pb2.ReadResp.FromString(call.receive() or b"")]
        with pytest.raises(StatusError) as caught:
            call.receive()
        assert [r.WhichOneof("content") for r in received] == ["confirmation"]
        assert caught.value.code == StatusCode.INVALID_ARGUMENT
        assert caught.value.message == "Trying to read from an invalid position."
    # From an event's position the subscription catches up.
    subscription = client.subscribe_to_all(commit_position=first, timeout=10)
    try:
        assert next(iter(subscription)).stream_name == stream
    finally:
        subscription.stop()


def test_positions_of_scavenged_records_stay_valid(server: EmbeddedServer) -> None:
    store = server.store
    assert store is not None
    with EventStoreDBClient(server.esdb_uri) as client:
        stream = f"scavenged-{uuid.uuid4().hex}"
        client.append_to_stream(
            stream,
            current_version=StreamState.NO_STREAM,
            events=[NewEvent("Placed", b"{}") for _ in range(3)],
        )
        first = positions(client, stream)[0]
        client.set_stream_metadata(stream, metadata={"$maxCount": 1})
        client.start_scavenge()
        deadline = time.monotonic() + 10
        while first in positions(client, stream):  # a scavenge runs in the background
            assert time.monotonic() < deadline, "the scavenge did not end within 10 s"
            time.sleep(0.05)
        assert store.is_valid_position(first)
        assert list(client.read_all(commit_position=first, limit=1))


# ---- metadata of a tombstoned stream ---------------------------------------------------


def test_metadata_of_a_tombstoned_stream_can_be_set_but_not_read(
    client: EventStoreDBClient,
) -> None:
    """esdbclient's ``test_stream_metadata_get_and_set``: after the tombstone, setting the
    metadata with the metastream's own version (1: two metadata events before) works, and
    so does ``any``; reading it still fails with StreamDeleted."""
    stream = f"tombstoned-{uuid.uuid4().hex}"
    client.append_to_stream(
        stream, current_version=StreamState.NO_STREAM, events=NewEvent("A", b"")
    )
    client.set_stream_metadata(
        stream, metadata={"foo": "bar"}, current_version=StreamState.NO_STREAM
    )
    client.set_stream_metadata(stream, metadata={"foo": "baz"}, current_version=0)
    client.tombstone_stream(stream, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream)

    client.set_stream_metadata(stream, metadata={"foo": "qux"}, current_version=1)
    client.set_stream_metadata(stream, metadata={"foo": "quux"}, current_version=StreamState.ANY)
    with pytest.raises(WrongCurrentVersion):  # the metastream's version is checked as ever
        client.set_stream_metadata(stream, metadata={}, current_version=1)
    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(stream, current_version=StreamState.ANY, events=NewEvent("B", b""))

    # A tombstoned stream that never had metadata: its metastream starts at revision 0.
    bare = f"tombstoned-{uuid.uuid4().hex}"
    client.tombstone_stream(bare, current_version=StreamState.ANY)
    client.set_stream_metadata(bare, metadata={"a": 1}, current_version=StreamState.NO_STREAM)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(f"$${bare}")
