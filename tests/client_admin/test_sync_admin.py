# Generated from tests/client_admin/test_async_admin.py by scripts/unasync.py; do not edit.
"""Users, operations and monitoring through EventStoreDBClient against the insecure
embedded server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from esdb_wire import (
    DatabaseScavengeResult,
    EmbeddedServer,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    ScavengeResult,
    StatsStream,
    StreamState,
)
from esdb_wire.client.sync_backend import sleep
from esdb_wire.exceptions import AlreadyExists, NotFound, ServiceUnavailable


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


def test_users_round_trip(server: EmbeddedServer) -> None:
    login = f"user-{uuid4().hex[:8]}"
    with EventStoreDBClient(server.esdb_uri) as client:
        before = datetime.now(timezone.utc)
        client.create_user(login, "Jane Doe", ["devs", "ops"], "secret-1")
        with pytest.raises(AlreadyExists):
            client.create_user(login, "Someone Else", [], "another")
        details = client.get_user(login)
        assert (details.login_name, details.full_name) == (login, "Jane Doe")
        assert (details.groups, details.disabled) == (("devs", "ops"), False)
        assert details.last_updated is not None
        assert abs((details.last_updated - before).total_seconds()) < 60
        assert login in {user.login_name for user in client.list_all_users()}

        client.update_user(login, "Jane Q. Doe", ["devs"])
        details = client.get_user(login)
        assert (details.full_name, details.groups) == ("Jane Q. Doe", ("devs",))
        client.disable_user(login)
        assert (client.get_user(login)).disabled is True
        client.enable_user(login)
        assert (client.get_user(login)).disabled is False
        client.change_password(login, "secret-1", "secret-2")
        client.reset_password(login, "secret-3")

        client.delete_user(login)
        with pytest.raises(NotFound):
            client.get_user(login)
        assert login not in {user.login_name for user in client.list_all_users()}
        with pytest.raises(NotFound):
            client.delete_user(login)
        with pytest.raises(NotFound):
            client.enable_user(login)
        with pytest.raises(NotFound):
            client.reset_password(login, "x")


def scavenge_completed(
    client: EventStoreDBClient, started: DatabaseScavengeResult
) -> RecordedEvent:
    """The ``$scavengeCompleted`` event of a scavenge, once it is written."""
    for _ in range(200):
        events = client.get_stream(f"$scavenges-{started.scavenge_id}")
        completed = [event for event in events if event.type == "$scavengeCompleted"]
        if completed:
            return completed[0]
        sleep(0.05)
    raise AssertionError(f"scavenge {started.scavenge_id} did not complete")


def test_scavenge_drops_what_no_read_returns(server: EmbeddedServer) -> None:
    stream = f"scavenged-{uuid4().hex}"
    with EventStoreDBClient(server.esdb_uri) as client:

        def in_all() -> int:
            events = client.read_all(filter_exclude=())
            return len([event for event in events if event.stream_name == stream])

        events = [NewEvent("Reading", b'{"n": %d}' % n) for n in range(5)]
        client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)
        client.set_stream_metadata(stream, metadata={"$maxCount": 1})
        assert len(client.get_stream(stream)) == 1  # the others are hidden...
        assert in_all() == 5  # ...but still in the log

        started = client.start_scavenge()
        assert started.result in (ScavengeResult.STARTED, ScavengeResult.IN_PROGRESS)
        completed = json.loads((scavenge_completed(client, started)).data)
        assert completed["result"] == "Success"
        assert completed["spaceSaved"] > 0
        assert in_all() == 1  # now gone from $all too
        assert [e.stream_position for e in client.get_stream(stream)] == [4]
        links = client.get_stream("$scavenges", resolve_links=True)
        assert started.scavenge_id in {event.stream_name[len("$scavenges-") :] for event in links}

        with pytest.raises(NotFound):
            client.stop_scavenge(started.scavenge_id)  # it has finished
        with pytest.raises(ValueError, match="thread_count"):
            client.start_scavenge(thread_count=0)
        with pytest.raises(ValueError, match="start_from_chunk"):
            client.start_scavenge(start_from_chunk=-1)


def test_node_operations_are_accepted(server: EmbeddedServer) -> None:
    with EventStoreDBClient(server.esdb_uri) as client:
        client.merge_indexes()
        client.resign_node()
        client.set_node_priority(5)
        client.restart_persistent_subscriptions()
        (member,) = client.read_gossip()  # still the leader
        assert member.state == "NODE_STATE_LEADER"


def test_shutdown_stops_the_server() -> None:
    with EmbeddedServer() as own, EventStoreDBClient(own.esdb_uri) as client:
        client.append_to_stream(
            f"s-{uuid4()}", current_version=StreamState.ANY, events=NewEvent("A", b"{}")
        )
        client.shutdown()
        assert own.shut_down.wait(10)
        with pytest.raises(ServiceUnavailable):
            client.get_commit_position()


def test_stats_arrive_until_stopped(server: EmbeddedServer) -> None:
    with EventStoreDBClient(server.esdb_uri) as client:
        stats = client.read_stats(refresh_period=0.1)
        assert isinstance(stats, StatsStream)
        started = time.monotonic()
        sets = []
        for found in stats:
            sets.append(found)
            if len(sets) == 3:
                break
        assert time.monotonic() - started >= 0.15  # two periods between three sets
        for found in sets:
            assert {"proc-id", "proc-cpu", "proc-startTime", "es-checksum"} <= set(found)
            assert all(isinstance(value, str) for value in found.values())
        assert int(sets[0]["proc-id"]) > 0
        assert stats.__next__()  # not stopped yet: more keep coming
        stats.stop()
        with pytest.raises(StopIteration):
            stats.__next__()
        stats.stop()  # twice is harmless

        with client.read_stats(refresh_period=0.05) as scoped:
            first = scoped.__next__()
        assert "es-checksum" in first
        with pytest.raises(StopIteration):
            scoped.__next__()
        with pytest.raises(ValueError, match="refresh_period"):
            client.read_stats(refresh_period=-1)


def test_closing_the_client_ends_a_stats_stream(server: EmbeddedServer) -> None:
    client = EventStoreDBClient(server.esdb_uri)
    stats = client.read_stats(refresh_period=0.05)
    assert "proc-id" in stats.__next__()
    client.close()
    with pytest.raises(StopIteration):
        stats.__next__()
