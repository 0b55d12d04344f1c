"""A path to the server that dies without a word (black hole: the connection stays open,
nothing gets through), one that is only slow (delay), and one dropped while idle.

Every call other than a subscription fails within its deadline (+0.5 s): ``timeout=``,
or ``DefaultDeadline`` from the connection string for the calls it covers (writes and
management calls; reads and subscriptions are exempt from it, as in esdbclient and the
official clients, and are bounded by keepalive instead). Keepalive
(``KeepAliveInterval``/``KeepAliveTimeout``) detects the dead path under subscriptions;
a subscription with ``auto_resubscribe=True`` goes on once the path heals. A slow path
is not taken for a dead one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from esdb_wire import (
    DeadlineExceeded,
    EventStoreDBClient,
    EventStoreDBClientException,
    NewEvent,
    StreamState,
)
from tests.faults.conftest import Connect
from tests.faults.drivers import CALL_BOUND, Consumer, Driver, all_raised, next_of_each
from tests.faults.support import (
    append_batches,
    assert_in_order_once,
    new_events,
    new_stream,
    new_type,
    uri_of,
)
from tests.tcp_proxy import FaultProxy

DEADLINE = 0.3  # seconds, per call or as DefaultDeadline
SLACK = 0.5  # what a call may take beyond its deadline
KEEPALIVE = {"KeepAliveInterval": 500, "KeepAliveTimeout": 500}  # ms
KEEPALIVE_BOUND = 0.5 + 0.5 + 1.0  # interval + timeout + slack: a dead path is known


def _warm(client: Driver, name: str, group: str) -> None:
    """Connect, learn the server's features, and make a stream and a group to work on."""
    client.call("append_to_stream", name, current_version=StreamState.ANY, events=new_events(2))
    client.call("create_subscription_to_stream", group, name)


def _one() -> NewEvent:
    return NewEvent(type="Late", data=b"{}")


def _writes(
    client: Driver, name: str, group: str, **timeout: float
) -> dict[str, Callable[[], Any]]:
    """The calls ``DefaultDeadline`` covers (``timeout``: none, or ``timeout=...``)."""
    any_version = StreamState.ANY
    return {
        "append_to_stream (one)": lambda: client.call(
            "append_to_stream", name, current_version=any_version, events=_one(), **timeout
        ),
        "append_to_stream (batch)": lambda: client.call(
            "append_to_stream", name, current_version=any_version, events=[_one()], **timeout
        ),
        "append_event": lambda: client.call(
            "append_event", name, current_version=any_version, event=_one(), **timeout
        ),
        "append_events": lambda: client.call(
            "append_events", name, current_version=any_version, events=[_one()], **timeout
        ),
        "set_stream_metadata": lambda: client.call(
            "set_stream_metadata", name, metadata={}, **timeout
        ),
        "delete_stream": lambda: client.call(
            "delete_stream", name, current_version=any_version, **timeout
        ),
        "tombstone_stream": lambda: client.call(
            "tombstone_stream", name, current_version=any_version, **timeout
        ),
        "create_subscription_to_stream": lambda: client.call(
            "create_subscription_to_stream", f"{group}-2", name, **timeout
        ),
        "create_subscription_to_all": lambda: client.call(
            "create_subscription_to_all", f"{group}-2", **timeout
        ),
        "update_subscription_to_stream": lambda: client.call(
            "update_subscription_to_stream", group, name, **timeout
        ),
        "get_subscription_info": lambda: client.call(
            "get_subscription_info", group, name, **timeout
        ),
        "list_subscriptions": lambda: client.call("list_subscriptions", **timeout),
        "list_subscriptions_to_stream": lambda: client.call(
            "list_subscriptions_to_stream", name, **timeout
        ),
        "replay_parked_events": lambda: client.call("replay_parked_events", group, name, **timeout),
        "delete_subscription": lambda: client.call("delete_subscription", group, name, **timeout),
    }


def _reads(client: Driver, name: str, **timeout: float) -> dict[str, Callable[[], Any]]:
    """The calls ``DefaultDeadline`` leaves alone (no subscription among them)."""
    return {
        "get_stream": lambda: client.call("get_stream", name, **timeout),
        "read_stream": lambda: client.first("read_stream", stream_name=name, **timeout),
        "read_all": lambda: client.first("read_all", **timeout),
        "get_current_version": lambda: client.call("get_current_version", name, **timeout),
        "get_commit_position": lambda: client.call("get_commit_position", **timeout),
        "get_stream_metadata": lambda: client.call("get_stream_metadata", name, **timeout),
        "read_gossip": lambda: client.call("read_gossip", **timeout),
    }


def _late_or_wrong(
    calls: dict[str, Callable[[], Any]], bound: float, expected: type[BaseException]
) -> dict[str, str]:
    """The calls that did not raise ``expected`` within ``bound`` seconds, and why. They
    run at the same time (on one connection), each timed from its own start."""
    wrong: dict[str, str] = {}

    def timed(name: str, call: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            call()
        except expected:
            took = time.monotonic() - started
            if took > bound:
                wrong[name] = f"raised after {took:.2f} s"
        except Exception as error:
            wrong[name] = f"{error!r} after {time.monotonic() - started:.2f} s"
        else:
            wrong[name] = "answered through a black hole"

    threads = [
        threading.Thread(target=timed, args=item, name=f"call {item[0]}", daemon=True)
        for item in calls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CALL_BOUND)
    return wrong


def test_every_call_fails_within_its_timeout(proxy: FaultProxy, connect: Connect) -> None:
    name, group = new_stream(), f"group-{new_type()}"
    client = connect(uri_of(proxy.port))
    _warm(client, name, group)
    proxy.blackhole()
    calls = {
        **_writes(client, name, group, timeout=DEADLINE),
        **_reads(client, name, timeout=DEADLINE),
    }
    assert _late_or_wrong(calls, DEADLINE + SLACK, DeadlineExceeded) == {}


def test_default_deadline_bounds_writes_and_keepalive_bounds_reads(
    proxy: FaultProxy, connect: Connect
) -> None:
    name, group = new_stream(), f"group-{new_type()}"
    client = connect(uri_of(proxy.port, DefaultDeadline=int(DEADLINE * 1000), **KEEPALIVE))
    _warm(client, name, group)
    proxy.blackhole()
    assert _late_or_wrong(_writes(client, name, group), DEADLINE + SLACK, DeadlineExceeded) == {}
    reads = _reads(client, name)
    assert _late_or_wrong(reads, KEEPALIVE_BOUND, EventStoreDBClientException) == {}


def _live_subscriptions(
    client: Driver, direct: EventStoreDBClient, *, resubscribe: bool
) -> tuple[dict[str, Consumer], str, str, list[Any]]:
    """Catch-up subscriptions to a stream and to ``$all``, caught up with 3 events."""
    name, kind = new_stream(), new_type()
    start = direct.get_commit_position()
    sent = append_batches(direct, name, kind, batches=1, size=3)
    consumers = {
        "stream": client.subscribe(
            "subscribe_to_stream", name, auto_resubscribe=resubscribe, timeout=60
        ),
        "$all": client.subscribe(
            "subscribe_to_all",
            commit_position=start,
            filter_include=[kind],
            auto_resubscribe=resubscribe,
            timeout=60,
        ),
    }
    for consumer in consumers.values():
        assert [e.id for e in consumer.take(len(sent))] == sent
    return consumers, name, kind, sent


def test_keepalive_detects_a_dead_path_under_subscriptions(
    proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    client = connect(uri_of(proxy.port, **KEEPALIVE))
    consumers, name, _, _ = _live_subscriptions(client, direct, resubscribe=False)
    group = f"group-{new_type()}"
    direct.create_subscription_to_stream(group, name)
    consumers["persistent"] = client.subscribe("read_subscription_to_stream", group, name)
    consumers["persistent"].take(3)
    proxy.blackhole()
    try:
        outcomes = next_of_each(consumers, KEEPALIVE_BOUND)
        assert all_raised(outcomes), outcomes
    finally:
        for consumer in consumers.values():
            consumer.stop()


def test_auto_resubscribe_goes_on_when_a_dead_path_heals(
    proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    client = connect(uri_of(proxy.port, **KEEPALIVE))
    consumers, name, kind, _ = _live_subscriptions(client, direct, resubscribe=True)
    try:
        proxy.blackhole()
        sent = append_batches(direct, name, kind, batches=1, size=5)  # while it is dead
        for consumer in consumers.values():
            consumer.begin_next()
        time.sleep(KEEPALIVE_BOUND)  # known dead; new connections go nowhere either
        accepted = proxy.accepted
        proxy.heal()
        proxy.drop()
        sent += append_batches(direct, name, kind, batches=1, size=5)
        for consumer in consumers.values():
            assert_in_order_once(consumer.take(len(sent)), sent)
        assert accepted >= 2  # it did try again while the path was dead
    finally:
        for consumer in consumers.values():
            consumer.stop()


def test_a_slow_path_is_not_a_dead_one(
    proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    client = connect(uri_of(proxy.port, KeepAliveInterval=500, KeepAliveTimeout=1000))
    consumers, name, kind, _ = _live_subscriptions(client, direct, resubscribe=False)
    try:
        proxy.delay(0.15)  # each way: 0.3 s round trips, under the keepalive timeout
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.call("get_current_version", name, timeout=0.1)
        assert time.monotonic() - started < 0.1 + SLACK
        assert client.call("get_current_version", name, timeout=2) == 2
        time.sleep(1.5)  # keepalive pings go out and come back late
        sent = append_batches(direct, name, kind, batches=1, size=3)
        for consumer in consumers.values():
            assert [e.id for e in consumer.take(len(sent))] == sent
        assert proxy.accepted == 1  # never reconnected
    finally:
        for consumer in consumers.values():
            consumer.stop()


def test_a_call_after_the_server_closed_an_idle_connection_succeeds(
    proxy: FaultProxy, connect: Connect, request: pytest.FixtureRequest
) -> None:
    client = connect(uri_of(proxy.port))
    name = new_stream()
    calls: dict[str, Callable[[], Any]] = {
        "get_commit_position": lambda: client.call("get_commit_position"),
        "append_to_stream": lambda: client.call(
            "append_to_stream", name, current_version=StreamState.ANY, events=_one()
        ),
    }
    failures: dict[str, str] = {}
    for what, call in calls.items():
        for _ in range(3):  # connected (again) before the drop
            try:
                client.call("get_commit_position")
                break
            except EventStoreDBClientException:
                continue
        proxy.drop()
        time.sleep(0.2)  # the connection has been closed for a while: no race
        try:
            call()
        except EventStoreDBClientException as error:
            failures[what] = repr(error)
    assert failures == {}
