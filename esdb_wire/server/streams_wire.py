"""Conversions the Streams service's handlers share (and persistent subscriptions reuse):
stream names, revisions and expected revisions from requests, and a record's wire form.
"""

from __future__ import annotations

from google.protobuf.message import Message

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.uuids import write_uuid
from esdb_wire.server import errors
from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS, Record

RecordedEvent = streams_pb2.ReadResp.ReadEvent.RecordedEvent

APPLICATION_JSON = "application/json"
APPLICATION_OCTET_STREAM = "application/octet-stream"
MAX_LONG = 2**63 - 1
END_REVISION = 2**64 - 1  # StreamRevision.End, i.e. -1 as a long


def stream_name_of(identifier: shared_pb2.StreamIdentifier) -> str:
    """The stream name of a request's identifier (invalid UTF-8 replaced)."""
    return identifier.stream_name.decode("utf-8", errors="replace")


def valid_stream_name(identifier: shared_pb2.StreamIdentifier) -> str:
    """The stream name; "" and "$$" make the server's handler throw."""
    name = stream_name_of(identifier)
    if name in ("", "$$"):
        raise errors.unhandled()
    return name


def revision_of(value: int) -> int:
    """A uint64 revision as the server's long (``StreamRevision``)."""
    if value == END_REVISION:
        return -1
    if value > MAX_LONG:
        raise errors.unhandled()
    return value


def expected_revision(options: Message, oneof: str, type_name: str) -> int:
    """The expected revision of Append/Delete/Tombstone/BatchAppend options."""
    case = options.WhichOneof(oneof)
    if case in ("revision", "stream_position"):
        return revision_of(getattr(options, case))
    expected = {"no_stream": NO_STREAM, "any": ANY, "stream_exists": STREAM_EXISTS}.get(case or "")
    if expected is None:
        raise errors.invalid_argument("None", type_name)
    return expected


def fill_recorded_event(target: RecordedEvent, record: Record, structured: bool) -> None:
    """Write one record's wire form (§3.8) into ``target``: exactly three metadata keys."""
    write_uuid(target.id, record.event_id, structured=structured)
    target.stream_identifier.stream_name = record.stream_name.encode()
    target.stream_revision = record.revision
    target.prepare_position = target.commit_position = record.position
    metadata = target.metadata
    metadata["type"] = record.event_type
    metadata["content-type"] = APPLICATION_JSON if record.is_json else APPLICATION_OCTET_STREAM
    metadata["created"] = str(record.created)
    target.custom_metadata = record.custom_metadata
    target.data = record.data


def recorded_event(record: Record, structured: bool) -> RecordedEvent:
    """The wire form of one record."""
    message = RecordedEvent()
    fill_recorded_event(message, record, structured)
    return message
