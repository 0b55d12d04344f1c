"""esdb_wire's client next to kurrentdbclient 1.3.5 on the same embedded server: the same
v2 Streams failures raise exceptions of the same class names with the same attributes,
and index reads return the same events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from esdb_wire import EventStoreDBClient
from esdb_wire import exceptions as ours
from esdb_wire.events import NewEvent as OurNewEvent
from esdb_wire.records import NewEvents as OurNewEvents
from esdb_wire.records import NewRecord as OurNewRecord
from esdb_wire.records import StreamStateCheck as OurStreamStateCheck
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.streams import StreamState as OurStreamState
from tests.peers_kurrentdb.conftest import kurrentdbclient_or_skip

kdb = kurrentdbclient_or_skip()


@pytest.fixture(scope="module")
def esdb_wire_client(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    with EventStoreDBClient(server.esdb_uri) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def state_name(value: object) -> object:
    """A StreamState (either library's) by name; anything else as it is."""
    return getattr(value, "name", value)


def both_raise(
    theirs: Callable[[], object], mine: Callable[[], object], *attributes: str
) -> tuple[Any, Any]:
    """Run both; each must raise, ours an instance of our class of kurrentdbclient's
    class name, with equal ``attributes``. Return both exceptions."""
    with pytest.raises(kdb.exceptions.KurrentDBClientError) as their_error:
        theirs()
    with pytest.raises(ours.EventStoreDBClientException) as our_error:
        mine()
    name = type(their_error.value).__name__
    assert isinstance(our_error.value, getattr(ours, name)), (name, our_error.value)
    for attribute in attributes:
        assert state_name(getattr(our_error.value, attribute)) == state_name(
            getattr(their_error.value, attribute)
        ), attribute
    return their_error.value, our_error.value


def test_revision_conflicts(client: Any, esdb_wire_client: EventStoreDBClient) -> None:
    name, missing = unique("conflict"), unique("missing")
    client.multi_append_to_stream(
        kdb.NewEvents(name, [kdb.NewEvent(type="A", data=b"{}")], kdb.StreamState.ANY)
    )
    cases: list[tuple[str, Any, int | OurStreamState]] = [
        (name, 5, 5),
        (name, kdb.StreamState.NO_STREAM, OurStreamState.NO_STREAM),
        (missing, kdb.StreamState.EXISTS, OurStreamState.EXISTS),
    ]
    for stream, theirs, mine in cases:

        def their_append(stream: str = stream, expected: Any = theirs) -> object:
            event = kdb.NewEvent(type="B", data=b"{}")
            return client.multi_append_to_stream(kdb.NewEvents(stream, [event], expected))

        def our_append(stream: str = stream, expected: int | OurStreamState = mine) -> object:
            event = OurNewEvent(type="B", data=b"{}")
            return esdb_wire_client.multi_append_to_stream(OurNewEvents(stream, [event], expected))

        both_raise(their_append, our_append, "stream_name", "expected_version", "actual_version")


def test_session_errors(client: Any, esdb_wire_client: EventStoreDBClient) -> None:
    name = unique("dup")
    both_raise(
        lambda: client.multi_append_to_stream(
            [
                kdb.NewEvents(name, [kdb.NewEvent(type="A", data=b"{}")], kdb.StreamState.ANY),
                kdb.NewEvents(name, [kdb.NewEvent(type="B", data=b"{}")], kdb.StreamState.ANY),
            ]
        ),
        lambda: esdb_wire_client.multi_append_to_stream(
            [
                OurNewEvents(name, [OurNewEvent(type="A", data=b"{}")], OurStreamState.ANY),
                OurNewEvents(name, [OurNewEvent(type="B", data=b"{}")], OurStreamState.ANY),
            ]
        ),
        "stream_name",
    )
    big = unique("big")
    both_raise(
        lambda: client.multi_append_to_stream(
            kdb.NewEvents(
                big, [kdb.NewEvent(type="T", data=b"x" * 20_000)] * 4, kdb.StreamState.ANY
            )
        ),
        lambda: esdb_wire_client.multi_append_to_stream(
            OurNewEvents(big, [OurNewEvent(type="T", data=b"x" * 20_000)] * 4, OurStreamState.ANY)
        ),
        "size",
        "max_size",
    )
    gone = unique("gone")
    esdb_wire_client.multi_append_to_stream(
        OurNewEvents(gone, [OurNewEvent(type="A", data=b"{}")], OurStreamState.ANY)
    )
    esdb_wire_client.tombstone_stream(gone, current_version=OurStreamState.ANY)
    both_raise(
        lambda: client.multi_append_to_stream(
            kdb.NewEvents(gone, [kdb.NewEvent(type="B", data=b"{}")], kdb.StreamState.ANY)
        ),
        lambda: esdb_wire_client.multi_append_to_stream(
            OurNewEvents(gone, [OurNewEvent(type="B", data=b"{}")], OurStreamState.ANY)
        ),
        "stream_name",
    )


def test_failed_checks(client: Any, esdb_wire_client: EventStoreDBClient) -> None:
    guard, written = unique("guard"), unique("written")
    esdb_wire_client.append_records(OurNewRecord(guard, "Seed", b"{}"))
    theirs, mine = both_raise(
        lambda: client.append_records(
            kdb.NewRecord(written, "T", b"{}"),
            checks=[
                kdb.StreamStateCheck(guard, 3),
                kdb.StreamStateCheck(unique("m"), kdb.StreamState.EXISTS),
            ],
        ),
        lambda: esdb_wire_client.append_records(
            OurNewRecord(written, "T", b"{}"),
            checks=[
                OurStreamStateCheck(guard, 3),
                OurStreamStateCheck(unique("m"), OurStreamState.EXISTS),
            ],
        ),
    )

    def summary(failures: Any) -> list[tuple[int, int, int]]:
        return [
            (
                f.check_index,
                f.stream_state_failure.expected_state,
                f.stream_state_failure.actual_state,
            )
            for f in failures
        ]

    assert summary(mine.failures) == summary(theirs.failures) == [(0, 3, 0), (1, -4, -1)]


def test_index_reads_match(client: Any, esdb_wire_client: EventStoreDBClient) -> None:
    category = f"par{uuid.uuid4().hex[:8]}"
    client.append_records([kdb.NewRecord(f"{category}-{i}", "T", b"{}") for i in range(2)])
    esdb_wire_client.multi_append_to_stream(
        OurNewEvents(f"{category}-9", [OurNewEvent(type="U", data=b"{}")], OurStreamState.ANY)
    )
    for name in (f"ce-{category}", f"$idx-ce-{category}"):
        theirs = [event.id for event in client.read_index(name)]
        mine = [event.id for event in esdb_wire_client.read_index(name)]
        assert mine == theirs
        assert len(mine) == 3
