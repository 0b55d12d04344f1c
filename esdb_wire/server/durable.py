"""The event store on a journal (``EmbeddedServer(db=PATH)``, ``--db PATH``): every
committed write becomes one journal record, and a store opened on a journal replays it.

Everything the server keeps is in the log: streams and their metadata (``$$`` streams),
tombstones, persistent subscription groups (``$persistentSubscriptionConfig``) with their
checkpoints and parked messages, users (``$user-<login>``, ``$users``) and projections
(``$projections-$all``, definitions, checkpoints, emitted streams). So the journal holds
the log's writes and scavenges only, and a replay brings back all of it: the subsystems
read their state from the store when they start.

**One write, one record.** A write of the store (an append with the metadata it
rewrites for a recreated stream, a multi-stream transaction, a delete, a tombstone, an
empty append that moves the writer checkpoint) opens a :class:`JournaledWrites` scope;
writes nested in it (an observer's) join it; when the outermost one ends, the records it
put in the log are committed as one journal record, before the write returns and so
before any reply is sent. A scavenge is a record of the positions it dropped. See
:mod:`esdb_wire.server.journal` for the file and its sync policies.

If the journal fails (disk full, I/O error), the write that hit it raises and every later
write is refused before it changes anything; reads go on. Restart the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from esdb_wire.server.journal import Journal, JournalEvent, WriteEntry
from esdb_wire.server.records import Record

if TYPE_CHECKING:
    from esdb_wire.server.store import EventStore


class JournaledWrites:
    """The store's link to its journal: a reentrant scope per write, collecting the
    records the write puts in the log (:meth:`written`) and committing them when the
    outermost scope ends. ``log_end`` reads the store's writer checkpoint."""

    def __init__(self, journal: Journal, log_end: Callable[[], int]) -> None:
        self.journal = journal
        self._log_end = log_end
        self._depth = 0
        self._pending: list[JournalEvent] = []
        self._committed_end = -1

    def __enter__(self) -> None:
        if self._depth == 0:
            self.journal.check_healthy()  # refuse before the write changes anything
        self._depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.commit()

    def written(self, records: Sequence[JournalEvent]) -> None:
        """``records`` went into the log in the current write."""
        self._pending.extend(records)

    def commit(self) -> None:
        """Commit what the log received since the last commit as one record (nothing if
        it neither received records nor moved its writer checkpoint)."""
        pending, self._pending = self._pending, []
        log_end = self._log_end()
        if pending or log_end != self._committed_end:
            self.journal.commit(log_end, pending)
            self._committed_end = log_end

    def replayed(self, log_end: int) -> None:
        """The replay ended with the writer checkpoint at ``log_end``."""
        self._committed_end = log_end

    def clear(self) -> None:
        """Forget the journal's records (the store is reset)."""
        self.journal.clear()
        self._pending = []
        self._committed_end = -1


class Unjournaled:
    """The scope of a store without a journal: nothing to do."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


UNJOURNALED = Unjournaled()


def replay(journal: Journal, store: EventStore) -> bool:
    """Put every write and scavenge of ``journal`` back into ``store`` (empty), in order;
    True if there was any (the store is a restarted one)."""
    restarted = False
    for entry in journal.replay():
        restarted = True
        if isinstance(entry, WriteEntry):
            store.restore_write(entry.events, entry.log_end)
        else:
            store.drop_records(entry.positions)
    return restarted


def next_epoch_number(last_epoch: Record | None) -> int:
    """The number of the epoch a store starts: 0 for a new log, one more than the last
    ``$epoch-information`` of a replayed one (as a node writes an epoch at each start)."""
    if last_epoch is None:
        return 0
    try:
        return int(json.loads(last_epoch.data)["epochNumber"]) + 1
    except (ValueError, KeyError, TypeError):
        return 0
