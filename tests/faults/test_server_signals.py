"""The server (the CLI, in a subprocess) stops in the middle of catch-up subscriptions, to
a stream and to ``$all``: gracefully (SIGTERM: GOAWAY, then its calls are cancelled) or
not at all (SIGKILL: the connection just breaks).

A subscription never ends silently. Without ``auto_resubscribe`` its consumer gets an
exception. With it, and the server back on the same port (an in-memory server: back with
an empty log), it resumes where it was if that place exists on the new server (it had
not received anything yet) and goes on with what is written there; if its checkpoint is
past the end of the new log, it raises (resuming there would skip what comes next).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pytest

from esdb_wire import EventStoreDBClient, RecordedEvent
from tests.faults.cli_server import CliServer
from tests.faults.conftest import Connect
from tests.faults.drivers import Consumer, Driver, all_raised, next_of_each
from tests.faults.support import (
    append_batches,
    assert_in_order_once,
    new_stream,
    new_type,
    uri_of,
)

SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
WAIT = 4.0  # what a consumer may take to raise or go on after the server stops / returns


@pytest.fixture
def cli() -> Iterator[CliServer]:
    server = CliServer()
    try:
        yield server
    finally:
        server.stop()


def _subscribe(client: Driver, name: str, kind: str, resubscribe: bool) -> dict[str, Consumer]:
    """A subscription to the stream ``name`` and one to ``$all`` (events of ``kind``),
    both from the start."""
    return {
        "stream": client.subscribe(
            "subscribe_to_stream", name, auto_resubscribe=resubscribe, timeout=60
        ),
        "$all": client.subscribe(
            "subscribe_to_all", filter_include=[kind], auto_resubscribe=resubscribe, timeout=60
        ),
    }


def _append(port: int, name: str, kind: str, count: int) -> list[uuid.UUID]:
    with EventStoreDBClient(uri_of(port)) as writer:
        return append_batches(writer, name, kind, batches=1, size=count)


def _stop_all(consumers: dict[str, Consumer]) -> None:
    for consumer in consumers.values():
        consumer.stop()


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_a_subscription_raises_when_the_server_stops(
    sig: str, cli: CliServer, connect: Connect
) -> None:
    name, kind = new_stream(), new_type()
    sent = _append(cli.port, name, kind, 5)
    client = connect(uri_of(cli.port))
    consumers = _subscribe(client, name, kind, resubscribe=False)
    try:
        for consumer in consumers.values():
            assert [e.id for e in consumer.take(len(sent))] == sent
        cli.send(SIGNALS[sig])
        outcomes = next_of_each(consumers, WAIT)
        assert all_raised(outcomes), outcomes
    finally:
        _stop_all(consumers)


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_auto_resubscribe_goes_on_when_the_server_comes_back(
    sig: str, cli: CliServer, connect: Connect
) -> None:
    name, kind = new_stream(), new_type()
    client = connect(uri_of(cli.port))
    consumers = _subscribe(client, name, kind, resubscribe=True)
    try:
        for consumer in consumers.values():
            consumer.begin_next()  # live, waiting: nothing received, no checkpoint
        cli.send(SIGNALS[sig])
        cli.restart()  # same port, empty log
        sent = _append(cli.port, name, kind, 5)
        received: dict[str, list[RecordedEvent]] = {target: [] for target in consumers}
        for _ in sent:
            for target, outcome in next_of_each(consumers, WAIT).items():
                assert isinstance(outcome, RecordedEvent), f"{target}: {outcome}"
                received[target].append(outcome)
        for events in received.values():
            assert_in_order_once(events, sent)
    finally:
        _stop_all(consumers)


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_auto_resubscribe_past_the_end_of_a_restarted_server_raises(
    sig: str, cli: CliServer, connect: Connect
) -> None:
    name, kind = new_stream(), new_type()
    sent = _append(cli.port, name, kind, 5)
    client = connect(uri_of(cli.port))
    consumers = _subscribe(client, name, kind, resubscribe=True)
    try:
        for consumer in consumers.values():
            assert [e.id for e in consumer.take(len(sent))] == sent
        cli.send(SIGNALS[sig])
        cli.restart()  # same port, empty log: the checkpoints are past its end
        _append(cli.port, name, kind, 2)
        outcomes = next_of_each(consumers, WAIT)
        assert all_raised(outcomes), outcomes
    finally:
        _stop_all(consumers)
