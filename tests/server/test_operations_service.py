"""Operations and Monitoring on the embedded server: what a scavenge drops and how it is
logged in ``$scavenges``, shutdown, and the stats stream."""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf.message import Message

from esdb_wire.protos import monitoring_pb2, operations_pb2, shared_pb2
from esdb_wire.protos.wire_names import method_path
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.server.records import ANY, StreamDeletedError
from esdb_wire.server.store import EventStore
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.helpers import event, new_store

OPERATIONS = operations_pb2.DESCRIPTOR.services_by_name["Operations"]
MONITORING = monitoring_pb2.DESCRIPTOR.services_by_name["Monitoring"]
ScavengeResp = operations_pb2.ScavengeResp


def call(channel: Channel, method: str, request: Message) -> bytes:
    return channel.unary_unary(
        method_path(OPERATIONS, method), request.SerializeToString(), timeout=10
    )


def in_all(store: EventStore, stream: str) -> list[int]:
    return [r.revision for r in store.records_after(-1, 100_000) if r.stream_name == stream]


def test_scavenge_drops_what_reads_cannot_return() -> None:
    store = new_store()
    store.append("gone", ANY, [event() for _ in range(3)])
    store.tombstone("gone", ANY)
    store.append("soft", ANY, [event() for _ in range(2)])
    store.delete("soft", ANY)
    store.append("capped", ANY, [event() for _ in range(5)])
    store.append("$$capped", ANY, [event("$metadata", b'{"$maxCount":2}')])
    store.append("cut", ANY, [event() for _ in range(4)])
    store.append("$$cut", ANY, [event("$metadata", b'{"$tb":3}')])
    store.append("$$cut", ANY, [event("$metadata", b'{"$tb":3,"x":1}')])
    before = {name: store.read_stream(name, 0, 10) for name in ("capped", "cut")}

    dropped, saved = store.scavenge()

    assert in_all(store, "gone") == [2**63 - 1]  # only the tombstone
    assert in_all(store, "soft") == [1]  # the last event stays (the stream's version)
    assert in_all(store, "capped") == [3, 4]
    assert in_all(store, "cut") == [3]
    assert in_all(store, "$$cut") == [1]
    assert dropped == 3 + 1 + 3 + 3 + 1
    assert saved > 0
    for name, found in before.items():  # stream reads are unchanged
        again = store.read_stream(name, 0, 10)
        assert again is not None
        assert found is not None
        assert [r.event_id for r in again.records] == [r.event_id for r in found.records]
    with pytest.raises(StreamDeletedError):
        store.read_stream("gone", 0, 10)
    assert store.append("soft", ANY, [event()]).current_revision == 2  # type: ignore[union-attr]


def test_scavenge_over_grpc_reports_in_scavenges() -> None:
    with EmbeddedServer() as server, Channel(server.host, server.port) as channel:
        store = server.store
        assert store is not None
        store.append("old", ANY, [event() for _ in range(3)])
        store.delete("old", ANY)
        start = operations_pb2.StartScavengeReq()
        reply = ScavengeResp.FromString(call(channel, "StartScavenge", start))
        assert reply.scavenge_result == ScavengeResp.Started
        # The scavenge runs on the server's loop thread and writes its completion, then
        # the link to it: this thread waits for both.
        deadline = time.monotonic() + 5
        while (
            store.last_revision(f"$scavenges-{reply.scavenge_id}") < 1
            or store.last_revision("$scavenges") < 1
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        details = store.read_stream(f"$scavenges-{reply.scavenge_id}", 0, 10)
        assert details is not None
        started, completed = details.records
        assert started.event_type == "$scavengeStarted"
        assert completed.event_type == "$scavengeCompleted"
        outcome = json.loads(completed.data)
        assert outcome["result"] == "Success"
        assert outcome["spaceSaved"] > 0
        assert outcome["scavengeId"] == reply.scavenge_id
        links = store.read_stream("$scavenges", 0, 10)
        assert links is not None
        assert [r.data for r in links.records] == [
            f"0@$scavenges-{reply.scavenge_id}".encode(),
            f"1@$scavenges-{reply.scavenge_id}".encode(),
        ]
        assert in_all(store, "old") == [2]

        stop = operations_pb2.StopScavengeReq(
            options=operations_pb2.StopScavengeReq.Options(scavenge_id="nope")
        )
        with pytest.raises(StatusError) as info:
            call(channel, "StopScavenge", stop)
        assert (info.value.code, info.value.message) == (
            StatusCode.NOT_FOUND,
            "Scavenge id was invalid.",
        )
        assert ("scavenge-id", "nope") in list(info.value.trailing_metadata)

        stats_call = channel.unary_stream(
            method_path(MONITORING, "Stats"),
            monitoring_pb2.StatsReq(refresh_time_period_in_ms=100).SerializeToString(),
            timeout=10,
        )
        with stats_call:
            received = iter(stats_call)
            first = monitoring_pb2.StatsResp.FromString(next(received)).stats
            second = monitoring_pb2.StatsResp.FromString(next(received)).stats
        for key in ("proc-mem", "proc-cpu", "proc-id", "proc-tcp-connections", "es-checksum"):
            assert key in first
        assert int(second["es-queue-Operations-totalItemsProcessed"]) == 2  # start, stop


def test_shutdown_stops_the_server_gracefully() -> None:
    server = EmbeddedServer().start()
    try:
        with Channel(server.host, server.port) as channel:
            call(channel, "Shutdown", shared_pb2.Empty())
        deadline = time.monotonic() + 5
        while not server.shut_down.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(StatusError) as info, Channel(server.host, server.port) as again:
            call(again, "MergeIndexes", shared_pb2.Empty())
        assert info.value.code == StatusCode.UNAVAILABLE
    finally:
        server.stop()
