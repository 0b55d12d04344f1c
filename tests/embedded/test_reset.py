"""``EmbeddedServer.reset()``: everything a test could leave behind is gone, and clients
keep working."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator

import pytest

from esdb_wire import (
    EmbeddedServer,
    EventStoreDBClient,
    NewEvent,
    NotFound,
    ServiceUnavailable,
    StreamState,
)
from esdb_wire.server.auth import ADMIN_USER, DEFAULT_PASSWORD

COUNTER = """
fromStream('orders').when({
    $init: function () { return {count: 0}; },
    $any: function (state, event) { state.count += 1; return state; }
});
"""


def _event(kind: str = "Placed") -> NewEvent:
    return NewEvent(type=kind, data=b'{"n": 1}')


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(run_projections="all") as running:
        yield running


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(server.esdb_uri) as connected:
        yield connected


def _user_events(client: EventStoreDBClient) -> list[str]:
    return [e.stream_name for e in client.read_all() if not e.stream_name.startswith("$")]


def test_reset_empties_events_metadata_groups_projections_and_users(
    server: EmbeddedServer, client: EventStoreDBClient
) -> None:
    assert server.store is not None
    fresh_end = server.store.log_end
    client.append_to_stream("orders", current_version=StreamState.NO_STREAM, events=[_event()])
    client.set_stream_metadata("orders", metadata={"$maxCount": 5, "owner": "me"})
    client.create_subscription_to_stream("group-a", "orders")
    # A custom projection needs the JavaScript engine (the projections extra, which has no
    # wheel for every interpreter CI runs): without it the rest is still checked.
    javascript = importlib.util.find_spec("py_mini_racer") is not None
    if javascript:
        client.create_projection(name="counter", query=COUNTER)
    client.create_user("alice", "Alice", ["$ops"], "secret")
    assert _user_events(client) == ["orders"]
    deadline = time.monotonic() + 10
    while javascript and client.get_projection_state("counter").value != {"count": 1.0}:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    server.reset()

    assert _user_events(client) == []
    assert server.store.log_end == fresh_end  # positions start again as on a new server
    with pytest.raises(NotFound):
        client.get_stream("orders")
    assert client.get_stream_metadata("orders") == ({}, StreamState.NO_STREAM)
    assert client.list_subscriptions() == []
    names = {p.name for p in client.list_all_projection_statistics()}
    assert "counter" not in names
    assert {"$streams", "$by_category", "$by_event_type", "$stream_by_category"} <= names
    with pytest.raises(NotFound):
        client.get_user("alice")

    # The client keeps working, and the standard projections run again from scratch.
    client.append_to_stream("orders-1", current_version=StreamState.NO_STREAM, events=[_event()])
    assert [e.stream_position for e in client.get_stream("orders-1")] == [0]
    links = client.get_stream("$ce-orders", resolve_links=True)
    assert [e.stream_name for e in links] == ["orders-1"]
    client.create_subscription_to_stream("group-a", "orders")  # the name is free again
    assert [s.group_name for s in client.list_subscriptions()] == ["group-a"]


def test_live_subscription_ends_with_unavailable(
    server: EmbeddedServer, client: EventStoreDBClient
) -> None:
    subscription = client.subscribe_to_all()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in subscription:
                pass
        except BaseException as error:  # recorded for the assertion
            failures.append(error)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)
    server.reset()
    thread.join(10)
    assert not thread.is_alive()
    assert len(failures) == 1
    assert isinstance(failures[0], ServiceUnavailable)
    assert "reset" in str(failures[0])
    client.append_to_stream("after", current_version=StreamState.NO_STREAM, events=[_event()])
    assert _user_events(client) == ["after"]


def test_reset_of_a_secure_server_keeps_the_default_users(
    esdb_secure_server: EmbeddedServer, esdb_secure_client: EventStoreDBClient
) -> None:
    esdb_secure_client.create_user("bob", "Bob", [], "secret")
    esdb_secure_client.reset_password(ADMIN_USER, "changed")
    esdb_secure_server.reset()
    with EventStoreDBClient(
        esdb_secure_server.connection_string(ADMIN_USER, DEFAULT_PASSWORD)
    ) as client:
        logins = sorted(user.login_name for user in client.list_all_users())
        assert logins == ["admin", "ops"]


def test_reset_after_ten_thousand_events_is_fast(
    esdb_server: EmbeddedServer, esdb_client: EventStoreDBClient
) -> None:
    for batch in range(100):
        events = [_event() for _ in range(100)]
        esdb_client.append_to_stream(f"s-{batch}", current_version=StreamState.ANY, events=events)
    started = time.perf_counter()
    esdb_server.reset()
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # ~3 ms here; the bound only catches a pathological reset
    assert _user_events(esdb_client) == []
