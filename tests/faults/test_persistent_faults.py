"""A persistent subscription consumer (of a stream group, of a ``$all`` group) whose
connection is cut in the middle of a frame: of the events it receives (downstream) or of
the acks it sends (upstream).

The consumer sees an exception, joins the group again and goes on. In the end every
event has been delivered at least once, and no ack that reached the server is lost: once
the consumer acked everything and stopped, the group has nothing left to deliver.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from typing import NamedTuple

import pytest

from esdb_wire import EventStoreDBClient, EventStoreDBClientException
from esdb_wire.persistent import DEFAULT_STOPPING_GRACE
from esdb_wire.server.embedded import EmbeddedServer
from tests.faults.conftest import Connect
from tests.faults.drivers import Consumer, Driver, Hung, SyncDriver
from tests.faults.support import append_batches, new_stream, new_type, uri_of
from tests.tcp_proxy import Direction, FaultProxy

EVENTS = 300
# Events are ~1 kB (downstream); an ack batch of 50 ids ~1 kB (upstream): both cuts fall
# inside a message, after some have gone through whole.
CUTS: dict[Direction, int] = {"downstream": 100_003, "upstream": 2_503}
REJOINS = 5  # at most, per test
QUIET = 0.5  # no delivery for this long: the group has nothing more for us


class _Group(NamedTuple):
    """A persistent subscription group: of ``stream``, or of ``$all`` (None)."""

    name: str
    stream: str | None


def _join(client: Driver, group: _Group) -> Consumer:
    """Join the group (again), as a consumer would after losing its connection."""
    for _ in range(REJOINS):
        try:
            if group.stream is None:
                return client.subscribe("read_subscription_to_all", group.name, timeout=60)
            return client.subscribe(
                "read_subscription_to_stream", group.name, group.stream, timeout=60
            )
        except EventStoreDBClientException:
            time.sleep(0.1)
    raise AssertionError("could not join the group again")


def _new_group(direct: EventStoreDBClient, target: str, name: str, kind: str) -> _Group:
    """A group of the stream ``name``, or of the events of ``kind`` in ``$all``."""
    group = f"group-{uuid.uuid4().hex}"
    if target == "stream":
        direct.create_subscription_to_stream(group, name)
        return _Group(group, name)
    direct.create_subscription_to_all(
        group, commit_position=direct.get_commit_position(), filter_include=[kind]
    )
    return _Group(group, None)


@pytest.mark.parametrize("direction", list(CUTS))
@pytest.mark.parametrize("target", ["stream", "$all"])
def test_a_persistent_subscription_cut_mid_frame(
    target: str,
    direction: Direction,
    proxy: FaultProxy,
    connect: Connect,
    direct: EventStoreDBClient,
    server: EmbeddedServer,
) -> None:
    name, kind = new_stream(), new_type()
    group = _new_group(direct, target, name, kind)
    sent = append_batches(direct, name, kind, batches=3, size=EVENTS // 3)
    client = connect(uri_of(proxy.port))
    client.call("get_commit_position")
    proxy.cut_after(CUTS[direction], direction)
    consumer = _join(client, group)
    seen: set[uuid.UUID] = set()
    rejoins = 0
    deadline = time.monotonic() + 30
    try:
        while True:  # until every event came and then nothing more (redeliveries acked)
            assert time.monotonic() < deadline, f"{len(seen)} of {len(sent)} events in 30 s"
            try:
                event = consumer.next(wait=QUIET if seen >= set(sent) else 10)
                seen.add(event.id)
                consumer.ack(event)
            except Hung:
                if seen >= set(sent):
                    break
                raise
            except EventStoreDBClientException:
                rejoins += 1
                assert rejoins <= REJOINS
                consumer.stop()
                consumer = _join(client, group)
    finally:
        consumer.stop()
    assert proxy.wait_for_cut(0)
    assert rejoins >= 1
    assert seen == set(sent)  # every event, at least once; nothing else
    # The acks reached the server: a new consumer gets nothing.
    checker = SyncDriver(server.uri)
    try:
        fresh = _join(checker, group)
        try:
            event = fresh.next(wait=QUIET)
        except Hung:
            pass
        else:
            raise AssertionError(f"{event.id} delivered again: its ack was lost")
    finally:
        checker.close()


# A cancel does not wake a blocking reader's poll(): it wakes at its next timer, ~10 s on.
def _rejoined_consumer(proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient) -> Consumer:
    """A consumer that lost its connection with every event unacked, joined again and
    acked them all (redelivered)."""
    name = new_stream()
    group = _new_group(direct, "stream", name, "")
    sent = append_batches(direct, name, new_type(), batches=1, size=5)
    client = connect(uri_of(proxy.port))
    consumer = _join(client, group)
    consumer.take(len(sent))
    proxy.drop()
    with pytest.raises(EventStoreDBClientException):
        consumer.next()
    consumer.stop()
    consumer = _join(client, group)
    seen: set[uuid.UUID] = set()
    while seen != set(sent):
        event = consumer.next()
        seen.add(event.id)
        consumer.ack(event)
    return consumer


def test_a_rejoined_consumer_stops_within_its_stopping_grace(
    proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    consumer = _rejoined_consumer(proxy, connect, direct)
    started = time.monotonic()
    consumer.stop()
    assert time.monotonic() - started < DEFAULT_STOPPING_GRACE + 0.3


def test_stopping_a_rejoined_consumer_ends_its_waiting_read(
    proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient, request: pytest.FixtureRequest
) -> None:
    consumer = _rejoined_consumer(proxy, connect, direct)
    with pytest.raises(Hung):
        consumer.next(wait=0.2)  # now a read waits (on another thread, or task)
    waiting = consumer.waiting_read()
    assert waiting is not None
    consumer.stop()
    try:
        outcome = waiting.result(0.5)
    except concurrent.futures.TimeoutError:
        raise AssertionError("the read still waits 0.5 s after stop()") from None
    except EventStoreDBClientException as error:
        raise AssertionError(f"the read ended with {error!r}") from error
    assert outcome is None, "the iteration ended"
