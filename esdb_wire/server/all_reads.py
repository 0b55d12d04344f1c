"""Reading the embedded server's log in position order: ``$all`` reads, the records after
a position (subscriptions, projections), and which positions a read may start from.

:class:`AllReads` is a part of :class:`~esdb_wire.server.store.EventStore` (a mixin over
its log: the records in position order, their positions, the writer checkpoint, and the
boundaries of records a scavenge dropped). Reads bisect the list of positions.

**Valid positions.** A node reads ``$all`` from a position in its transaction file: one
where a record starts (or, backwards, ends), or the end of the log and past it. Anywhere
else the bytes there are not a record, and the read fails (``ReadAllResult.
InvalidPosition``): a ``$all`` read ends with UNKNOWN "Unexpected ReadAllResult:
InvalidPosition" (``FilteredReadAllResult`` when filtered; KurrentDB 25.0), a catch-up
subscription, after its confirmation, with INVALID_ARGUMENT "Trying to read from an
invalid position." :meth:`AllReads.is_valid_position` is that check. The positions of
records a scavenge dropped stay valid, as a scavenged chunk still maps them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from esdb_wire.server.records import Record, in_default_all_filter


class AllReads:
    """``$all`` reads over the log of an :class:`~esdb_wire.server.store.EventStore`."""

    _log: list[Record]
    _positions: list[int]
    _log_end: int
    # Where records a scavenge dropped started and ended (still valid read positions).
    _dropped_boundaries: set[int]

    @property
    def last_position(self) -> int:
        """Position of the newest record in the log."""
        return self._positions[-1]

    @property
    def log_end(self) -> int:
        """The writer checkpoint: where the next record will go."""
        return self._log_end

    def is_valid_position(self, position: int) -> bool:
        """Whether a ``$all`` read may start at ``position``: where a record of the log
        starts or ends (a scavenged one too), or at or past the end of the log."""
        if position >= self._log_end:
            return True
        positions = self._positions
        index = bisect.bisect_left(positions, position)
        if index < len(positions) and positions[index] == position:
            return True
        if index > 0 and self._log[index - 1].end == position:
            return True
        return position in self._dropped_boundaries

    def read_all_forwards(
        self, position: int, count: int, predicate: Callable[[Record], bool] | None = None
    ) -> list[Record]:
        """Events at or after ``position`` that pass the default filter and ``predicate``."""
        index = bisect.bisect_left(self._positions, position)
        return self._collect(range(index, len(self._log)), count, predicate)

    def read_all_backwards(
        self,
        position: int | None,
        count: int,
        predicate: Callable[[Record], bool] | None = None,
    ) -> list[Record]:
        """Events that end at or before ``position`` (None: the end of the log), newest first."""
        log = self._log
        if position is None:
            index = len(log) - 1
        else:
            index = bisect.bisect_left(self._positions, position) - 1
            while index >= 0 and log[index].end > position:
                index -= 1
        return self._collect(range(index, -1, -1), count, predicate)

    def _collect(
        self, indexes: range, count: int, predicate: Callable[[Record], bool] | None
    ) -> list[Record]:
        found: list[Record] = []
        if count <= 0:
            return found
        log = self._log
        for index in indexes:
            record = log[index]
            if in_default_all_filter(record) and (predicate is None or predicate(record)):
                found.append(record)
                if len(found) >= count:
                    break
        return found

    def records_after(self, position: int, limit: int) -> list[Record]:
        """Up to ``limit`` raw log records with a position greater than ``position``."""
        index = bisect.bisect_right(self._positions, position)
        return self._log[index : index + limit]
