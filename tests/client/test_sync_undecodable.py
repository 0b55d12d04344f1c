# Generated from tests/client/test_async_undecodable.py by scripts/unasync.py; do not edit.
"""A server whose answers do not decode: the blocking client raises
:class:`~esdb_wire.exceptions.UndecodableResponse` (naming the call and the message type,
protobuf's error as the cause), never protobuf's ``DecodeError``, and cancels a read or a
subscription whose call sent it. Over real sockets, against
:mod:`tests.client.undecodable_server`.

This module is the source of ``test_sync_undecodable.py`` (``scripts/unasync.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from google.protobuf.message import DecodeError

from esdb_wire import (
    EsdbClientException,
    EventStoreDBClient,
    NewEvent,
    StreamState,
    UndecodableResponse,
)
from esdb_wire.client.sync_backend import sleep
from esdb_wire.exceptions import DiscoveryFailed
from tests.client.undecodable_server import UNCONFIRMED, UndecodableServer

READ_RESP = "event_store.client.streams.ReadResp"


@pytest.fixture(scope="module")
def server() -> Iterator[UndecodableServer]:
    running = UndecodableServer()
    yield running
    running.stop()


def assert_undecodable(
    info: pytest.ExceptionInfo[UndecodableResponse], method: str, message_type: str
) -> None:
    error = info.value
    assert isinstance(error, EsdbClientException)
    assert (error.method, error.message_type) == (method, message_type)
    assert isinstance(error.__cause__, DecodeError)
    assert method in str(error)
    assert message_type in str(error)


def wait_for_cancelled(server: UndecodableServer, count: int) -> None:
    """The server saw ``count`` streaming calls cancelled, within a few seconds."""
    deadline = time.monotonic() + 5
    while server.service.cancelled < count and time.monotonic() < deadline:
        sleep(0.02)
    assert server.service.cancelled >= count


def test_append(server: UndecodableServer) -> None:
    with EventStoreDBClient(server.uri) as client, pytest.raises(UndecodableResponse) as info:
        client.append_to_stream("s", current_version=StreamState.ANY, events=NewEvent("T", b"{}"))
    assert_undecodable(info, "Streams.Append", "event_store.client.streams.AppendResp")


def test_read_gives_the_good_event_then_raises_and_cancels(
    server: UndecodableServer,
) -> None:
    cancelled = server.service.cancelled
    with EventStoreDBClient(server.uri) as client:
        events = client.read_stream("orders")
        first = events.__next__()
        assert (first.type, first.stream_name) == ("Good", "orders")
        with pytest.raises(UndecodableResponse) as info:
            events.__next__()
        assert_undecodable(info, "Streams.Read", READ_RESP)
        with pytest.raises(StopIteration):  # the read is over
            events.__next__()
        wait_for_cancelled(server, cancelled + 1)


def test_catchup_subscription_raises_and_cancels(server: UndecodableServer) -> None:
    cancelled = server.service.cancelled
    with EventStoreDBClient(server.uri) as client:
        subscription = client.subscribe_to_stream("orders")
        assert subscription.subscription_id == "sub-1"
        first = subscription.__next__()
        assert first.type == "Good"
        with pytest.raises(UndecodableResponse) as info:
            subscription.__next__()
        assert_undecodable(info, "Streams.Read", READ_RESP)
        wait_for_cancelled(server, cancelled + 1)


def test_subscription_confirmation(server: UndecodableServer) -> None:
    with EventStoreDBClient(server.uri) as client, pytest.raises(UndecodableResponse) as info:
        client.subscribe_to_stream(UNCONFIRMED)
    assert_undecodable(info, "Streams.Read", READ_RESP)


def test_persistent_subscription_raises_and_cancels(server: UndecodableServer) -> None:
    cancelled = server.service.cancelled
    with EventStoreDBClient(server.uri) as client:
        subscription = client.read_subscription_to_stream("group", "orders")
        assert subscription.subscription_id == "group-1"
        with pytest.raises(UndecodableResponse) as info:
            subscription.__next__()
        assert_undecodable(
            info,
            "PersistentSubscriptions.Read",
            "event_store.client.persistent_subscriptions.ReadResp",
        )
        wait_for_cancelled(server, cancelled + 1)


def test_gossip(server: UndecodableServer) -> None:
    with EventStoreDBClient(server.uri) as client, pytest.raises(UndecodableResponse) as info:
        client.read_gossip()
    assert_undecodable(info, "Gossip.Read", "event_store.client.gossip.ClusterInfo")


def test_discovery_takes_an_undecodable_gossip_as_a_failed_seed(
    server: UndecodableServer,
) -> None:
    uri = f"esdb+discover://{server.uri}?Tls=false&MaxDiscoverAttempts=2&DiscoveryInterval=10"
    with EventStoreDBClient(uri) as client, pytest.raises(DiscoveryFailed) as info:
        client.connect()
    assert "Gossip.Read" in str(info.value)
