"""esdbclient 1.1.7 against the embedded server: soft delete, tombstones and stream metadata.

Spec references are to /work/shared/research/server-spec.md (§3.1, §3.9, §3.10, §4).
"""

from __future__ import annotations

import time

import pytest

from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import EventStoreDBClient, NewEvent, StreamState  # noqa: E402
from esdbclient.exceptions import (  # noqa: E402
    FailedPrecondition,
    NotFound,
    StreamIsDeleted,
    WrongCurrentVersion,
)

from tests.conformance._support import ids, new_events, new_stream  # noqa: E402

DELETED = 2**63 - 1  # "$tb" of a soft-deleted stream; revision of a tombstone record


def with_events(client: EventStoreDBClient, count: int) -> str:
    stream_name = new_stream()
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=new_events(count)
    )
    return stream_name


# ---- soft delete -------------------------------------------------------------------


def test_soft_deleted_stream_is_not_found(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 3)
    client.delete_stream(stream_name, current_version=2)

    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM
    metadata, version = client.get_stream_metadata(stream_name)
    assert (metadata, version) == ({"$tb": DELETED}, 0)


@pytest.mark.parametrize(
    "version",
    [StreamState.ANY, StreamState.NO_STREAM, 2],
    ids=["any", "no_stream", "exact"],
)
def test_append_after_soft_delete_continues_numbering(
    client: EventStoreDBClient, version: int | StreamState
) -> None:
    stream_name = with_events(client, 3)
    client.delete_stream(stream_name, current_version=StreamState.ANY)
    (event,) = new_events(1)

    position = client.append_to_stream(stream_name, current_version=version, events=event)

    (recorded,) = client.get_stream(stream_name)
    assert (recorded.id, recorded.stream_position, recorded.commit_position) == (
        event.id,
        3,
        position,
    )
    assert client.get_current_version(stream_name) == 3
    # The server rewrites the metadata with "$tb" = the first revision of the new life.
    assert client.get_stream_metadata(stream_name) == ({"$tb": 3}, 1)


def test_stream_exists_after_soft_delete_is_stream_deleted(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 2)
    client.delete_stream(stream_name, current_version=StreamState.EXISTS)

    with pytest.raises(StreamIsDeleted):  # BatchAppend: a StreamDeleted status detail
        client.append_to_stream(
            stream_name, current_version=StreamState.EXISTS, events=new_events(1)
        )
    # Append: FAILED_PRECONDITION "... is deleted."; esdbclient's Append path does not map
    # that text (only its read/delete paths do), so it surfaces as FailedPrecondition.
    with pytest.raises(FailedPrecondition) as caught:
        client.append_to_stream(
            stream_name, current_version=StreamState.EXISTS, events=new_events(1)[0]
        )
    assert str(caught.value) == f"Event stream '{stream_name}' is deleted."


def test_delete_of_a_missing_stream_is_not_found(client: EventStoreDBClient) -> None:
    for version in (StreamState.ANY, StreamState.NO_STREAM, StreamState.EXISTS, 0):
        with pytest.raises(NotFound):
            client.delete_stream(new_stream(), current_version=version)


def test_delete_with_a_wrong_version(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 3)
    with pytest.raises(WrongCurrentVersion) as caught:
        client.delete_stream(stream_name, current_version=5)
    assert str(caught.value) == (
        "Delete failed due to WrongExpectedVersion."
        f" Stream: {stream_name}, Expected version: 5, Actual version: 2"
    )
    with pytest.raises(WrongCurrentVersion) as caught:
        client.delete_stream(stream_name, current_version=StreamState.NO_STREAM)
    assert str(caught.value) == (
        "Delete failed due to WrongExpectedVersion."
        f" Stream: {stream_name}, Expected version: -1, Actual version: 2"
    )
    assert len(client.get_stream(stream_name)) == 3


def test_delete_twice(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 1)
    client.delete_stream(stream_name, current_version=0)
    # The stream's last revision is kept (§3.1): "any" deletes again, 0 still matches.
    client.delete_stream(stream_name, current_version=StreamState.ANY)
    client.delete_stream(stream_name, current_version=0)
    with pytest.raises(NotFound):
        client.get_stream(stream_name)


# ---- tombstone ---------------------------------------------------------------------


def test_tombstoned_stream_is_deleted_for_everything(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 2)
    client.tombstone_stream(stream_name, current_version=1)

    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream_name)
    with pytest.raises(StreamIsDeleted):
        client.get_current_version(stream_name)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=new_events(2))
    with pytest.raises(FailedPrecondition) as caught:  # see test_stream_exists_after_soft_delete
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=new_events(1)[0]
        )
    assert str(caught.value) == f"Event stream '{stream_name}' is deleted."
    for version in (StreamState.ANY, 1):
        with pytest.raises(StreamIsDeleted) as deleted:
            client.delete_stream(stream_name, current_version=version)
        assert str(deleted.value) == f"Event stream '{stream_name}' is deleted."
        with pytest.raises(StreamIsDeleted):
            client.tombstone_stream(stream_name, current_version=version)


def test_tombstone_record_is_in_all(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 1)
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)

    tombstone_position = client.get_commit_position(filter_exclude=())
    (record,) = client.read_all(commit_position=tombstone_position, filter_exclude=())
    assert (record.stream_name, record.type, record.stream_position, record.data) == (
        stream_name,
        "$streamDeleted",
        DELETED,
        b"",
    )
    assert record.commit_position == client.get_commit_position(filter_exclude=())


def test_tombstone_of_a_missing_stream(client: EventStoreDBClient) -> None:
    for version in (StreamState.ANY, StreamState.NO_STREAM):
        stream_name = new_stream()
        client.tombstone_stream(stream_name, current_version=version)
        with pytest.raises(StreamIsDeleted):
            client.get_stream(stream_name)
    with pytest.raises(NotFound):  # WEV with actual -1 (§4): esdbclient says NotFound
        client.tombstone_stream(new_stream(), current_version=StreamState.EXISTS)


def test_tombstone_with_a_wrong_version(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 3)
    with pytest.raises(WrongCurrentVersion) as caught:
        client.tombstone_stream(stream_name, current_version=1)
    # The tombstone rpc uses the "Delete failed" text too (§4).
    assert str(caught.value) == (
        "Delete failed due to WrongExpectedVersion."
        f" Stream: {stream_name}, Expected version: 1, Actual version: 2"
    )
    assert len(client.get_stream(stream_name)) == 3


def test_tombstone_after_soft_delete(client: EventStoreDBClient) -> None:
    stream_name = with_events(client, 2)
    client.delete_stream(stream_name, current_version=1)
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream_name)


# ---- metadata (§3.10) --------------------------------------------------------------


def test_metadata_round_trip(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    assert client.get_stream_metadata(stream_name) == ({}, StreamState.NO_STREAM)

    client.set_stream_metadata(stream_name, metadata={"foo": "bar", "n": [1, 2]})
    assert client.get_stream_metadata(stream_name) == ({"foo": "bar", "n": [1, 2]}, 0)

    client.set_stream_metadata(stream_name, metadata={"foo": "baz"}, current_version=0)
    assert client.get_stream_metadata(stream_name) == ({"foo": "baz"}, 1)

    with pytest.raises(WrongCurrentVersion):
        client.set_stream_metadata(stream_name, metadata={}, current_version=0)
    with pytest.raises(WrongCurrentVersion):
        client.set_stream_metadata(new_stream(), metadata={}, current_version=StreamState.EXISTS)
    assert client.get_stream_metadata(stream_name) == ({"foo": "baz"}, 1)
    # Metadata alone does not make the stream exist.
    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    # The metastream keeps only its latest event ($maxCount 1).
    (latest,) = client.get_stream("$$" + stream_name)
    assert (latest.type, latest.stream_position) == ("$metadata", 1)


def test_stream_with_only_metadata(client: EventStoreDBClient) -> None:
    """ "stream_exists" is satisfied by metadata alone (§3.1); the stream can be deleted."""
    stream_name = new_stream()
    client.set_stream_metadata(stream_name, metadata={"a": 1})
    (event,) = new_events(1)
    client.append_to_stream(stream_name, current_version=StreamState.EXISTS, events=event)
    assert ids(client.get_stream(stream_name)) == [event.id]

    metadata_only = new_stream()
    client.set_stream_metadata(metadata_only, metadata={"a": 1})
    client.delete_stream(metadata_only, current_version=StreamState.ANY)
    assert client.get_stream_metadata(metadata_only) == ({"$tb": DELETED}, 1)


def test_max_count_truncates_stream_reads(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    events = new_events(5)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    first_position = client.get_stream(stream_name)[0].commit_position
    client.set_stream_metadata(stream_name, metadata={"$maxCount": 2})

    assert ids(client.get_stream(stream_name)) == ids(events[3:])
    assert ids(client.get_stream(stream_name, backwards=True)) == ids(events[:2:-1])
    assert ids(client.get_stream(stream_name, stream_position=1)) == ids(events[3:])
    assert client.get_current_version(stream_name) == 4
    # Truncation does not apply to $all (§3.4).
    assert ids(client.read_all(commit_position=first_position)) == ids(events)


def test_truncate_before(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    events = new_events(5)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)
    client.set_stream_metadata(stream_name, metadata={"$tb": 3})
    assert [e.stream_position for e in client.get_stream(stream_name)] == [3, 4]


def test_metadata_of_a_tombstoned_stream_can_be_set_not_read(client: EventStoreDBClient) -> None:
    """As esdbclient's own ``test_stream_metadata_get_and_set`` finds on a node: once the
    stream is tombstoned its metadata cannot be read, yet it can still be set, with the
    metastream's own version or ``any`` (a node checks the metastream's version)."""
    stream_name = with_events(client, 1)
    client.set_stream_metadata(stream_name, metadata={"foo": "bar"})
    client.set_stream_metadata(stream_name, metadata={"foo": "baz"}, current_version=0)
    client.tombstone_stream(stream_name, current_version=0)

    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream_name)
    client.set_stream_metadata(stream_name, metadata={"foo": "qux"}, current_version=1)
    client.set_stream_metadata(
        stream_name, metadata={"foo": "quux"}, current_version=StreamState.ANY
    )
    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream_name)


def test_only_json_metadata_counts(client: EventStoreDBClient) -> None:
    """Metadata is read only from a JSON event; otherwise it is empty (§3.10)."""
    stream_name = new_stream()
    metastream = "$$" + stream_name
    events = new_events(3)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events)

    for metadata in (
        NewEvent(
            type="$metadata",
            data=b'{"$maxCount": 1}',
            content_type="application/octet-stream",
        ),
        NewEvent(type="$metadata", data=b'{"$maxCount": 1'),
    ):
        client.append_to_stream(metastream, current_version=StreamState.ANY, events=metadata)
        assert ids(client.get_stream(stream_name)) == ids(events)

    client.append_to_stream(
        metastream,
        current_version=StreamState.ANY,
        events=NewEvent(type="$metadata", data=b'{"$maxCount": 1}'),
    )
    assert ids(client.get_stream(stream_name)) == ids(events[2:])


def test_max_age_hides_old_events(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=new_events(2)
    )
    time.sleep(1.1)  # $maxAge is in whole seconds
    (recent,) = new_events(1)
    client.append_to_stream(stream_name, current_version=1, events=recent)
    client.set_stream_metadata(stream_name, metadata={"$maxAge": 1})

    (visible,) = client.get_stream(stream_name)
    assert (visible.id, visible.stream_position) == (recent.id, 2)


def test_metastream_of_a_tombstoned_stream_takes_writes_not_reads(
    client: EventStoreDBClient,
) -> None:
    stream_name = new_stream()
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    client.append_to_stream(
        "$$" + stream_name,
        current_version=StreamState.ANY,
        events=[NewEvent(type="$metadata", data=b"{}")],
    )
    with pytest.raises(StreamIsDeleted):
        client.get_stream("$$" + stream_name)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=[NewEvent(type="X", data=b"")]
        )
