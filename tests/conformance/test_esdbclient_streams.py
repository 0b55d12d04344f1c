"""esdbclient 1.1.7 against the embedded server: appends, stream reads and $all reads.

Spec references are to /work/shared/research/server-spec.md (§3.1-3.6, §3.8).
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Union

import pytest

from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import EventStoreDBClient, NewEvent, RecordedEvent, StreamState  # noqa: E402
from esdbclient.exceptions import NotFound, UnknownError, WrongCurrentVersion  # noqa: E402

from tests.conformance._support import (  # noqa: E402
    CallCounter,
    assert_recorded,
    commit_position,
    ids,
    new_events,
    new_stream,
    new_type,
)

Version = Union[int, StreamState]


def count_rpcs(
    client: EventStoreDBClient, monkeypatch: pytest.MonkeyPatch
) -> dict[str, CallCounter]:
    stub = client.streams._stub
    counters = {name: CallCounter(getattr(stub, name)) for name in ("Append", "BatchAppend")}
    for name, counter in counters.items():
        monkeypatch.setattr(stub, name, counter)
    return counters


def write(
    client: EventStoreDBClient, rpc: str, stream_name: str, version: Version, event: NewEvent
) -> int:
    """One event through Append (a lone NewEvent) or BatchAppend (a list)."""
    events: NewEvent | list[NewEvent] = event if rpc == "Append" else [event]
    return client.append_to_stream(stream_name, current_version=version, events=events)


RPCS = pytest.mark.parametrize("rpc", ["Append", "BatchAppend"])


# ---- append ------------------------------------------------------------------------


def test_single_event_goes_through_append_and_reads_back_exactly(
    client: EventStoreDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = count_rpcs(client, monkeypatch)
    stream_name = new_stream()
    event = NewEvent(type="Created", data=b'{"a": 1}', metadata=b'{"meta": true}')
    before = datetime.datetime.now(datetime.timezone.utc)

    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=event
    )

    assert (counters["Append"].calls, counters["BatchAppend"].calls) == (1, 0)
    (recorded,) = client.get_stream(stream_name)
    assert_recorded(recorded, event, stream_name, 0)
    assert recorded.commit_position == position
    assert position > 0  # a fresh node's log is not empty (§3.3)
    assert recorded.recorded_at is not None  # from "created", .NET ticks since 1970 (§3.8)
    assert abs((recorded.recorded_at - before).total_seconds()) < 60


def test_several_events_go_through_batch_append_in_one_call(
    client: EventStoreDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = count_rpcs(client, monkeypatch)
    stream_name = new_stream()
    events = [
        *new_events(2, "Json"),
        NewEvent(type="Binary", data=b"\x00\xff", content_type="application/octet-stream"),
        NewEvent(type="Empty", data=b""),
    ]

    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events
    )

    assert (counters["Append"].calls, counters["BatchAppend"].calls) == (0, 1)
    recorded = client.get_stream(stream_name)
    assert len(recorded) == 4
    for revision, (got, sent) in enumerate(zip(recorded, events)):
        assert_recorded(got, sent, stream_name, revision)
    positions = [commit_position(event) for event in recorded]
    assert positions == sorted(set(positions))  # distinct and increasing (§3.3)
    assert position == recorded[-1].commit_position


@RPCS
def test_current_version_no_stream(client: EventStoreDBClient, rpc: str) -> None:
    stream_name = new_stream()
    write(client, rpc, stream_name, StreamState.NO_STREAM, new_events(1)[0])

    with pytest.raises(WrongCurrentVersion) as caught:
        write(client, rpc, stream_name, StreamState.NO_STREAM, new_events(1)[0])
    assert str(caught.value) == f"Stream position of last event is 0 not {StreamState.NO_STREAM}"
    assert client.get_current_version(stream_name) == 0


@RPCS
def test_current_version_any(client: EventStoreDBClient, rpc: str) -> None:
    stream_name = new_stream()
    first, second = new_events(2)
    write(client, rpc, stream_name, StreamState.ANY, first)
    write(client, rpc, stream_name, StreamState.ANY, second)

    assert ids(client.get_stream(stream_name)) == ids([first, second])


@RPCS
def test_current_version_exists(client: EventStoreDBClient, rpc: str) -> None:
    stream_name = new_stream()
    with pytest.raises(WrongCurrentVersion) as caught:
        write(client, rpc, stream_name, StreamState.EXISTS, new_events(1)[0])
    assert str(caught.value) == f"Stream {stream_name!r} does not exist"

    first, second = new_events(2)
    write(client, rpc, stream_name, StreamState.NO_STREAM, first)
    write(client, rpc, stream_name, StreamState.EXISTS, second)
    assert ids(client.get_stream(stream_name)) == ids([first, second])


@RPCS
def test_current_version_exact(client: EventStoreDBClient, rpc: str) -> None:
    stream_name = new_stream()
    with pytest.raises(WrongCurrentVersion) as caught:
        write(client, rpc, stream_name, 0, new_events(1)[0])
    assert str(caught.value) == f"Stream {stream_name!r} does not exist"

    events = new_events(3)
    write(client, rpc, stream_name, StreamState.NO_STREAM, events[0])
    write(client, rpc, stream_name, 0, events[1])
    write(client, rpc, stream_name, 1, events[2])

    for wrong in (5, 0):  # ahead of the stream; behind it with new ids
        with pytest.raises(WrongCurrentVersion) as caught:
            write(client, rpc, stream_name, wrong, new_events(1)[0])
        assert str(caught.value) == f"Stream position of last event is 2 not {wrong}"
    assert ids(client.get_stream(stream_name)) == ids(events)


def test_append_return_value_is_the_commit_position_read_back(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    positions = [
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=event)
        for event in new_events(3)
    ]
    positions.append(
        client.append_to_stream(stream_name, current_version=2, events=new_events(2, start=3))
    )
    recorded = client.get_stream(stream_name)
    assert positions == [recorded[i].commit_position for i in (0, 1, 2, 4)]
    assert client.get_commit_position() == positions[-1]


# ---- idempotency (§3.2) ------------------------------------------------------------


@pytest.mark.parametrize(
    "again", [StreamState.NO_STREAM, StreamState.ANY], ids=["no_stream", "any"]
)
def test_batch_append_is_idempotent_on_event_ids(
    client: EventStoreDBClient, again: StreamState
) -> None:
    stream_name = new_stream()
    events = new_events(3)
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events
    )

    assert client.append_to_stream(stream_name, current_version=again, events=events) == position
    assert ids(client.get_stream(stream_name)) == ids(events)
    assert client.get_commit_position() == position


def test_append_is_idempotent_on_event_ids(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    first, second = new_events(2)
    first_position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=first
    )
    second_position = client.append_to_stream(stream_name, current_version=0, events=second)

    # An expected revision below the current one compares the ids after it.
    assert client.append_to_stream(stream_name, current_version=0, events=second) == (
        second_position
    )
    assert (
        client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=first)
        == first_position
    )
    # With "any" the first id is looked up among recently committed events.
    assert (
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=first)
        == first_position
    )
    assert ids(client.get_stream(stream_name)) == ids([first, second])


def test_idempotent_reply_is_the_original_write(client: EventStoreDBClient) -> None:
    """The reply repeats the original write's last position, not the stream's (§3.2)."""
    stream_name = new_stream()
    first_write, later = new_events(2), new_events(1, start=2)
    original = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=first_write
    )
    client.append_to_stream(stream_name, current_version=1, events=later)

    for version in (StreamState.NO_STREAM, StreamState.ANY):
        assert (
            client.append_to_stream(stream_name, current_version=version, events=first_write)
            == original
        )
    assert ids(client.get_stream(stream_name)) == ids([*first_write, *later])


def test_idempotency_is_per_stream(client: EventStoreDBClient) -> None:
    (event,) = new_events(1)
    first, second = new_stream(), new_stream()
    position = client.append_to_stream(first, current_version=StreamState.ANY, events=event)
    again = client.append_to_stream(second, current_version=StreamState.ANY, events=event)
    assert again > position
    (recorded,) = client.get_stream(second)
    assert (recorded.id, recorded.commit_position) == (event.id, again)


def test_ids_running_past_the_end_are_a_wrong_current_version(
    client: EventStoreDBClient,
) -> None:
    stream_name = new_stream()
    events = new_events(3)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    overlapping = [*events[1:], *new_events(1, start=3)]
    with pytest.raises(WrongCurrentVersion) as caught:
        client.append_to_stream(stream_name, current_version=0, events=overlapping)
    assert str(caught.value) == "Stream position of last event is 2 not 0"
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=overlapping)
    assert ids(client.get_stream(stream_name)) == ids(events)


def test_partly_matching_ids_are_a_wrong_current_version(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    events = new_events(2)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    mixed = [events[0], *new_events(1)]

    for version in (StreamState.ANY, StreamState.NO_STREAM):
        with pytest.raises(WrongCurrentVersion):
            client.append_to_stream(stream_name, current_version=version, events=mixed)
    assert ids(client.get_stream(stream_name)) == ids(events)


def test_expected_version_equal_to_current_writes_the_same_ids_again(
    client: EventStoreDBClient,
) -> None:
    """With n == current there is no duplicate detection (§3.2)."""
    stream_name = new_stream()
    (event,) = new_events(1)
    first = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=event
    )
    second = client.append_to_stream(stream_name, current_version=0, events=event)

    recorded = client.get_stream(stream_name)
    assert ids(recorded) == [event.id, event.id]
    assert [e.stream_position for e in recorded] == [0, 1]
    assert [e.commit_position for e in recorded] == [first, second]
    assert second > first


def test_empty_append_checks_the_expected_version(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[])
    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=StreamState.EXISTS, events=[])


# ---- stream reads (§3.4) -----------------------------------------------------------


@pytest.fixture(scope="module")
def ten(client: EventStoreDBClient) -> tuple[str, list[NewEvent]]:
    """A stream of ten events."""
    stream_name = new_stream("ten")
    events = new_events(10)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    return stream_name, events


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, list(range(10))),
        ({"stream_position": 3}, list(range(3, 10))),
        ({"stream_position": 9}, [9]),
        ({"stream_position": 10}, []),
        ({"stream_position": 100}, []),
        ({"limit": 4}, [0, 1, 2, 3]),
        ({"stream_position": 3, "limit": 2}, [3, 4]),
        ({"backwards": True}, list(range(9, -1, -1))),
        ({"backwards": True, "stream_position": 5}, [5, 4, 3, 2, 1, 0]),
        ({"backwards": True, "stream_position": 0}, [0]),
        ({"backwards": True, "stream_position": 100}, list(range(9, -1, -1))),
        ({"backwards": True, "limit": 3}, [9, 8, 7]),
        ({"backwards": True, "stream_position": 6, "limit": 2}, [6, 5]),
    ],
    ids=repr,
)
def test_get_stream_positions_direction_and_limit(
    client: EventStoreDBClient,
    ten: tuple[str, list[NewEvent]],
    kwargs: dict[str, Any],
    expected: list[int],
) -> None:
    stream_name, events = ten
    recorded = client.get_stream(stream_name, **kwargs)
    assert [e.stream_position for e in recorded] == expected
    for event in recorded:
        assert_recorded(event, events[event.stream_position], stream_name, event.stream_position)

    with client.read_stream(stream_name, **kwargs) as response:
        assert list(response) == list(recorded)


def test_long_stream_reads_page_through(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    events = new_events(700)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)

    assert ids(client.get_stream(stream_name)) == ids(events)
    assert ids(client.get_stream(stream_name, backwards=True)) == ids(events[::-1])
    assert ids(client.get_stream(stream_name, stream_position=650, limit=100)) == ids(events[650:])
    first = commit_position(client.get_stream(stream_name, limit=1)[0])
    assert ids(client.read_all(commit_position=first)) == ids(events)


def test_unicode_stream_names(client: EventStoreDBClient) -> None:
    stream_name = new_stream("strëam-日本")
    (event,) = new_events(1)
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=event
    )
    (recorded,) = client.get_stream(stream_name)
    assert recorded.stream_name == stream_name
    (from_all,) = client.read_all(filter_include=[stream_name], filter_by_stream_name=True)
    assert (from_all.stream_name, from_all.commit_position) == (stream_name, position)


def test_missing_stream_is_not_found(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    with pytest.raises(NotFound):
        client.get_stream(stream_name, backwards=True, limit=1)
    response = client.read_stream(stream_name)
    with pytest.raises(NotFound):
        next(response)


def test_get_current_version(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM
    client.append_to_stream(stream_name, current_version=StreamState.ANY, events=new_events(1))
    assert client.get_current_version(stream_name) == 0
    client.append_to_stream(stream_name, current_version=0, events=new_events(4))
    assert client.get_current_version(stream_name) == 4


# ---- $all reads (§3.5, §3.6) -------------------------------------------------------


class Written:
    """Events written to two streams, alternating, with their commit positions."""

    def __init__(self, client: EventStoreDBClient) -> None:
        self.stream_a, self.stream_b = new_stream("alpha"), new_stream("beta")
        self.type_a, self.type_b = new_type("A"), new_type("B")
        self.events: list[RecordedEvent] = []
        for i in range(4):
            for stream_name, event_type in (
                (self.stream_a, self.type_a),
                (self.stream_b, self.type_b),
            ):
                client.append_to_stream(
                    stream_name,
                    current_version=StreamState.ANY,
                    events=new_events(1, event_type, start=i),
                )
        recorded = [*client.get_stream(self.stream_a), *client.get_stream(self.stream_b)]
        self.events = sorted(recorded, key=commit_position)
        self.first = self.position(0)
        self.last = self.position(-1)

    def position(self, index: int) -> int:
        return commit_position(self.events[index])

    def of_stream(self, stream_name: str) -> list[RecordedEvent]:
        return [e for e in self.events if e.stream_name == stream_name]


@pytest.fixture
def written(client: EventStoreDBClient) -> Written:
    return Written(client)


def test_read_all_forwards_is_inclusive(client: EventStoreDBClient, written: Written) -> None:
    assert list(client.read_all(commit_position=written.first)) == written.events
    assert list(client.read_all(commit_position=written.position(3))) == written.events[3:]
    assert list(client.read_all(commit_position=written.first, limit=3)) == written.events[:3]
    assert list(client.read_all(commit_position=2**62)) == []  # past the end of the log


def test_read_all_from_a_position_that_is_not_an_events(
    client: EventStoreDBClient, written: Written
) -> None:
    """Inside an event's record is no place to read from: the node's reader fails with
    InvalidPosition, which the gRPC API reports as UNKNOWN (KurrentDB 25.0's text)."""
    with pytest.raises(UnknownError, match="Unexpected ReadAllResult: InvalidPosition"):
        list(client.read_all(commit_position=written.last + 1, filter_exclude=()))
    # esdbclient's default filter (no system events) makes it a filtered read.
    with pytest.raises(UnknownError, match="Unexpected FilteredReadAllResult: InvalidPosition"):
        list(client.read_all(commit_position=written.position(2) + 1))


def test_read_all_backwards_is_exclusive(client: EventStoreDBClient, written: Written) -> None:
    assert list(client.read_all(backwards=True, limit=8)) == written.events[::-1]
    assert list(client.read_all(commit_position=written.position(5), backwards=True, limit=2)) == [
        written.events[4],
        written.events[3],
    ]
    assert list(client.read_all(commit_position=written.position(1), backwards=True, limit=1)) == [
        written.events[0]
    ]
    everything = list(client.read_all(backwards=True))
    assert everything[: len(written.events)] == written.events[::-1]
    everything_positions = [commit_position(e) for e in everything]
    assert everything_positions == sorted(everything_positions, reverse=True)


def test_read_all_filters_on_event_type(client: EventStoreDBClient, written: Written) -> None:
    only_a = written.of_stream(written.stream_a)
    only_b = written.of_stream(written.stream_b)
    assert list(client.read_all(filter_include=[written.type_a])) == only_a
    assert list(
        client.read_all(commit_position=written.first, filter_exclude=[written.type_a])
    ) == (only_b)
    assert list(client.read_all(filter_include=[written.type_a, written.type_b])) == written.events
    assert (
        list(client.read_all(filter_include=[written.type_b], backwards=True, limit=2))
        == (only_b[::-1][:2])
    )
    # Patterns are regular expressions (esdbclient anchors them).
    assert list(client.read_all(filter_include=[written.type_a[:9] + ".*"])) == only_a


def test_read_all_filters_on_stream_name(client: EventStoreDBClient, written: Written) -> None:
    only_a = written.of_stream(written.stream_a)
    only_b = written.of_stream(written.stream_b)
    assert (
        list(client.read_all(filter_include=[written.stream_b], filter_by_stream_name=True))
        == only_b
    )
    assert (
        list(
            client.read_all(
                commit_position=written.first,
                filter_exclude=[written.stream_b],
                filter_by_stream_name=True,
            )
        )
        == only_a
    )
    # A filter on the stream name does not look at the event type, and vice versa.
    assert list(client.read_all(filter_include=[written.type_a], filter_by_stream_name=True)) == []
    assert list(client.read_all(filter_include=[written.stream_a])) == []


def test_get_commit_position(client: EventStoreDBClient, written: Written) -> None:
    assert client.get_commit_position() == written.last
    last_a = written.of_stream(written.stream_a)[-1].commit_position
    assert client.get_commit_position(filter_include=[written.type_a]) == last_a
    assert (
        client.get_commit_position(filter_include=[written.stream_a], filter_by_stream_name=True)
        == last_a
    )
    assert client.get_commit_position(filter_include=[new_type()]) == 0


def test_default_filter_excludes_system_events(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=new_events(1)
    )
    client.set_stream_metadata(stream_name, metadata={"$maxCount": 5, "custom": "x"})

    (user_event,) = client.read_all(commit_position=position)
    assert user_event.stream_name == stream_name
    assert client.get_commit_position() == position

    unfiltered = list(client.read_all(commit_position=position, filter_exclude=()))
    assert [e.stream_name for e in unfiltered] == [stream_name, "$$" + stream_name]
    metadata_event = unfiltered[1]
    assert metadata_event.type == "$metadata"
    assert metadata_event.stream_position == 0
    assert json.loads(metadata_event.data) == {"$maxCount": 5, "custom": "x"}
    assert client.get_commit_position(filter_exclude=()) == metadata_event.commit_position
    assert all(not e.is_system_event for e in client.read_all())


# ---- links (§3.8) ------------------------------------------------------------------


def link_to(revision: int, stream_name: str) -> NewEvent:
    return NewEvent(
        type="$>",
        data=f"{revision}@{stream_name}".encode(),
        content_type="application/octet-stream",
    )


def test_resolve_links(client: EventStoreDBClient) -> None:
    target_stream, link_stream = new_stream("target"), new_stream("links")
    targets = new_events(2, "Target")
    client.append_to_stream(target_stream, current_version=StreamState.NO_STREAM, events=targets)
    link = link_to(1, target_stream)
    link_position = client.append_to_stream(
        link_stream, current_version=StreamState.NO_STREAM, events=link
    )
    target = client.get_stream(target_stream)[1]

    (unresolved,) = client.get_stream(link_stream)
    assert_recorded(unresolved, link, link_stream, 0)
    assert unresolved.commit_position == link_position
    assert unresolved.is_link_event

    (resolved,) = client.get_stream(link_stream, resolve_links=True)
    assert resolved.link is not None
    assert_recorded(resolved.link, link, link_stream, 0)
    assert resolved.link.commit_position == link_position
    assert resolved.id == target.id
    assert (resolved.stream_name, resolved.stream_position, resolved.type) == (
        target_stream,
        1,
        "Target",
    )
    assert (resolved.data, resolved.metadata) == (targets[1].data, targets[1].metadata)
    assert resolved.commit_position == target.commit_position
    assert resolved.ack_id == link.id

    # $all: "$>" is a system event type, so the default filter hides links.
    assert list(client.read_all(commit_position=link_position)) == []
    (from_all,) = client.read_all(commit_position=link_position, filter_exclude=())
    assert from_all.id == link.id
    (from_all,) = client.read_all(
        commit_position=link_position, filter_exclude=(), resolve_links=True
    )
    assert from_all.id == targets[1].id
    assert from_all.link is not None
    assert from_all.link.id == link.id


def test_link_to_a_missing_event_is_dropped_when_resolving(client: EventStoreDBClient) -> None:
    link_stream = new_stream("links")
    link = link_to(0, new_stream("nowhere"))
    client.append_to_stream(link_stream, current_version=StreamState.NO_STREAM, events=link)

    assert ids(client.get_stream(link_stream)) == [link.id]
    # The server sends the link without an event; esdbclient skips such items.
    assert client.get_stream(link_stream, resolve_links=True) == ()


def test_link_to_a_deleted_or_truncated_event_is_dropped_when_resolving(
    client: EventStoreDBClient,
) -> None:
    deleted, truncated, link_stream = new_stream("deleted"), new_stream("truncated"), new_stream()
    client.append_to_stream(deleted, current_version=StreamState.NO_STREAM, events=new_events(1))
    client.append_to_stream(truncated, current_version=StreamState.NO_STREAM, events=new_events(2))
    links = [link_to(0, deleted), link_to(0, truncated), link_to(1, truncated)]
    client.append_to_stream(link_stream, current_version=StreamState.NO_STREAM, events=links)
    client.delete_stream(deleted, current_version=0)
    client.set_stream_metadata(truncated, metadata={"$maxCount": 1})

    (resolved,) = client.get_stream(link_stream, resolve_links=True)
    assert (resolved.stream_name, resolved.stream_position) == (truncated, 1)
    assert resolved.link is not None
    assert resolved.link.id == links[2].id
    # Recreating the deleted stream does not bring revision 0 back.
    client.append_to_stream(deleted, current_version=StreamState.ANY, events=new_events(1))
    assert ids(client.get_stream(link_stream, resolve_links=True)) == [resolved.id]
