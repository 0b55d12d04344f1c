"""Secondary indexes (KurrentDB 25.1+), read through the ``$all`` stream-name prefix filter.

A ``$all`` read or subscription whose stream-identifier filter has a prefix starting with
``$idx-`` reads an index instead of filtering stream names: ``$idx-all`` (every user
event), ``$idx-ce-<category>`` (events of streams ``<category>-...``; a stream without a
dash is its own category) and ``$idx-et-<type>`` (events of that type). Events of system
streams and system event types (``$`` names) are never indexed. The node fills its
indexes shortly after each write; here they are computed from the log, so they are
never behind. The reader needs what any ``$all`` read needs (``$admins`` by default in
secure mode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from esdb_wire.server.errors import EXCEPTION
from esdb_wire.server.records import Record
from esdb_wire.transport.status import StatusCode, StatusError

INDEX_PREFIX: Final = "$idx-"
ALL_INDEX: Final = "$idx-all"
CATEGORY_INDEX_PREFIX: Final = "$idx-ce-"
EVENT_TYPE_INDEX_PREFIX: Final = "$idx-et-"

IndexPredicate = Callable[[Record], bool]


def category_of(stream_name: str) -> str:
    """The category of a stream: its name up to the first dash (all of it without one)."""
    return stream_name.partition("-")[0]


def is_indexed(record: Record) -> bool:
    """Whether the default index (and so any index) holds ``record``."""
    return not record.stream_name.startswith("$") and not record.event_type.startswith("$")


def index_filter(prefixes: Sequence[str]) -> IndexPredicate | None:
    """The index a stream-name prefix filter reads, as a record predicate; None for an
    ordinary prefix filter. Raises INVALID_ARGUMENT for an index name combined with other
    prefixes and NOT_FOUND ``index-not-found`` for an index that does not exist."""
    names = [prefix for prefix in prefixes if prefix.startswith(INDEX_PREFIX)]
    if not names:
        return None
    if len(prefixes) > 1:
        raise StatusError(
            StatusCode.INVALID_ARGUMENT,
            "Index reads only work with one index name and cannot be combined with stream "
            "prefixes or other indexes",
        )
    return index_predicate(names[0])


def index_predicate(index_name: str) -> IndexPredicate:
    """The records of the index ``index_name`` (e.g. ``$idx-ce-order``)."""
    if index_name == ALL_INDEX:
        return is_indexed
    if index_name.startswith(CATEGORY_INDEX_PREFIX):
        category = index_name[len(CATEGORY_INDEX_PREFIX) :]
        return lambda record: is_indexed(record) and category_of(record.stream_name) == category
    if index_name.startswith(EVENT_TYPE_INDEX_PREFIX):
        event_type = index_name[len(EVENT_TYPE_INDEX_PREFIX) :]
        return lambda record: record.event_type == event_type and is_indexed(record)
    raise StatusError(
        StatusCode.NOT_FOUND,
        f"Index '{index_name}' not found.",
        trailing_metadata=((EXCEPTION, "index-not-found"), ("index-name", index_name)),
    )
