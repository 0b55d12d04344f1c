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


_new_event = object.__new__


def recorded_event(
    proto: Any,
    link: RecordedEvent | None = None,
    retry_count: int | None = None,
) -> RecordedEvent:
    """Decode one ``RecordedEvent`` message (the event or the link of a ``ReadEvent``, of
    the Streams or the PersistentSubscriptions API: both have the same fields).

    The hot path of reads and subscriptions: the object's slots are filled directly, each
    field read once (every read of a protobuf field from Python costs about as much as
    a dozen bytecodes). The id is kept in its wire form (the UUID's signed int64 halves,
    or its string form) and the time as the server's text until they are asked for.
    ``proto`` is a decoded message the caller throws away: a metadata key it lacks is
    added to it (a map lookup that gives "" is cheaper than ``get``).
    """
    event: RecordedEvent = _new_event(RecordedEvent)
    # Scalar map lookups give "" for a missing key (and add it to this throwaway message).
    metadata = proto.metadata
    event.type = metadata["type"]
    event.content_type = metadata["content-type"]
    event._created = metadata["created"]
    ident = proto.id
    halves = ident.structured
    high = halves.most_significant_bits
    low = halves.least_significant_bits
    # Both halves 0: the string form, or the nil UUID in either form ("" decodes to it).
    event._id = (high, low) if high or low else ident.string
    event.data = proto.data
    event.metadata = proto.custom_metadata
    event.stream_name = proto.stream_identifier.stream_name.decode("utf-8", "replace")
    event.stream_position = proto.stream_revision
    event.commit_position = proto.commit_position
    event.prepare_position = proto.prepare_position
    event.link = link
    event.retry_count = retry_count
    return event


def read_event(event: Any, retry_count: int | None = None) -> RecordedEvent | None:
    """The event a ``ReadEvent`` (of the Streams or the PersistentSubscriptions API)
    delivers: the resolved target with its link, or the record itself; None for a link
    whose target is gone."""
    if event.HasField("link"):
        if not event.HasField("event"):
            return None
        return recorded_event(event.event, recorded_event(event.link), retry_count)
    if not event.HasField("event"):
        return None
    return recorded_event(event.event, None, retry_count)
