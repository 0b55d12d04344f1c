"""Where an event becomes a Python object: ``RecordedEvent`` from read responses, and
``NewEvent`` into ``ProposedMessage``."""

from __future__ import annotations

from typing import Any, TypeVar, Union

from esdb_wire.events import NewEvent, RecordedEvent
from esdb_wire.protos import streams_pb2
from esdb_wire.protos.uuids import write_uuid

ProposedMessage = streams_pb2.AppendReq.ProposedMessage
_Proposed = TypeVar(
    "_Proposed",
    bound=Union[streams_pb2.AppendReq.ProposedMessage, streams_pb2.BatchAppendReq.ProposedMessage],
)


def proposed_message(event: NewEvent) -> streams_pb2.AppendReq.ProposedMessage:
    """The append payload of one new event."""
    return fill_proposed_message(ProposedMessage(), event)


def fill_proposed_message(message: _Proposed, event: NewEvent) -> _Proposed:
    """``message`` (an ``Append`` or ``BatchAppend`` ``ProposedMessage``) carrying
    ``event``: its data, metadata, type, content type and id."""
    message.custom_metadata = event.metadata
    message.data = event.data
    metadata = message.metadata
    metadata["type"] = event.type
    metadata["content-type"] = event.content_type
    write_uuid(message.id, event.id)
    return message


def recorded_event(
    proto: Any,
    *,
    link: RecordedEvent | None = None,
    retry_count: int | None = None,
) -> RecordedEvent:
    """Decode one ``RecordedEvent`` message (the event or the link of a ``ReadEvent``, of
    the Streams or the PersistentSubscriptions API: both have the same fields)."""
    metadata = proto.metadata
    ident = proto.id
    if ident.HasField("structured"):
        halves = ident.structured
        wire_id: tuple[int, int] | str = (
            halves.most_significant_bits,
            halves.least_significant_bits,
        )
    else:
        wire_id = ident.string
    return RecordedEvent._from_wire(
        metadata.get("type", ""),
        proto.data,
        proto.custom_metadata,
        proto.stream_identifier.stream_name.decode("utf-8", "replace"),
        proto.stream_revision,
        proto.commit_position,
        proto.prepare_position,
        metadata.get("content-type", ""),
        wire_id,
        metadata.get("created"),
        link,
        retry_count,
    )


def read_event(event: Any, *, retry_count: int | None = None) -> RecordedEvent | None:
    """The event a ``ReadEvent`` (of the Streams or the PersistentSubscriptions API)
    delivers: the resolved target with its link, or the record itself; None for a link
    whose target is gone."""
    link = recorded_event(event.link) if event.HasField("link") else None
    if not event.HasField("event"):
        return None
    return recorded_event(event.event, link=link, retry_count=retry_count)
