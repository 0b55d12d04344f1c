"""The embedded server's event store: one append-only log plus per-stream indexes, in
memory, and, given a journal (:mod:`.durable`), on disk too.

Everything runs on one asyncio event loop thread, so nothing here locks. Appends cost
O(events); a stream read costs O(result) (each stream keeps its records in a list indexed by
revision); a ``$all`` read bisects the list of log positions (:mod:`.all_reads`).
Subscribers are never pushed to: they read the log themselves and park in
:meth:`EventStore.wait_for_records_after`, which an append wakes without ever waiting on
anyone.

No protobuf here. Semantics follow the server spec (§3.1-3.10, §3.12).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from typing import Final

from esdb_wire.server.all_reads import AllReads
from esdb_wire.server.commit_check import AlreadyCommitted, CommitDecision, decide_commit
from esdb_wire.server.durable import (
    UNJOURNALED,
    JournaledWrites,
    Unjournaled,
    next_epoch_number,
    replay,
)
from esdb_wire.server.journal import Journal, JournalError, StoredEvent
from esdb_wire.server.records import (
    DELETED_STREAM,
    EPOCH_INFORMATION,
    METADATA_EVENT_TYPE,
    METASTREAM_PREFIX,
    NO_STREAM,
    SETTINGS,
    STREAM_DELETED_EVENT_TYPE,
    STREAM_EXISTS,
    ProposedEvent,
    ReadCheck,
    Record,
    StreamDeletedError,
    StreamSlice,
    Success,
    WriteObserver,
    WriteResult,
    WrongExpectedVersion,
    event_size,
    is_metastream,
    metastream_of,
    readable_target,
    system_clock,
)
from esdb_wire.server.scavenge import scavengeable, scavenged
from esdb_wire.server.stream_metadata import (
    EMPTY_METADATA,
    METASTREAM_METADATA,
    StreamMetadata,
    parse_metadata,
    take_visible,
    visible_bounds,
)

DEFAULT_MAX_APPEND_SIZE: Final = 1_048_576
DEFAULT_IDEMPOTENCY_CACHE_SIZE: Final = 100_000

# Bytes a record takes on top of its stream name and event sizes (header, ids, length
# prefix and suffix); an empty write still takes _EMPTY_WRITE_SIZE bytes of log.
_RECORD_OVERHEAD = 88
_EMPTY_WRITE_SIZE = 72
_TOMBSTONE_DATA = b""
_SOFT_DELETE_DATA = b'{"$tb":9223372036854775807}'


class _Stream:
    """Per-stream index: ``records[i].revision == i``."""

    __slots__ = ("meta", "name", "records", "tombstone")

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[Record] = []
        self.tombstone: Record | None = None
        self.meta = EMPTY_METADATA

    @property
    def last_revision(self) -> int:
        return len(self.records) - 1


class EventStore(AllReads):
    """The log, the stream indexes, the idempotency cache and live notification."""

    def __init__(
        self,
        *,
        clock: Callable[[], int] = system_clock,
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        idempotency_cache_size: int = DEFAULT_IDEMPOTENCY_CACHE_SIZE,
        observer: WriteObserver | None = None,
        journal: Journal | None = None,
    ) -> None:
        """``observer``, if given, is told about every record written after the startup
        system records (see :class:`WriteObserver`). ``journal`` (opened, not replayed)
        makes the store durable: its records are replayed first, then every write is
        committed to it (see :mod:`.durable`); :meth:`close` closes it."""
        self.clock = clock
        self.max_append_size = max_append_size
        self._log: list[Record] = []
        self._positions: list[int] = []
        self._log_end = 0
        self._dropped_boundaries: set[int] = set()
        self._streams: dict[str, _Stream] = {}
        self._committed: OrderedDict[uuid.UUID, tuple[str, int]] = OrderedDict()
        self._cache_size = idempotency_cache_size
        self._waiter: asyncio.Future[None] | None = None
        self._observer: WriteObserver | None = None
        # Moves on with every reset(): a reader that saw another generation must stop.
        self.generation = 0
        self._journaled: JournaledWrites | None = None
        self._scope: JournaledWrites | Unjournaled = UNJOURNALED
        restarted = False
        if journal is not None:
            self._journaled = self._scope = JournaledWrites(journal, lambda: self._log_end)
            restarted = replay(journal, self)
            self._journaled.replayed(self._log_end)
        with self._scope:
            self._write_system_records(restarted=restarted)
        self._observer = observer
        # Projections (esdb_wire.server.projections): called before a read of a system
        # stream, so that the native projections have processed what was committed.
        self.read_barrier: Callable[[], None] | None = None
        self._in_read_barrier = False

    # ---- log ----------------------------------------------------------------------

    @property
    def durable(self) -> bool:
        """True if the store is on a journal (it outlives the server)."""
        return self._journaled is not None

    def close(self) -> None:
        """Sync and close the journal, if any (the store is not written to again)."""
        if self._journaled is not None:
            self._journaled.journal.close()

    def reset(self) -> None:
        """Empty the store, as a new one: the log (back to its startup system records at
        position 0), the stream indexes and metadata, the idempotency cache.
        :attr:`generation` moves on and every :meth:`wait_for_records_after` returns, so
        that readers can see the reset and stop (their positions mean nothing any more).
        The observer is kept (it is not told about the new system records). A journal
        is emptied too."""
        if self._journaled is not None:
            self._journaled.clear()
        observer = self._observer
        self._observer = None
        self._log = []
        self._positions = []
        self._log_end = 0
        self._dropped_boundaries = set()
        self._streams = {}
        self._committed = OrderedDict()
        self.generation += 1
        try:
            with self._scope:
                self._write_system_records(restarted=False)
        finally:
            self._observer = observer

    def _write_system_records(self, *, restarted: bool) -> None:
        """A new log's first records: the epoch and the settings; a restarted one's (on
        its journal) is a new epoch, numbered after the last, as a node writes at start."""
        created = self.clock()
        last = self.indexed_record(EPOCH_INFORMATION, self.last_revision(EPOCH_INFORMATION))
        epoch = {
            "epochNumber": next_epoch_number(last),
            "epochId": str(uuid.uuid4()),
            "epochPosition": self._log_end,
            "leaderInstanceId": str(uuid.uuid4()),
        }
        self._write(EPOCH_INFORMATION, EPOCH_INFORMATION, _json_bytes(epoch), created)
        if restarted:
            return
        acl = {"$r": "$all", "$w": "$all", "$d": "$all", "$mr": "$all", "$mw": "$all"}
        admins = {key: "$admins" for key in acl}
        settings = {"$userStreamAcl": acl, "$systemStreamAcl": admins}
        self._write(SETTINGS, SETTINGS, _json_bytes(settings), created)

    def _write(
        self,
        stream_name: str,
        event_type: str,
        data: bytes,
        created: int,
        *,
        is_json: bool = True,
        revision: int | None = None,
    ) -> Record:
        """Append one system record (new id) to ``stream_name``."""
        event = ProposedEvent(uuid.uuid4(), event_type, is_json, data, b"")
        return self._write_events(self._stream(stream_name), [event], created, revision)

    def _write_events(
        self,
        stream: _Stream,
        events: Sequence[ProposedEvent],
        created: int,
        revision: int | None = None,
    ) -> Record:
        """Append ``events`` to the log and to ``stream``; returns the last record."""
        name = stream.name
        name_size = len(name.encode()) + _RECORD_OVERHEAD
        records = stream.records
        log = self._log
        positions = self._positions
        committed = self._committed
        position = self._log_end
        record = None
        for event in events:
            rev = len(records) if revision is None else revision
            data = event.data
            meta = event.custom_metadata
            end = position + name_size + event_size(event.event_type, data, meta)
            record = Record(
                position,
                end,
                name,
                rev,
                event.event_id,
                event.event_type,
                event.is_json,
                data,
                meta,
                created,
            )
            if revision is None:
                records.append(record)
            log.append(record)
            positions.append(position)
            if event.event_id in committed:
                committed.move_to_end(event.event_id)
            committed[event.event_id] = (name, rev)
            position = end
        while len(committed) > self._cache_size:
            committed.popitem(last=False)
        self._log_end = position
        assert record is not None
        if is_metastream(name) and revision is None:
            self._stream(name[len(METASTREAM_PREFIX) :]).meta = parse_metadata(record)
        if self._journaled is not None:
            self._journaled.written(log[len(log) - len(events) :])
        observer = self._observer
        if observer is not None:
            self._observe(observer, log[len(log) - len(events) :])
        self._notify()
        return record

    def _observe(self, observer: WriteObserver, records: Sequence[Record]) -> None:
        """Tell ``observer`` about ``records``; what it writes meanwhile goes unreported."""
        self._observer = None
        try:
            observer.records_written(self, records)
        finally:
            self._observer = observer

    def _notify(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_records_after(self, position: int) -> None:
        """Return once the log holds a record with a position greater than ``position``,
        or once the store is reset (:attr:`generation` moves on)."""
        generation = self.generation
        while self._positions[-1] <= position and self.generation == generation:
            loop = asyncio.get_running_loop()
            waiter = self._waiter
            if waiter is None or waiter.get_loop() is not loop:
                waiter = self._waiter = loop.create_future()
            await asyncio.shield(waiter)

    # ---- streams ------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream(name)
        return stream

    def last_revision(self, stream_name: str) -> int:
        """The stream's last revision, -1 if it has no events (tombstones do not count)."""
        stream = self._streams.get(stream_name)
        return -1 if stream is None else stream.last_revision

    def metadata(self, stream_name: str) -> StreamMetadata:
        """The metadata that applies to reads of ``stream_name``."""
        if is_metastream(stream_name):
            return METASTREAM_METADATA
        stream = self._streams.get(stream_name)
        return EMPTY_METADATA if stream is None else stream.meta

    def is_tombstoned(self, stream_name: str) -> bool:
        """True for a hard-deleted stream and for the metastream of one."""
        stream = self._streams.get(stream_name)
        if stream is not None and stream.tombstone is not None:
            return True
        if is_metastream(stream_name):
            return self.is_tombstoned(stream_name[len(METASTREAM_PREFIX) :])
        return False

    def tombstone_record(self, stream_name: str) -> Record | None:
        stream = self._streams.get(stream_name)
        return None if stream is None else stream.tombstone

    def is_soft_deleted(self, stream_name: str) -> bool:
        return self.metadata(stream_name).truncate_before == DELETED_STREAM

    def _has_metadata(self, stream_name: str) -> bool:
        return self.last_revision(metastream_of(stream_name)) >= 0

    def visible_bounds(self, stream_name: str, last: int) -> tuple[int, int]:
        """Lowest readable revision and the oldest readable ``created`` (ticks) of a stream
        whose last revision is ``last`` (see :func:`.stream_metadata.visible_bounds`)."""
        return visible_bounds(self.metadata(stream_name), last, self.clock)

    def indexed_record(self, stream_name: str, revision: int) -> Record | None:
        """What the stream's index holds at ``revision`` (0 to its last), visible or not."""
        stream = self._streams.get(stream_name)
        if stream is None or not 0 <= revision < len(stream.records):
            return None
        return stream.records[revision]

    def read_stream(
        self,
        stream_name: str,
        start: int | None,
        count: int,
        *,
        backwards: bool = False,
        include_tombstoned: bool = False,
    ) -> StreamSlice | None:
        """Visible events from revision ``start`` (None: the end, backwards only), at most
        ``count``. None when the stream has no events or is soft-deleted. Raises
        :class:`StreamDeletedError` for a tombstoned stream unless ``include_tombstoned``.
        """
        barrier = self.read_barrier
        if barrier is not None and stream_name.startswith("$") and not self._in_read_barrier:
            self._in_read_barrier = True
            try:
                barrier()
            finally:
                self._in_read_barrier = False
        if not include_tombstoned and self.is_tombstoned(stream_name):
            raise StreamDeletedError(stream_name)
        stream = self._streams.get(stream_name)
        if stream is None or not stream.records or self.is_soft_deleted(stream_name):
            return None
        records = stream.records
        last = len(records) - 1
        low, oldest = self.visible_bounds(stream_name, last)
        if backwards:
            high = last if start is None else min(start, last)
            if oldest < 0:
                found = records[max(low, high - count + 1) : high + 1][::-1] if high >= low else []
            else:
                found = take_visible(records, range(high, low - 1, -1), count, oldest)
        else:
            begin = max(low, 0 if start is None else start)
            if oldest < 0:
                found = records[begin : begin + count]
            else:
                found = take_visible(records, range(begin, last + 1), count, oldest)
        return StreamSlice(found, last)

    def visible_event(self, stream_name: str, revision: int) -> Record | None:
        """The event at ``revision`` if a read of the stream would return it."""
        if self.is_tombstoned(stream_name) or self.is_soft_deleted(stream_name):
            return None
        stream = self._streams.get(stream_name)
        if stream is None or not 0 <= revision <= stream.last_revision:
            return None
        low, oldest = self.visible_bounds(stream_name, stream.last_revision)
        record = stream.records[revision]
        return record if revision >= low and record.created >= oldest else None

    def resolve_link(self, link: Record, *, may_read: ReadCheck | None) -> Record | None:
        """The target of a ``$>`` link (data ``"<rev>@<stream>"``); None if it is gone or
        if the reader may not read it (see :func:`readable_target`). ``may_read`` is the
        reader's check (secure mode); None resolves as the system account does."""
        revision, at, stream = link.data.partition(b"@")
        if not at or not revision.isdigit():
            return None
        try:
            name = stream.decode()
        except UnicodeDecodeError:
            return None
        return readable_target(self.visible_event(name, int(revision)), may_read)

    # ---- writes -----------------------------------------------------------------

    def append(
        self, stream_name: str, expected: int, events: Sequence[ProposedEvent]
    ) -> WriteResult:
        """Append ``events`` if ``expected`` allows it (§3.1, §3.2)."""
        decision = self.check_commit(stream_name, expected, [event.event_id for event in events])
        if isinstance(decision, WrongExpectedVersion):
            return decision
        stream = self._stream(stream_name)
        if isinstance(decision, AlreadyCommitted):
            record = stream.records[decision.last_revision]
            return Success(decision.last_revision, record.position)
        original = stream_name[len(METASTREAM_PREFIX) :] if is_metastream(stream_name) else None
        undelete_original = (
            original is not None
            and self.is_soft_deleted(original)
            and not self.is_tombstoned(original)
        )
        created = self.clock()
        with self._scope:
            if events:
                position = self._write_events(stream, events, created).position
            else:
                position = self._log_end
                self._log_end += _EMPTY_WRITE_SIZE
            if decision.soft_deleted:
                self._soft_undelete(stream_name, decision.current + 1, created)
            if undelete_original and original is not None:
                self._soft_undelete(original, self.last_revision(original) + 1, created)
        return Success(stream.last_revision, position)

    def write_transaction(self, events: Sequence[tuple[str, ProposedEvent]]) -> list[Record]:
        """Append ``events`` (stream name, event) to the log in this order as one
        transaction, for multi-stream appends (KurrentDB's v2 API). The caller has already
        checked every stream's expected state; nothing awaits in between, so readers see
        all of the records or none. Soft-deleted streams written to are recreated (as by
        :meth:`append`); the observer hears about the records once, after the last."""
        if not events:
            return []
        created = self.clock()
        recreate: dict[str, int] = {}
        for name, _ in events:
            if name not in recreate:
                original = name[len(METASTREAM_PREFIX) :] if is_metastream(name) else None
                if self.is_soft_deleted(name):
                    recreate[name] = self.last_revision(name) + 1
                elif original is not None and self.is_soft_deleted(original):
                    recreate[name] = -1
                    recreate.setdefault(original, self.last_revision(original) + 1)
        observer, self._observer = self._observer, None
        first = len(self._log)
        with self._scope:
            try:
                for name, event in events:
                    self._write_events(self._stream(name), [event], created)
            finally:
                self._observer = observer
            written = self._log[first:]
            if observer is not None:
                self._observe(observer, written)
            for name, first_new in recreate.items():
                if first_new >= 0:
                    self._soft_undelete(name, first_new, created)
        return written

    def delete(self, stream_name: str, expected: int) -> WriteResult:
        """Soft delete: write ``{"$tb": 2^63-1}`` to the metastream (§3.9)."""
        decision = self.check_commit(stream_name, expected, [uuid.uuid4()])
        if isinstance(decision, WrongExpectedVersion):
            return decision
        current = self.last_revision(stream_name)
        if current < 0 and not self._has_metadata(stream_name):
            return WrongExpectedVersion(NO_STREAM, expected)
        with self._scope:
            record = self._write(
                metastream_of(stream_name), METADATA_EVENT_TYPE, _SOFT_DELETE_DATA, self.clock()
            )
        return Success(current, record.position)

    def tombstone(self, stream_name: str, expected: int) -> WriteResult:
        """Hard delete: a ``$streamDeleted`` record with revision 2^63-1 (§3.9)."""
        decision = self.check_commit(stream_name, expected, [uuid.uuid4()])
        if isinstance(decision, WrongExpectedVersion):
            return decision
        with self._scope:
            record = self._write(
                stream_name,
                STREAM_DELETED_EVENT_TYPE,
                _TOMBSTONE_DATA,
                self.clock(),
                is_json=False,
                revision=DELETED_STREAM,
            )
            self._stream(stream_name).tombstone = record
        return Success(DELETED_STREAM, record.position)

    def _soft_undelete(self, stream_name: str, recreate_from: int, created: int) -> None:
        """Rewrite the metadata of a recreated stream with ``$tb`` = ``recreate_from``."""
        raw = self.metadata(stream_name).raw
        if raw is None:
            return
        updated = dict(raw)
        updated["$tb"] = recreate_from
        self._write(metastream_of(stream_name), METADATA_EVENT_TYPE, _json_bytes(updated), created)

    def check_commit(
        self, stream_name: str, expected: int, event_ids: Sequence[uuid.UUID]
    ) -> CommitDecision:
        """The commit decision of §3.1/§3.2 (``IndexWriter.CheckCommit``) for writing
        ``event_ids`` to ``stream_name`` (see :mod:`~esdb_wire.server.commit_check`).
        Raises :class:`StreamDeletedError` for a tombstoned stream, and for a soft-deleted
        one when ``expected`` is ``stream_exists``. The metastream of a tombstoned stream
        takes writes (only its reads fail): the node checks a metastream's own version."""
        stream = self._streams.get(stream_name)
        if stream is not None and stream.tombstone is not None:
            raise StreamDeletedError(stream_name)
        current = -1 if stream is None else stream.last_revision
        soft_deleted = self.is_soft_deleted(stream_name)
        if expected == STREAM_EXISTS:
            if soft_deleted:
                raise StreamDeletedError(stream_name)
            if current < 0 and not self._has_metadata(stream_name):
                return WrongExpectedVersion(current, expected)
        return decide_commit(
            stream_name,
            expected,
            event_ids,
            current=current,
            soft_deleted=soft_deleted,
            records=() if stream is None else stream.records,
            committed=self._committed,
        )

    # ---- scavenge (esdb_wire.server.operations) ----------------------------------------

    def scavenge(self) -> tuple[int, int]:
        """Drop from the log the records no read can return any more, as a scavenge does
        (see :func:`.scavenge.scavengeable`); a journal records the positions dropped.
        Returns (records dropped, bytes of log saved)."""
        positions = [record.position for record in self._log if scavengeable(self, record)]
        if not positions:
            return 0, 0
        saved = self.drop_records(positions)
        if self._journaled is not None:
            self._journaled.journal.scavenged(positions)
        return len(positions), saved

    def drop_records(self, positions: Collection[int]) -> int:
        """Take the records at ``positions`` out of the log; their streams keep a
        placeholder (:func:`.scavenge.scavenged`) at their revisions. Bytes saved."""
        dropping = set(positions)
        kept: list[Record] = []
        saved = 0
        for record in self._log:
            if record.position in dropping:
                saved += record.end - record.position
                self._streams[record.stream_name].records[record.revision] = scavenged(record)
                self._dropped_boundaries.update((record.position, record.end))
            else:
                kept.append(record)
        self._log = kept
        self._positions = [record.position for record in kept]
        return saved

    # ---- replay (esdb_wire.server.durable) ---------------------------------------------

    def restore_write(self, events: Sequence[StoredEvent], log_end: int) -> None:
        """Put back a write read from the journal: its records at their positions, with
        no checks, no observer and no journal; then the writer checkpoint after it."""
        committed = self._committed
        for event in events:
            name = event.stream_name
            record = Record(*event)
            stream = self._stream(name)
            if record.revision == DELETED_STREAM:
                stream.tombstone = record
            elif record.revision != len(stream.records):
                raise JournalError(f"journal: {name}@{record.revision} is out of order")
            else:
                stream.records.append(record)
                if is_metastream(name):
                    self._stream(name[len(METASTREAM_PREFIX) :]).meta = parse_metadata(record)
            self._log.append(record)
            self._positions.append(record.position)
            committed.pop(record.event_id, None)
            committed[record.event_id] = (name, record.revision)
        while len(committed) > self._cache_size:
            committed.popitem(last=False)
        self._log_end = log_end


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
