"""What a projection reads: its source definition, the events it gets, and their
checkpoint tags.

:class:`SourceDefinition` is what the query declared (``fromAll``, ``fromCategory``,
``fromStream(s)``, the handled event types, options); :meth:`SourceDefinition.problem`
rejects the combinations the server's ``ReaderStrategy`` rejects, with its texts.

:class:`SourceReader` follows the log from a position and yields the events that pass
the source, as the server's readers do: ``fromAll`` reads ``$all`` minus system streams
(metastreams of user streams included) and minus ``$>`` links unless ``$includeLinks``;
stream sources read their streams with links resolved (``fromCategory('c')`` reads
``$ce-c``, so it needs the ``$by_category`` projection). A tombstone or a soft delete of
a stream is a deleted-stream notification for ``foreachStream`` queries with a
``$deleted`` handler, and skipped otherwise.

Tags (``CheckpointTag``): ``fromAll`` positions ``{"$c":P,"$p":P}``, shown ``C:P/P:P``;
stream sources ``{"$s":{"stream":revision}}``, shown ``stream: N`` (several:
``a: 1; b: 2; ``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from esdb_wire.server.records import (
    DELETED_STREAM,
    LINK_EVENT_TYPE,
    METADATA_EVENT_TYPE,
    METASTREAM_PREFIX,
    STREAM_DELETED_EVENT_TYPE,
    Record,
)
from esdb_wire.server.store import EventStore
from esdb_wire.server.stream_metadata import parse_metadata


@dataclass
class SourceDefinition:
    """The query's ``ProjectionSourceDefinition``."""

    all_streams: bool = False
    categories: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    all_events: bool = True
    events: list[str] = field(default_factory=list)
    by_streams: bool = False
    by_custom_partitions: bool = False
    defines_fold: bool = False
    defines_state_transform: bool = False
    output_state: bool = False
    handles_deleted: bool = False
    include_links: bool = False
    reorder_events: bool = False
    processing_lag: int | None = None
    bi_state: bool = False
    result_stream_name: str | None = None
    partition_result_pattern: str | None = None

    @classmethod
    def from_js(cls, raw: dict[str, Any]) -> SourceDefinition:
        """From the prelude's ``definition()``."""
        return cls(
            all_streams=bool(raw["allStreams"]),
            categories=list(raw["categories"]),
            streams=list(raw["streams"]),
            all_events=bool(raw["allEvents"]),
            events=list(raw["events"]),
            by_streams=bool(raw["byStreams"]),
            by_custom_partitions=bool(raw["byCustomPartitions"]),
            defines_fold=bool(raw["definesFold"]),
            defines_state_transform=bool(raw["definesStateTransform"]),
            output_state=bool(raw["outputState"]),
            handles_deleted=bool(raw["handlesDeletedNotifications"]),
            include_links=bool(raw["includeLinks"]),
            reorder_events=bool(raw["reorderEvents"]),
            processing_lag=raw["processingLag"],
            bi_state=bool(raw["biState"]),
            result_stream_name=raw["resultStreamName"],
            partition_result_pattern=raw["partitionResultStreamNamePattern"],
        )

    @classmethod
    def native(cls) -> SourceDefinition:
        """The standard projections: ``fromAll`` with every event and link."""
        return cls(all_streams=True, include_links=True)

    @property
    def produces_results(self) -> bool:
        return self.output_state or self.defines_state_transform

    @property
    def partitioned(self) -> bool:
        return self.by_streams or self.by_custom_partitions

    def problem(self) -> str | None:
        """Why the server would refuse this source (``ReaderStrategy.Create``), or None."""
        has_streams, has_categories = bool(self.streams), bool(self.categories)
        if not self.all_streams and not has_categories and not has_streams:
            return "None of streams and categories are included"
        if not self.all_events and not self.events:
            return "None of events are included"
        if has_streams and has_categories:
            return "Streams and categories cannot be included in a filter at the same time"
        if self.all_streams and (has_categories or has_streams):
            return "Both FromAll and specific categories/streams cannot be set"
        if self.all_events and self.events:
            return "Both AllEvents and specific event filters cannot be set"
        if self.by_streams and has_streams:
            return "foreachStream projections are not supported on stream based sources"
        if self.reorder_events:
            if self.all_streams:
                return "Event reordering cannot be used with fromAll()"
            if len(self.streams) <= 1:
                return "Event reordering is only available in fromStreams([]) projections"
            if (self.processing_lag or 0) < 50:
                return "Event reordering requires processing lag at least of 50ms"
        if self.handles_deleted and not self.by_streams:
            return "Deleted stream notifications are only supported with foreachStream()"
        return None

    def to_json(self) -> dict[str, Any]:
        """The ``sourceDefinition`` of the persisted state (``QuerySourcesDefinition``)."""
        return {
            "allEvents": self.all_events,
            "allStreams": self.all_streams,
            "byStream": self.by_streams,
            "byCustomPartitions": self.by_custom_partitions,
            "categories": self.categories or None,
            "events": self.events or None,
            "streams": self.streams or None,
            "catalogStream": None,
            "limitingCommitPosition": None,
            "options": {
                "resultStreamName": self.result_stream_name,
                "partitionResultStreamNamePattern": self.partition_result_pattern,
                "reorderEvents": self.reorder_events,
                "processingLag": self.processing_lag or 0,
                "isBiState": self.bi_state,
                "definesStateTransform": self.defines_state_transform,
                "definesCatalogTransform": False,
                "producesResults": self.produces_results,
                "definesFold": self.defines_fold,
                "handlesDeletedNotifications": self.handles_deleted,
                "includeLinks": self.include_links,
                "disableParallelism": False,
            },
        }


@dataclass
class SourceEvent:
    """An event (or deleted-stream notification) for the handlers, with its tag."""

    record: Record  # the event (a link's target when resolved)
    link: Record | None
    tag: dict[str, Any]
    item: dict[str, Any]

    @property
    def correlation_id(self) -> str | None:
        """``$correlationId`` of the event's JSON metadata."""
        raw = self.record.custom_metadata
        if not raw or b"$correlationId" not in raw:
            return None
        try:
            value = json.loads(raw).get("$correlationId")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


def _deletion_of(record: Record) -> str | None:
    """The stream a record deletes (a tombstone, or a soft delete in ``$$X``), if any."""
    if record.event_type == STREAM_DELETED_EVENT_TYPE:
        return record.stream_name
    if (
        record.event_type == METADATA_EVENT_TYPE
        and record.stream_name.startswith(METASTREAM_PREFIX)
        and parse_metadata(record).truncate_before == DELETED_STREAM
    ):
        return record.stream_name[len(METASTREAM_PREFIX) :]
    return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def zero_tag(definition: SourceDefinition) -> dict[str, Any]:
    if definition.all_streams:
        return {"$c": 0, "$p": -1}
    streams = _source_streams(definition)
    return {"$s": dict.fromkeys(streams, -1)}


def tag_text(tag: dict[str, Any]) -> str:
    """How the statistics show a tag (``CheckpointTag.ToString``)."""
    if "$c" in tag:
        return f"C:{tag['$c']}/P:{tag['$p']}"
    streams = tag.get("$s", {})
    if len(streams) == 1:
        ((name, revision),) = streams.items()
        return f"{name}: {revision}"
    return "".join(f"{name}: {revision}; " for name, revision in streams.items())


def _source_streams(definition: SourceDefinition) -> list[str]:
    return definition.streams or [f"$ce-{category}" for category in definition.categories]


class SourceReader:
    """Follows the log for one projection from a checkpoint tag."""

    def __init__(self, store: EventStore, definition: SourceDefinition) -> None:
        self.store = store
        self.definition = definition
        self.tag = zero_tag(definition)
        self.after = -1  # last log position looked at
        self._streams = set(_source_streams(definition))
        self._events = None if definition.all_events else set(definition.events)
        self._category = definition.categories[0] if definition.categories else None

    def start_at(self, tag: dict[str, Any]) -> None:
        """Continue after ``tag`` (a tag read from a checkpoint)."""
        self.tag = tag
        if "$c" in tag:
            self.after = int(tag["$c"])
            return
        after = -1
        for stream, revision in tag.get("$s", {}).items():
            if revision >= 0:
                found = self.store.read_stream(stream, revision, 1, include_tombstoned=True)
                if found is not None and found.records:
                    after = max(after, found.records[0].position)
        self.after = after

    @property
    def caught_up(self) -> bool:
        return self.after >= self.store.last_position

    def progress(self) -> float:
        last = self.store.last_position
        return 100.0 if self.after >= last or last <= 0 else round(100.0 * self.after / last, 1)

    def read(self, limit: int, scan: int = 4096) -> list[SourceEvent]:
        """Up to ``limit`` source events after the current position (looking at up to
        ``scan`` log records)."""
        found: list[SourceEvent] = []
        for record in self.store.records_after(self.after, scan):
            self.after = record.position
            event = self._accept(record)
            if event is not None:
                found.append(event)
                if len(found) >= limit:
                    break
        return found

    def _accept(self, record: Record) -> SourceEvent | None:
        definition = self.definition
        if definition.all_streams:
            name = record.stream_name
            if name.startswith("$") and not (
                name.startswith(METASTREAM_PREFIX) and not name.startswith("$", 2)
            ):
                return None
            if record.event_type == LINK_EVENT_TYPE and not definition.include_links:
                return None
            position = record.position
            tag: dict[str, Any] = {"$c": position, "$p": position}
            return self._event(record, None, tag, None)
        if record.stream_name not in self._streams:
            return None
        link = None
        target = record
        if record.event_type == LINK_EVENT_TYPE:
            resolved = self.store.resolve_link(record, may_read=None)
            if resolved is None:
                return None
            link, target = record, resolved
        streams = dict(self.tag["$s"])
        streams[record.stream_name] = record.revision
        return self._event(target, link, {"$s": streams}, self._category)

    def _event(
        self, record: Record, link: Record | None, tag: dict[str, Any], category: str | None
    ) -> SourceEvent | None:
        deleted = _deletion_of(record)
        if deleted is not None:
            self.tag = tag
            if not (self.definition.handles_deleted and self.definition.by_streams):
                return None
            item = {"deleted": True, "streamId": deleted}
            return SourceEvent(record, link, tag, item)
        if self._events is not None and record.event_type not in self._events:
            self.tag = tag
            return None
        self.tag = tag
        item = {
            "streamId": record.stream_name,
            "sequenceNumber": record.revision,
            "eventType": record.event_type,
            "bodyRaw": _text(record.data),
            "metadataRaw": _text(record.custom_metadata),
            "linkMetadataRaw": None if link is None else _text(link.custom_metadata),
            "isJson": record.is_json,
            "eventId": str(record.event_id),
            "category": category,
        }
        return SourceEvent(record, link, tag, item)
