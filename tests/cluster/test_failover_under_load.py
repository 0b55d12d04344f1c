"""Failover under load, on both drivers: writers append throughout a leader kill while an
auto-resubscribing catch-up subscription follows them. Afterwards every acknowledged
append is in its stream exactly once, in order, and the subscription saw each exactly
once.

A writer whose append fails (its connection died with the leader: the outcome is
unknown) sends the same event again, with the same expected version, until it is
acknowledged: appends are idempotent on event ids, so a retry of an append that did
commit returns the original result instead of writing a duplicate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from esdb_wire import EventStoreDBClientException, NewEvent, RecordedEvent, StreamState
from esdb_wire.server.cluster import EmbeddedCluster
from tests.faults.drivers import DRIVERS, Driver, open_driver

pytestmark = pytest.mark.timing

WRITERS = 4
BEFORE_KILL = 0.6  # seconds of appends before the leader is killed
AFTER_KILL = 1.2  # and after
SETTLE = 15.0  # how long a writer may retry its last append once told to stop


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def drivers(driver: str) -> Iterator[list[Driver]]:
    opened: list[Driver] = []
    yield opened
    for client in opened:
        client.close()


class Writer(threading.Thread):
    """Appends one event at a time to its own stream until told to stop."""

    def __init__(self, client: Driver, stream: str, stop: threading.Event) -> None:
        super().__init__(name=f"writer-{stream}", daemon=True)
        self.client, self.stream, self.stop = client, stream, stop
        self.acknowledged: list[uuid.UUID] = []
        self.failures = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.append(NewEvent(type="Work", data=b'{"n": %d}' % len(self.acknowledged)))
        except BaseException as error:  # reported by the test
            self.error = error

    def append(self, event: NewEvent) -> None:
        expected = len(self.acknowledged) - 1 if self.acknowledged else StreamState.NO_STREAM
        give_up = None
        while True:
            try:
                self.client.call(
                    "append_to_stream",
                    self.stream,
                    current_version=expected,
                    events=[event],
                    timeout=2.0,
                )
            except EventStoreDBClientException:
                self.failures += 1
                if self.stop.is_set():
                    give_up = give_up or time.monotonic() + SETTLE
                    if time.monotonic() > give_up:
                        raise
                time.sleep(0.05)
                continue
            self.acknowledged.append(event.id)
            return


def test_acknowledged_appends_survive_a_leader_kill_exactly_once(
    fresh_cluster: EmbeddedCluster, driver: str, drivers: list[Driver]
) -> None:
    uri = fresh_cluster.esdb_uri
    prefix = f"failover-{uuid.uuid4().hex[:8]}"

    def connect() -> Driver:
        drivers.append(open_driver(driver, uri))
        return drivers[-1]

    follower = connect()
    consumer = follower.subscribe(
        "subscribe_to_all",
        from_end=True,
        filter_by_stream_name=True,
        filter_include=[f"{prefix}-.*"],
        auto_resubscribe=True,
    )
    stop = threading.Event()
    writers = [Writer(connect(), f"{prefix}-{i}", stop) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    time.sleep(BEFORE_KILL)
    before = sum(len(w.acknowledged) for w in writers)
    old = fresh_cluster.leader
    assert old is not None
    old.kill()
    time.sleep(AFTER_KILL)
    stop.set()
    for writer in writers:
        writer.join(SETTLE + 5)
        assert not writer.is_alive()
        assert writer.error is None, writer.error
    after = sum(len(w.acknowledged) for w in writers)
    assert before > 0
    assert after > before  # the writers carried on past the kill
    assert fresh_cluster.leader not in (None, old)

    checker = connect()
    for writer in writers:
        stored = checker.call("get_stream", writer.stream)
        assert [e.id for e in stored] == writer.acknowledged  # each once, in order

    seen: list[RecordedEvent] = consumer.take(after, wait=10.0)
    assert len({e.id for e in seen}) == after  # no duplicate...
    assert {e.id for e in seen} == {i for w in writers for i in w.acknowledged}  # ...no gap
    for writer in writers:
        positions = [e.stream_position for e in seen if e.stream_name == writer.stream]
        assert positions == list(range(len(writer.acknowledged)))
