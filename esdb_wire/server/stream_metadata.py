"""Stream metadata as the event store applies it: ``$maxCount``, ``$maxAge`` and ``$tb``
parsed from a stream's latest ``$metadata`` event (server spec §3.10).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Final

from esdb_wire.server.records import TICKS_PER_SECOND, Record


@dataclass(frozen=True)
class StreamMetadata:
    """The parts of a stream's metadata the store applies; ``raw`` is the JSON object."""

    raw: dict[str, object] | None = None
    max_count: int | None = None
    max_age: int | None = None  # seconds
    truncate_before: int | None = None


EMPTY_METADATA: Final = StreamMetadata()
# A metastream keeps only its latest metadata event.
METASTREAM_METADATA: Final = StreamMetadata(max_count=1)


def parse_metadata(record: Record) -> StreamMetadata:
    """Metadata from a ``$metadata`` event; non-JSON or invalid content means none."""
    if not record.is_json:
        return EMPTY_METADATA
    try:
        raw = json.loads(record.data)
    except ValueError:
        return EMPTY_METADATA
    if not isinstance(raw, dict):
        return EMPTY_METADATA
    values = [raw.get(key) for key in ("$maxCount", "$maxAge", "$tb")]
    checked: list[int | None] = []
    for value, minimum in zip(values, (1, 1, 0)):
        if value is None:
            checked.append(None)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            checked.append(value)
        else:  # the server rejects the whole document
            return StreamMetadata(raw=raw)
    return StreamMetadata(raw, checked[0], checked[1], checked[2])


def visible_bounds(meta: StreamMetadata, last: int, clock: Callable[[], int]) -> tuple[int, int]:
    """Lowest readable revision and the oldest readable ``created`` (ticks; -1: any) of a
    stream whose last revision is ``last``, under ``meta`` (``clock``: now, in ticks)."""
    low = 0
    if meta.truncate_before is not None:
        low = meta.truncate_before
    if meta.max_count is not None:
        low = max(low, last - meta.max_count + 1)
    oldest = -1
    if meta.max_age is not None:
        oldest = clock() - meta.max_age * TICKS_PER_SECOND
    return low, oldest


def take_visible(records: list[Record], revisions: range, count: int, oldest: int) -> list[Record]:
    """Up to ``count`` records at ``revisions`` created at or after ``oldest``."""
    found: list[Record] = []
    for revision in revisions:
        if len(found) >= count:
            break
        record = records[revision]
        if record.created >= oldest:
            found.append(record)
    return found
