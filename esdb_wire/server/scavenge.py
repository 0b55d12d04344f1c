"""What a scavenge drops from the embedded server's log
(:meth:`~esdb_wire.server.store.EventStore.scavenge`, run by :mod:`.operations`): the records
no read can return any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esdb_wire.server.records import Record

if TYPE_CHECKING:
    from esdb_wire.server.store import EventStore


def scavengeable(store: EventStore, record: Record) -> bool:
    """Whether a scavenge drops ``record``: an event of a tombstoned stream (not the
    tombstone), of a soft-deleted stream, before its stream's ``$tb``, past its
    ``$maxCount``, older than its ``$maxAge``, or a superseded metastream event. A
    stream's last event stays (it carries the stream's version)."""
    name = record.stream_name
    if store.indexed_record(name, record.revision) is not record:
        return False  # a tombstone (revision 2^63-1), not indexed, or scavenged already
    if store.is_tombstoned(name):
        return True
    last = store.last_revision(name)
    if record.revision == last:
        return False
    if store.is_soft_deleted(name):
        return True
    low, oldest = store.visible_bounds(name, last)
    return record.revision < low or record.created < oldest


def scavenged(record: Record) -> Record:
    """What stays in a stream's index for a scavenged event: no data, never visible."""
    return Record(
        -1, -1, record.stream_name, record.revision, record.event_id, "", False, b"", b"", -1
    )
