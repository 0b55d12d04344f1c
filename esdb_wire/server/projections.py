"""The standard system projections, as a node runs them with ``--run-projections=All`` and
``--start-standard-projections=true``: ``$streams``, ``$stream_by_category``,
``$by_category`` and ``$by_event_type`` (spec §3.10).

:class:`StandardProjections` is a :class:`~esdb_wire.server.store.WriteObserver`: the
store tells it about every record it writes and it appends the link events right away,
before the write returns. A real node runs projections asynchronously (eventually
consistent); doing it synchronously is this server's simplification. The position an
append reports is still that of the caller's last event: the links come after it in
``$all``.

What each projection does, after the upstream handlers (``EventStore.Projections.Core/
Standard/*.cs``):

* Source: every record in ``$all`` whose stream is not a system stream, plus records of
  the metastream ``$$X`` of a non-system stream ``X`` (``TransactionFileEventFilter``).
  So ``$metadata`` events of user streams are projected; ``$``-streams (including the
  links written here) never are.
* ``$streams`` (``IndexStreams``): for a record with revision 0, a ``$>`` link
  ``"0@<stream>"`` in ``$streams`` (``$$X`` streams included).
* ``$stream_by_category`` (``CategorizeStreamByPath``): for a record with revision 0 of a
  stream with a category, a ``$@`` ("stream reference") event in ``$category-<category>``
  whose data is the stream name. Not a ``$>`` link: reads never resolve it.
* ``$by_category`` (``CategorizeEventsByStreamPath``): for every record of a stream with a
  category, a ``$>`` link in ``$ce-<category>`` to ``"<revision>@<stream>"``; for a
  ``$>`` record, to the record's own target (links are not chained). A tombstone
  (``$streamDeleted``) is linked too, and so is a soft delete (the ``$metadata`` event
  with ``$tb`` = 2^63-1 in ``$$X`` counts for ``X``'s category), with ``"$deleted":-1``
  in the link metadata.
* ``$by_event_type`` (``IndexEventsByEventType``): for every record but ``$>`` links, a
  ``$>`` link in ``$et-<type>``; ``$metadata`` events of user streams go to
  ``$et-$metadata``. Tombstones and soft deletes go to ``$et-$deleted`` with
  ``"$deleted":-1``, linking ``"<revision>@X"`` (for a soft delete: the revision of the
  metadata event with the name of the deleted stream, as upstream does).

The category (``StreamCategoryExtractorByFirstSeparator``, source ``"first\\r\\n-"``) is
the text before the first ``-`` of a non-``$`` stream name, if that ``-`` is not the first
character; a name without one (``"orders"``, ``"-x"``) has no category, so no ``$ce-``
or ``$category-`` entry.

Emitted events (``EmittedStream``): data as above, not JSON (content type
``application/octet-stream``); metadata is JSON, the projection's checkpoint tag of the
source record, then the handler's extra keys, then ``$causedBy`` (the source event id)::

    {"$v":"3:-1:1:4","$c":1234,"$p":1234,"$o":"order-1","$causedBy":"<uuid>"}

``$v`` is ``<projectionId>:<epoch>:<version>:<system version 4>``; the ids 1-4 follow the
order the node creates the projections in and epoch -1 / version 1 are those of a freshly
created and enabled projection (assumed, not observed on a live node). Before the first
link of a new stream the projection writes that stream's metadata, ``$$<stream>``
``{"$acl":{"$r":"$all","$mr":"$all"}}``, as ``EmittedStream.SubmitWriteMetadata`` does.

Not emulated: the projections' own bookkeeping streams (``$projections-*``, checkpoints,
``$et``'s ``$ProjectionCheckpoint`` events), ``$by_correlation_id``, ``$correlationId``
in link metadata, and a projection faulting: a link whose stream was tombstoned is dropped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Final

from esdb_wire.server.store import (
    ANY,
    DELETED_STREAM,
    LINK_EVENT_TYPE,
    METADATA_EVENT_TYPE,
    METASTREAM_PREFIX,
    STREAM_DELETED_EVENT_TYPE,
    EventStore,
    ProposedEvent,
    Record,
    StreamDeletedError,
    metastream_of,
    parse_metadata,
)

STREAM_REFERENCE_EVENT_TYPE: Final = "$@"
STREAMS_STREAM: Final = "$streams"
CATEGORY_STREAM_PREFIX: Final = "$ce-"
EVENT_TYPE_STREAM_PREFIX: Final = "$et-"
STREAM_CATEGORY_STREAM_PREFIX: Final = "$category-"
DELETED_EVENT_TYPE: Final = "$deleted"
CATEGORY_SEPARATOR: Final = "-"

# "<projectionId>:<epoch>:<version>:<ProjectionsSubsystem.VERSION>", in creation order.
_SYSTEM_VERSION = 4
_STREAMS_VERSION = f"1:-1:1:{_SYSTEM_VERSION}"
_STREAM_BY_CATEGORY_VERSION = f"2:-1:1:{_SYSTEM_VERSION}"
_BY_CATEGORY_VERSION = f"3:-1:1:{_SYSTEM_VERSION}"
_BY_EVENT_TYPE_VERSION = f"4:-1:1:{_SYSTEM_VERSION}"
_EMITTED_STREAM_METADATA = b'{"$acl":{"$r":"$all","$mr":"$all"}}'
_DELETED_EXTRA = ',"$deleted":-1'


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


class StandardProjections:
    """Writes the links of the four standard projections for every record the store writes.

    Pass it to :class:`~esdb_wire.server.store.EventStore` as its ``observer``.
    """

    def __init__(self) -> None:
        # Streams this instance has written to (and so has written the metadata of).
        self._emitted_streams: set[str] = set()

    def records_written(self, store: EventStore, records: Sequence[Record]) -> None:
        """Emit the links for ``records`` (all of one stream, in revision order)."""
        if not records:
            return
        name = records[0].stream_name
        if not is_projected_stream(name):
            return
        pending: dict[str, list[ProposedEvent]] = {}
        is_meta = name.startswith(METASTREAM_PREFIX)
        original = name[len(METASTREAM_PREFIX) :] if is_meta else name
        category = category_of(name)
        original_json = json.dumps(name, ensure_ascii=False)
        for record in records:
            self._project(record, name, category, original, original_json, is_meta, pending)
        for stream_name, events in pending.items():
            self._append(store, stream_name, events)

    def _project(
        self,
        record: Record,
        name: str,
        category: str | None,
        original: str,
        original_json: str,
        is_meta: bool,
        pending: dict[str, list[ProposedEvent]],
    ) -> None:
        event_type = record.event_type
        revision = record.revision
        if is_meta:
            deleted = (
                event_type == METADATA_EVENT_TYPE
                and parse_metadata(record).truncate_before == DELETED_STREAM
            )
        else:
            deleted = event_type == STREAM_DELETED_EVENT_TYPE
        target = f"{revision}@{name}".encode()
        if revision == 0:
            metadata = _link_metadata(_STREAMS_VERSION, record)
            pending.setdefault(STREAMS_STREAM, []).append(
                _emitted(LINK_EVENT_TYPE, target, metadata)
            )
            if category is not None:
                metadata = _link_metadata(_STREAM_BY_CATEGORY_VERSION, record)
                pending.setdefault(STREAM_CATEGORY_STREAM_PREFIX + category, []).append(
                    _emitted(STREAM_REFERENCE_EVENT_TYPE, name.encode(), metadata)
                )
        # $by_category: a deleted stream's events count for the deleted stream's category.
        ce_category = category_of(original) if deleted else category
        if ce_category is not None:
            link_target = record.data if event_type == LINK_EVENT_TYPE else target
            if deleted:
                extra = f',"$o":{json.dumps(original, ensure_ascii=False)}{_DELETED_EXTRA}'
            else:
                extra = f',"$o":{original_json}'
            metadata = _link_metadata(_BY_CATEGORY_VERSION, record, extra)
            pending.setdefault(CATEGORY_STREAM_PREFIX + ce_category, []).append(
                _emitted(LINK_EVENT_TYPE, link_target, metadata)
            )
        if event_type == LINK_EVENT_TYPE:
            return
        if deleted:
            link_target = f"{revision}@{original}".encode()
            metadata = _link_metadata(_BY_EVENT_TYPE_VERSION, record, _DELETED_EXTRA)
            indexed_type = DELETED_EVENT_TYPE
        else:
            link_target = target
            metadata = _link_metadata(_BY_EVENT_TYPE_VERSION, record)
            indexed_type = event_type
        pending.setdefault(EVENT_TYPE_STREAM_PREFIX + indexed_type, []).append(
            _emitted(LINK_EVENT_TYPE, link_target, metadata)
        )

    def _append(self, store: EventStore, stream_name: str, events: list[ProposedEvent]) -> None:
        """Append emitted events, after the stream's metadata if the stream is new."""
        try:
            if stream_name not in self._emitted_streams:
                self._emitted_streams.add(stream_name)
                if store.last_revision(stream_name) < 0:
                    metadata = ProposedEvent(
                        uuid.uuid4(), METADATA_EVENT_TYPE, True, _EMITTED_STREAM_METADATA, b""
                    )
                    store.append(metastream_of(stream_name), ANY, [metadata])
            store.append(stream_name, ANY, events)
        except StreamDeletedError:
            pass  # a real projection faults here; this one drops the links
