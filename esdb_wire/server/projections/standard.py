"""The five standard projections, native (no JavaScript): ``$streams``,
``$stream_by_category``, ``$by_category``, ``$by_event_type`` and ``$by_correlation_id``
(spec §3.10), after the upstream handlers (``EventStore.Projections.Core/Standard/*.cs``).

The managed projections subsystem (:mod:`.manager`) runs each as a projection of its
own; :class:`StandardProjections` runs the first four synchronously as a
:class:`~esdb_wire.server.records.WriteObserver` (for tests of their output).

* Source: every record in ``$all`` whose stream is not a system stream, plus records of
  the metastream ``$$X`` of a non-system stream ``X`` (``TransactionFileEventFilter``).
  So ``$metadata`` events of user streams are projected; ``$``-streams never are.
* ``$streams`` (``IndexStreams``): for a record with revision 0, a ``$>`` link
  ``"0@<stream>"`` in ``$streams`` (``$$X`` streams included).
* ``$stream_by_category`` (``CategorizeStreamByPath``): for a record with revision 0 of a
  stream with a category, a ``$@`` ("stream reference") event in ``$category-<category>``
  whose data is the stream name. Not a ``$>`` link: reads never resolve it.
* ``$by_category`` (``CategorizeEventsByStreamPath``): for every record of a stream with a
  category, a ``$>`` link in ``$ce-<category>`` to ``"<revision>@<stream>"``; for a
  ``$>`` record, to the record's own target (links are not chained). A tombstone
  (``$streamDeleted``) is linked too, and so is a soft delete (the ``$metadata`` event
  with ``$tb`` = 2^63-1 in ``$$X`` counts for ``X``'s category), with ``"$deleted":-1``.
* ``$by_event_type`` (``IndexEventsByEventType``): for every record but ``$>`` links, a
  ``$>`` link in ``$et-<type>``; tombstones and soft deletes go to ``$et-$deleted`` with
  ``"$deleted":-1``, linking ``"<revision>@X"``.
* ``$by_correlation_id`` (``ByCorrelationId``, configuration
  ``{"correlationIdProperty":"$correlationId"}``): for a non-link record whose JSON
  metadata has that property as a string, a ``$>`` link in ``$bc-<id>`` with
  ``$eventTimestamp`` in the link metadata.

The category (``StreamCategoryExtractorByFirstSeparator``, source ``"first\\r\\n-"``) is
the text before the first ``-`` of a non-``$`` stream name, if that ``-`` is not the
first character.

Emitted events are not JSON; their metadata is the checkpoint tag of the source record,
then the handler's extra keys, then ``$causedBy``::

    {"$v":"3:-1:1:4","$c":1234,"$p":1234,"$o":"order-1","$causedBy":"<uuid>"}

``$v`` is ``<projectionId>:<epoch>:<version>:4``: ids 1-5 in the order above, and a
freshly registered (version 0), then started (version 1) projection.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Final

from esdb_wire.server.records import (
    ANY,
    DELETED_STREAM,
    LINK_EVENT_TYPE,
    METADATA_EVENT_TYPE,
    METASTREAM_PREFIX,
    STREAM_DELETED_EVENT_TYPE,
    TICKS_PER_SECOND,
    ProposedEvent,
    Record,
    StreamDeletedError,
    metastream_of,
)
from esdb_wire.server.store import EventStore
from esdb_wire.server.stream_metadata import parse_metadata

STREAM_REFERENCE_EVENT_TYPE: Final = "$@"
STREAMS_STREAM: Final = "$streams"
CATEGORY_STREAM_PREFIX: Final = "$ce-"
EVENT_TYPE_STREAM_PREFIX: Final = "$et-"
STREAM_CATEGORY_STREAM_PREFIX: Final = "$category-"
CORRELATION_STREAM_PREFIX: Final = "$bc-"
DELETED_EVENT_TYPE: Final = "$deleted"
CATEGORY_SEPARATOR: Final = "-"
EMITTED_STREAM_METADATA: Final = b'{"$acl":{"$r":"$all","$mr":"$all"}}'
# The configuration each standard projection is registered with ("query" text).
CONFIGURATIONS: Final = {
    "$streams": "",
    "$stream_by_category": "first\r\n-",
    "$by_category": "first\r\n-",
    "$by_event_type": "",
    "$by_correlation_id": '{"correlationIdProperty":"$correlationId"}',
}
HANDLER_TYPES: Final = {
    "$streams": "native:EventStore.Projections.Core.Standard.IndexStreams",
    "$stream_by_category": "native:EventStore.Projections.Core.Standard.CategorizeStreamByPath",
    "$by_category": "native:EventStore.Projections.Core.Standard.CategorizeEventsByStreamPath",
    "$by_event_type": "native:EventStore.Projections.Core.Standard.IndexEventsByEventType",
    "$by_correlation_id": "native:EventStore.Projections.Core.Standard.ByCorrelationId",
}
_DELETED_EXTRA = ',"$deleted":-1'
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

Emitted = tuple[str, ProposedEvent]
Handler = Callable[[Record, str], list[Emitted]]


def category_of(stream_name: str) -> str | None:
    """The category of a stream: the text before its first ``-`` (None if there is none,
    the ``-`` comes first, or the stream is a system stream)."""
    if stream_name.startswith("$"):
        return None
    index = stream_name.find(CATEGORY_SEPARATOR)
    return stream_name[:index] if index > 0 else None


def is_projected_stream(stream_name: str) -> bool:
    """True for the streams the projections read: non-system streams and their metastreams."""
    if not stream_name.startswith("$"):
        return True
    return stream_name.startswith(METASTREAM_PREFIX) and not stream_name.startswith("$", 2)


def _link_metadata(version: str, record: Record, extra: str = "") -> bytes:
    position = record.position
    return (
        f'{{"$v":"{version}","$c":{position},"$p":{position}{extra},'
        f'"$causedBy":"{record.event_id}"}}'
    ).encode()


def _emitted(event_type: str, data: bytes, metadata: bytes) -> ProposedEvent:
    return ProposedEvent(uuid.uuid4(), event_type, False, data, metadata)


def _deletion(record: Record) -> tuple[bool, str]:
    """Whether ``record`` deletes a stream, and the name of the stream it belongs to
    (``X`` for a record of ``$$X``)."""
    name = record.stream_name
    if name.startswith(METASTREAM_PREFIX):
        deleted = (
            record.event_type == METADATA_EVENT_TYPE
            and parse_metadata(record).truncate_before == DELETED_STREAM
        )
        return deleted, name[len(METASTREAM_PREFIX) :]
    return record.event_type == STREAM_DELETED_EVENT_TYPE, name


def index_streams(record: Record, version: str) -> list[Emitted]:
    """``$streams``."""
    if record.revision != 0:
        return []
    target = f"0@{record.stream_name}".encode()
    return [(STREAMS_STREAM, _emitted(LINK_EVENT_TYPE, target, _link_metadata(version, record)))]


def categorize_stream_by_path(record: Record, version: str) -> list[Emitted]:
    """``$stream_by_category``."""
    category = category_of(record.stream_name)
    if record.revision != 0 or category is None:
        return []
    event = _emitted(
        STREAM_REFERENCE_EVENT_TYPE, record.stream_name.encode(), _link_metadata(version, record)
    )
    return [(STREAM_CATEGORY_STREAM_PREFIX + category, event)]


def categorize_events_by_stream_path(record: Record, version: str) -> list[Emitted]:
    """``$by_category``: a deleted stream's records count for the deleted stream's category."""
    deleted, original = _deletion(record)
    category = category_of(original) if deleted else category_of(record.stream_name)
    if category is None:
        return []
    if record.event_type == LINK_EVENT_TYPE:
        target = record.data
    else:
        target = f"{record.revision}@{record.stream_name}".encode()
    extra = f',"$o":{json.dumps(original if deleted else record.stream_name, ensure_ascii=False)}'
    if deleted:
        extra += _DELETED_EXTRA
    event = _emitted(LINK_EVENT_TYPE, target, _link_metadata(version, record, extra))
    return [(CATEGORY_STREAM_PREFIX + category, event)]


def index_events_by_event_type(record: Record, version: str) -> list[Emitted]:
    """``$by_event_type``."""
    if record.event_type == LINK_EVENT_TYPE:
        return []
    deleted, original = _deletion(record)
    if deleted:
        target = f"{record.revision}@{original}".encode()
        event = _emitted(LINK_EVENT_TYPE, target, _link_metadata(version, record, _DELETED_EXTRA))
        return [(EVENT_TYPE_STREAM_PREFIX + DELETED_EVENT_TYPE, event)]
    target = f"{record.revision}@{record.stream_name}".encode()
    event = _emitted(LINK_EVENT_TYPE, target, _link_metadata(version, record))
    return [(EVENT_TYPE_STREAM_PREFIX + record.event_type, event)]


def by_correlation_id(record: Record, version: str, prop: str = "$correlationId") -> list[Emitted]:
    """``$by_correlation_id``: links by the correlation id in the event's metadata."""
    if record.event_type == LINK_EVENT_TYPE or not record.custom_metadata:
        return []
    try:
        metadata = json.loads(record.custom_metadata)
    except ValueError:
        return []
    value = metadata.get(prop) if isinstance(metadata, dict) else None
    if not isinstance(value, str):
        return []
    created = _EPOCH + datetime.timedelta(
        microseconds=record.created // (TICKS_PER_SECOND // 10**6)
    )
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    target = f"{record.revision}@{record.stream_name}".encode()
    extra = f',"$eventTimestamp":"{stamp}"'
    event = _emitted(LINK_EVENT_TYPE, target, _link_metadata(version, record, extra))
    return [(CORRELATION_STREAM_PREFIX + value, event)]


HANDLERS: Final[dict[str, Handler]] = {
    "$streams": index_streams,
    "$stream_by_category": categorize_stream_by_path,
    "$by_category": categorize_events_by_stream_path,
    "$by_event_type": index_events_by_event_type,
    "$by_correlation_id": by_correlation_id,
}


def native_source(record: Record, name: str) -> bool:
    """Whether the standard projection ``name`` reads ``record``."""
    if not is_projected_stream(record.stream_name):
        return False
    return name != "$by_correlation_id" or record.event_type != LINK_EVENT_TYPE


def append_emitted(
    store: EventStore, pending: dict[str, list[ProposedEvent]], known: set[str]
) -> list[str]:
    """Append emitted events by stream, after the metadata of a stream new to ``known``
    (``EmittedStream.SubmitWriteMetadata``). Returns the streams that are tombstoned
    (their events are dropped; a real projection would fault)."""
    refused = []
    for stream_name, events in pending.items():
        try:
            if stream_name not in known:
                known.add(stream_name)
                if store.last_revision(stream_name) < 0:
                    metadata = ProposedEvent(
                        uuid.uuid4(), METADATA_EVENT_TYPE, True, EMITTED_STREAM_METADATA, b""
                    )
                    store.append(metastream_of(stream_name), ANY, [metadata])
            store.append(stream_name, ANY, events)
        except StreamDeletedError:
            refused.append(stream_name)
    return refused


class StandardProjections:
    """The first four standard projections as a synchronous store observer: their links
    are written before the write returns (ids 1-4, as a node that started them)."""

    _ORDER = ("$streams", "$stream_by_category", "$by_category", "$by_event_type")

    def __init__(self) -> None:
        self._emitted_streams: set[str] = set()
        self._versions = {name: f"{index}:-1:1:4" for index, name in enumerate(self._ORDER, 1)}

    def records_written(self, store: EventStore, records: Sequence[Record]) -> None:
        """Emit the links for ``records``."""
        pending: dict[str, list[ProposedEvent]] = {}
        for record in records:
            if not is_projected_stream(record.stream_name):
                continue
            for name in self._ORDER:
                for stream, event in HANDLERS[name](record, self._versions[name]):
                    pending.setdefault(stream, []).append(event)
        append_emitted(store, pending, self._emitted_streams)
