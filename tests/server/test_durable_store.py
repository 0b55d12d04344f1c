"""The event store on a journal: a store opened again on the file is the store that was
written (every record, position, index, metadata, tombstone, scavenge), each write is one
journal record, and a failing journal refuses writes before they change anything."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from esdb_wire import EmbeddedServer, EventStoreDBClient, NewEvent, StreamState
from esdb_wire.server.journal import Journal, JournalError, ScavengeEntry, WriteEntry
from esdb_wire.server.records import (
    ANY,
    DELETED_STREAM,
    EPOCH_INFORMATION,
    NO_STREAM,
    ProposedEvent,
    Success,
)
from esdb_wire.server.store import EventStore
from tests.server.helpers import Clock, event


def open_store(path: Path, **options: Any) -> EventStore:
    return EventStore(journal=Journal(path, **options), clock=Clock())


def snapshot(store: EventStore) -> dict[str, Any]:
    """Everything a reader can see of the store but its epochs (a restart adds one)."""
    log = [r for r in store.records_after(-1, 1_000_000) if r.stream_name != EPOCH_INFORMATION]
    names = {record.stream_name for record in log}
    return {
        "log": [
            (
                r.position,
                r.end,
                r.stream_name,
                r.revision,
                r.event_id,
                r.event_type,
                r.is_json,
                r.data,
                r.custom_metadata,
                r.created,
            )
            for r in log
        ],
        "streams": {
            name: (
                store.last_revision(name),
                store.metadata(name),
                store.is_tombstoned(name),
                store.is_soft_deleted(name),
            )
            for name in names
        },
    }


def busy_store(store: EventStore) -> list[ProposedEvent]:
    """A bit of every kind of write; returns the first append's events."""
    first = [event("Placed"), event("Paid")]
    store.append("order-1", NO_STREAM, first)
    store.append("order-1", ANY, [])  # an empty append moves the checkpoint
    store.append("$$order-1", ANY, [event("$metadata", b'{"$maxCount": 1, "x": 1}')])
    store.append("order-2", ANY, [event("Placed")])
    assert isinstance(store.delete("order-2", ANY), Success)
    store.append("order-2", ANY, [event("Placed again")])  # recreated: $tb rewritten
    store.append("order-3", ANY, [event("Placed")])
    store.tombstone("order-3", ANY)
    store.append("$$order-3", ANY, [event("$metadata", b"{}")])  # still takes writes
    store.write_transaction(
        [("multi-a", event("A")), ("multi-b", event("B")), ("multi-a", event("A2"))]
    )
    return first


def test_a_reopened_store_is_the_store_that_was_written(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = open_store(path)
    first = busy_store(store)
    kept = {record.position for record in store.records_after(-1, 1_000_000)}
    dropped, _ = store.scavenge()
    assert dropped > 0  # order-1's first event ($maxCount 1), order-2's soft-deleted one
    scavenged = kept - {record.position for record in store.records_after(-1, 1_000_000)}
    store.append("after", ANY, [event("Late")])
    before = snapshot(store)
    log_end = store.log_end
    store.close()

    again = open_store(path)
    try:
        assert snapshot(again) == before
        order = again.read_stream("order-1", 0, 10)
        assert order is not None
        assert [record.event_type for record in order.records] == ["Paid"]
        # Idempotency survives: the same events sent again are the ones written.
        again_first = again.append("order-1", NO_STREAM, first)
        assert isinstance(again_first, Success)
        assert again_first.current_revision == 1
        # A new epoch was written at the end, numbered after the first.
        epochs = again.read_stream(EPOCH_INFORMATION, 0, 10, include_tombstoned=True)
        assert epochs is not None
        numbers = [json.loads(r.data)["epochNumber"] for r in epochs.records]
        assert numbers == [0, 1]
        assert epochs.records[-1].position == log_end
        assert json.loads(epochs.records[-1].data)["epochPosition"] == log_end
        # Positions of scavenged records stay valid read positions.
        assert scavenged
        assert all(again.is_valid_position(position) for position in scavenged)
        assert not again.is_valid_position(min(scavenged) + 1)
    finally:
        again.close()


def test_each_write_is_one_journal_record(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = open_store(path)
    store.append("a", NO_STREAM, [event(), event(), event()])
    store.append("a", ANY, [])
    store.append("b", ANY, [event()])
    store.delete("b", ANY)
    store.append("b", ANY, [event()])  # recreate: the events and the rewritten $tb
    store.tombstone("a", ANY)
    store.write_transaction([("c", event()), ("d", event())])
    store.append("$$b", ANY, [event("$metadata", b'{"$maxCount": 1}')])
    store.append("b", ANY, [event()])
    store.scavenge()
    store.close()

    journal = Journal(path)
    entries = list(journal.replay())
    journal.close()
    writes = [entry for entry in entries if isinstance(entry, WriteEntry)]
    shapes = [[(e.stream_name, e.event_type) for e in w.events] for w in writes]
    assert shapes[0] == [("$epoch-information", "$epoch-information"), ("$settings", "$settings")]
    assert shapes[1] == [("a", "Thing")] * 3
    assert shapes[2] == []  # the empty append
    assert shapes[3] == [("b", "Thing")]
    assert shapes[4] == [("$$b", "$metadata")]
    assert shapes[5] == [("b", "Thing"), ("$$b", "$metadata")]
    assert shapes[6] == [("a", "$streamDeleted")]
    assert writes[6].events[0].revision == DELETED_STREAM
    assert shapes[7] == [("c", "Thing"), ("d", "Thing")]
    assert isinstance(entries[-1], ScavengeEntry)
    assert len(writes) == 10


def test_a_failing_journal_refuses_writes_before_they_change_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path / "db")
    store.append("a", NO_STREAM, [event()])

    def disk_full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("esdb_wire.server.journal.os.write", disk_full)
    with pytest.raises(JournalError, match="write failed"):
        store.append("a", 0, [event()])
    monkeypatch.undo()
    revision = store.last_revision("a")
    end = store.log_end
    with pytest.raises(JournalError, match="an earlier write or sync failed"):
        store.append("a", revision, [event()])
    with pytest.raises(JournalError):
        store.tombstone("b", ANY)
    assert (store.last_revision("a"), store.log_end, store.is_tombstoned("b")) == (
        revision,
        end,
        False,
    )
    store.read_stream("a", 0, 10)  # reads go on
    store.close()


def test_reset_empties_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = open_store(path)
    store.append("a", NO_STREAM, [event()])
    store.reset()
    store.append("b", NO_STREAM, [event()])
    store.close()
    again = open_store(path)
    try:
        assert again.last_revision("a") == -1
        assert again.last_revision("b") == 0
    finally:
        again.close()


def test_embedded_server_on_a_journal(tmp_path: Path) -> None:
    """``EmbeddedServer(db=...)``: started again on its journal it has the data; a second
    server on the same journal is refused, and leaves no thread behind."""
    path = tmp_path / "db"
    with EmbeddedServer(db=path, db_sync="always") as server:
        with EventStoreDBClient(server.esdb_uri) as client:
            client.append_to_stream(
                "kept", current_version=StreamState.NO_STREAM, events=NewEvent("K", b"")
            )
        with pytest.raises(JournalError, match="in use by another server"):
            EmbeddedServer(db=path).start()
    with EmbeddedServer(db=path) as server, EventStoreDBClient(server.esdb_uri) as client:
        assert [event.type for event in client.get_stream("kept")] == ["K"]
    with pytest.raises(ValueError, match="db_sync must be one of"):
        EmbeddedServer(db=path, db_sync="sometimes")
