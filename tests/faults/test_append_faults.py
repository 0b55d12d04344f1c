"""An append whose connection breaks, retried with the same event ids and the same expected
position, is written once: the server answers the retry from its idempotency check
(the commit position of the first write) instead of writing again.

The break lands at every interesting place: in the request (upstream, so the server may
never see it whole), in the answer (downstream: before, inside or after its HEADERS, its
message and its trailers), after the whole answer (the client had its result and the
retry still must not write twice), or as a path that swallows one direction until the
call's deadline.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from esdb_wire import (
    DeadlineExceeded,
    EventStoreDBClient,
    EventStoreDBClientException,
    NewEvent,
    ServiceUnavailable,
    StreamState,
)
from tests.faults.conftest import Connect
from tests.faults.drivers import Driver
from tests.faults.support import new_events, new_stream, uri_of
from tests.tcp_proxy import Direction, FaultProxy

# Bytes after which a cut closes the connection. One append's request takes about 440
# (one event, Append) to 640 (three, BatchAppend) bytes on the wire; its answer about
# 120 to 190 (HEADERS ~10, message ~60, trailers ~50, with frame headers): the offsets
# below fall before, inside and between each of these, and past the end (no cut).
CUTS: list[tuple[Direction, int]] = [
    *(("upstream", n) for n in (0, 5, 60, 200, 420, 600, 5_000)),
    *(("downstream", n) for n in (0, 4, 12, 40, 70, 100, 130, 170, 5_000)),
]
RETRIES = 3
SHAPES = {"one event (Append)": 1, "three events (BatchAppend)": 3}


def _events(count: int) -> NewEvent | list[NewEvent]:
    events = new_events(count)
    return events[0] if count == 1 else events


def _ids(events: NewEvent | list[NewEvent]) -> list[Any]:
    return [e.id for e in ([events] if isinstance(events, NewEvent) else events)]


def _retry(client: Driver, name: str, expected: int | StreamState, events: Any) -> int:
    """Append as an application would after a failure: again, with the same events and
    expected position, until it works (a few times at most)."""
    for attempt in range(RETRIES):
        try:
            position: int = client.call(
                "append_to_stream", name, current_version=expected, events=events, timeout=3
            )
        except ServiceUnavailable:
            if attempt == RETRIES - 1:
                raise
            continue
        return position
    raise AssertionError("unreachable")


@pytest.mark.parametrize("shape", SHAPES)
def test_an_append_cut_anywhere_then_retried_is_written_once(
    shape: str, proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    client = connect(uri_of(proxy.port))
    client.call(  # connected, BatchAppend support known
        "append_to_stream", new_stream(), current_version=StreamState.ANY, events=new_events(2)
    )
    outcomes: list[str] = []
    for direction, offset in CUTS:
        name = new_stream()
        events = _events(SHAPES[shape])
        cuts = proxy.cuts
        proxy.cut_after(offset, direction)
        try:
            first: int | None = client.call(
                "append_to_stream",
                name,
                current_version=StreamState.NO_STREAM,
                events=events,
                timeout=3,
            )
        except EventStoreDBClientException as error:
            first = None
            outcome = type(error).__name__
        else:
            outcome = "ok"
        outcomes.append(f"{direction} {offset}: {outcome}{' cut' if proxy.cuts > cuts else ''}")
        proxy.heal()
        proxy.drop()  # the retry goes over a new connection
        retried = _retry(client, name, StreamState.NO_STREAM, events)
        where = f"cut after {offset} bytes {direction}"
        assert [e.id for e in direct.get_stream(name)] == _ids(events), where
        if first is not None:
            assert retried == first, where
    assert proxy.cuts >= 10, "; ".join(outcomes)
    assert sum(": ok" in o for o in outcomes) >= 2, "; ".join(outcomes)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lost", ["answer", "request"])
def test_an_append_whose_answer_or_request_is_lost_then_retried_is_written_once(
    lost: str, shape: str, proxy: FaultProxy, connect: Connect, direct: EventStoreDBClient
) -> None:
    name = new_stream()
    direct.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
    client = connect(uri_of(proxy.port))
    client.call(
        "append_to_stream", new_stream(), current_version=StreamState.ANY, events=new_events(2)
    )
    events = _events(SHAPES[shape])
    proxy.swallow("downstream" if lost == "answer" else "upstream")
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.call("append_to_stream", name, current_version=1, events=events, timeout=0.5)
    assert time.monotonic() - started < 1.0
    written = [e.id for e in direct.get_stream(name)][2:]
    assert written == (_ids(events) if lost == "answer" else [])
    proxy.heal()
    proxy.drop()
    position = _retry(client, name, 1, events)
    recorded = direct.get_stream(name)
    assert [e.id for e in recorded][2:] == _ids(events)
    assert position == recorded[-1].commit_position
