"""KurrentDB's v2 Streams API (``kurrentdb.protocol.v2.streams.StreamsService``, 25.1+).

``AppendSession`` (client streaming: one ``AppendRequest`` per stream) and
``AppendRecords`` (unary: records for any streams plus consistency checks) append to many
streams atomically: every stream's expectation is checked first and then all records are
written in one :meth:`~esdb_wire.server.store.EventStore.write_transaction`, or nothing is.

Records become events that v1 readers see with the record's schema name as event type,
``application/json`` content for the JSON format (octet-stream otherwise), and as
metadata the record's properties as JSON plus ``$schema.name``, ``$schema.format`` and
``$schema.id`` (:func:`~esdb_wire.codec.v2.record_metadata`), as on a 25.1+ node. A record
without an id gets one. Failures are rich errors (:mod:`.streams_v2_errors`).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from google.protobuf import struct_pb2

from esdb_wire.codec.v2 import FORMAT_NAMES, SCHEMA_FORMAT_KEY, SCHEMA_ID_KEY, record_metadata
from esdb_wire.protos import v2_shared_pb2, v2_streams_pb2
from esdb_wire.server import streams_v2_errors as errors
from esdb_wire.server.auth import READ, WRITE, StreamAccess, User, user_of
from esdb_wire.server.commit_check import AlreadyCommitted
from esdb_wire.server.records import ProposedEvent, StreamDeletedError, WrongExpectedVersion
from esdb_wire.server.rpc import CallContext
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_v2_errors import ANY, DELETED, EXISTS, NO_STREAM, TOMBSTONED

AppendRecord = v2_streams_pb2.AppendRecord
AppendRequest = v2_streams_pb2.AppendRequest

DEFAULT_MAX_RECORD_SIZE: Final = 16 * 1024 * 1024  # TFConsts.MaxLogRecordSize
_VALID_EXPECTED_REVISIONS = (ANY, NO_STREAM, EXISTS)
_VALID_EXPECTED_STATES = (NO_STREAM, EXISTS, DELETED, TOMBSTONED)
_SCHEMA_NAME_PUNCTUATION = frozenset("_.$:-")


@dataclass
class _Transaction:
    """What one request will write: events in log order, per-stream expectations."""

    max_record_size: int
    max_append_size: int
    streams: list[str] = field(default_factory=list)
    expected: list[int] = field(default_factory=list)
    events: list[tuple[int, ProposedEvent]] = field(default_factory=list)
    size: int = 0

    def add_records(self, stream_index: int, records: Sequence[AppendRecord]) -> None:
        """Validate, size and convert ``records`` for the stream at ``stream_index``."""
        for record in records:
            event, size = _prepare(record)
            if size > self.max_record_size:
                stream = record.stream or self.streams[stream_index]
                raise errors.record_too_large(
                    stream, str(event.event_id), size, self.max_record_size
                )
            self.size += size
            if self.size > self.max_append_size:
                raise errors.transaction_too_large(
                    len(self.events) + 1, self.size, self.max_append_size
                )
            self.events.append((stream_index, event))


class StreamsV2Service:
    """``kurrentdb.protocol.v2.streams.StreamsService`` over an :class:`EventStore`.

    ``max_record_size`` is the node's MaxAppendEventSize (16 MiB by default) and
    ``max_append_size`` its MaxAppendSize (the store's, by default). With ``access``
    (secure mode) writes need the streams' ``$w`` and checked streams their ``$r``.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        access: StreamAccess | None = None,
        max_record_size: int | None = None,
        max_append_size: int | None = None,
    ) -> None:
        self._store = store
        self._access = access
        self._max_record_size = max_record_size or DEFAULT_MAX_RECORD_SIZE
        self._max_append_size = max_append_size

    def _transaction(self) -> _Transaction:
        max_append = self._max_append_size or self._store.max_append_size
        return _Transaction(self._max_record_size, max_append)

    def _authorize(self, user: User | None, operation: str, stream: str) -> None:
        access = self._access
        if access is not None and not access.allowed(user, operation, stream):
            action = "write" if operation == WRITE else "read"
            username = None if user is None else user.name
            raise errors.access_denied(f"streams:{action}:{stream}".lower(), username)

    # ---- AppendSession ----

    async def AppendSession(
        self, requests: AsyncIterator[AppendRequest], context: CallContext
    ) -> v2_streams_pb2.AppendSessionResponse:
        """One request per stream; committed when the client half-closes."""
        user = user_of(context) if self._access is not None else None
        transaction = self._transaction()
        seen: set[str] = set()
        async for request in requests:
            _validate_append_request(request)
            self._authorize(user, WRITE, request.stream)
            key = request.stream.casefold()
            if key in seen:
                raise errors.already_in_session(request.stream)
            seen.add(key)
            transaction.streams.append(request.stream)
            transaction.expected.append(
                request.expected_revision if request.HasField("expected_revision") else ANY
            )
            transaction.add_records(len(transaction.streams) - 1, request.records)
        if not transaction.streams:
            raise errors.no_requests()
        revisions, position = self._commit_session(transaction)
        response = v2_streams_pb2.AppendSessionResponse(position=position)
        for stream, revision in zip(transaction.streams, revisions):
            response.output.add(stream=stream, stream_revision=revision)
        return response

    def _commit_session(self, transaction: _Transaction) -> tuple[list[int], int]:
        """Check each stream as a v1 append would (idempotent re-sends included), then
        write everything; the first failing stream is the error."""
        store = self._store
        streams = transaction.streams
        skip: set[int] = set()
        revisions: list[int] = []
        position = -1
        for index, (stream, expected) in enumerate(zip(streams, transaction.expected)):
            ids = [event.event_id for at, event in transaction.events if at == index]
            try:
                decision = store.check_commit(stream, expected, ids)
            except StreamDeletedError:
                # As the node: also for a soft-deleted stream expected to exist.
                raise errors.stream_tombstoned(stream) from None
            if isinstance(decision, WrongExpectedVersion):
                raise errors.revision_conflict(stream, expected, decision.current)
            last = store.last_revision(stream)
            if isinstance(decision, AlreadyCommitted):  # a re-sent request: already written
                skip.add(index)
                last = decision.last_revision
                position = max(position, _position_of(store, stream, last))
            revisions.append(last)
        written = store.write_transaction(
            [(streams[at], event) for at, event in transaction.events if at not in skip]
        )
        index_of = {stream: index for index, stream in enumerate(streams)}
        for record in written:
            revisions[index_of[record.stream_name]] = record.revision
        if written:
            position = written[-1].position
        return revisions, max(position, 0)

    # ---- AppendRecords ----

    async def AppendRecords(
        self, request: v2_streams_pb2.AppendRecordsRequest, context: CallContext
    ) -> v2_streams_pb2.AppendRecordsResponse:
        """Records in request order, after every check (and every written stream's
        writability) holds; each failing check is reported."""
        _validate_append_records(request)
        transaction = self._transaction()
        by_name: dict[str, int] = {}
        for check in request.checks:
            state = check.stream_state
            by_name.setdefault(state.stream.casefold(), len(transaction.streams))
            transaction.streams.append(state.stream)
            transaction.expected.append(state.expected_state)
        for record in request.records:
            key = record.stream.casefold()
            index = by_name.get(key)
            if index is None:
                index = by_name[key] = len(transaction.streams)
                transaction.streams.append(record.stream)
                transaction.expected.append(ANY)
            transaction.add_records(index, [record])
        written_indexes = list(dict.fromkeys(at for at, _ in transaction.events))
        if self._access is not None:
            user = user_of(context)
            for index in written_indexes:
                self._authorize(user, WRITE, transaction.streams[index])
            for index, stream in enumerate(transaction.streams):
                if index not in written_indexes:
                    self._authorize(user, READ, stream)
        violations = []
        for index, (stream, expected) in enumerate(zip(transaction.streams, transaction.expected)):
            actual = self._violation(stream, expected, write=index in written_indexes)
            if actual is not None:
                violations.append((index, stream, expected, actual))
        if violations:
            raise errors.consistency_violation(violations)
        written = self._store.write_transaction(
            [(transaction.streams[at], event) for at, event in transaction.events]
        )
        last = {written_record.stream_name: written_record.revision for written_record in written}
        response = v2_streams_pb2.AppendRecordsResponse(position=written[-1].position)
        for index in written_indexes:
            stream = transaction.streams[index]
            response.revisions.add(stream=stream, revision=last[stream])
        return response

    def _violation(self, stream: str, expected: int, *, write: bool) -> int | None:
        """The actual state that violates ``expected``, or None if it holds (the node's
        matrix: a soft-deleted stream counts as "no stream" for NO_STREAM and keeps its
        last revision for revision checks; a written stream must not be tombstoned)."""
        store = self._store
        last = store.last_revision(stream)
        if store.is_tombstoned(stream):
            return None if expected in (TOMBSTONED, NO_STREAM) and not write else TOMBSTONED
        if store.is_soft_deleted(stream):
            if expected in (DELETED, NO_STREAM, ANY) or expected == last:
                return None
            return DELETED if expected == EXISTS else last
        if last < 0:
            return None if expected in (NO_STREAM, ANY) else NO_STREAM
        if expected in (EXISTS, ANY) or expected == last:
            return None
        return last


def _position_of(store: EventStore, stream: str, revision: int) -> int:
    """The log position of a stream's event (-1 if it can no longer be read)."""
    found = store.read_stream(stream, revision, 1)
    return found.records[0].position if found is not None and found.records else -1


# ---- records -------------------------------------------------------------------------


def _prepare(record: AppendRecord) -> tuple[ProposedEvent, int]:
    """A record as the event it becomes (its id generated if absent) and its size: data,
    properties (with the ``$schema`` keys the node adds) and schema name, in bytes."""
    failures = _record_failures(record)
    if failures:
        raise errors.invalid_request("AppendRequest", failures)
    record_id = uuid.UUID(record.record_id) if record.HasField("record_id") else uuid.uuid4()
    schema = record.schema
    properties: dict[str, struct_pb2.Value] = dict(record.properties)
    format_value = schema.format
    if format_value != v2_shared_pb2.SCHEMA_FORMAT_JSON:
        properties[SCHEMA_FORMAT_KEY] = struct_pb2.Value(string_value=FORMAT_NAMES[format_value])
    schema_id = schema.id if schema.HasField("id") else None
    if schema_id is not None:
        properties[SCHEMA_ID_KEY] = struct_pb2.Value(string_value=schema_id)
    size = len(record.data) + struct_pb2.Struct(fields=properties).ByteSize()
    size += len(schema.name.encode("utf-8"))
    metadata = record_metadata(record.properties, schema.name, format_value, schema_id)
    is_json = format_value == v2_shared_pb2.SCHEMA_FORMAT_JSON
    return ProposedEvent(record_id, schema.name, is_json, record.data, metadata), size


def _record_failures(record: AppendRecord) -> list[tuple[str, str]]:
    """``AppendRecordValidator``: (property, message) of each failed rule."""
    failures = []
    if record.HasField("stream"):
        failures += _stream_failures(record.stream)
    if record.HasField("record_id") and not _is_uuid(record.record_id):
        failures.append(("RecordId", "Record ID must be a valid and non-empty UUID."))
    schema = record.schema
    if schema.format not in FORMAT_NAMES:
        failures.append(("Schema.Format", "Schema format must be one of Json, Protobuf or Bytes."))
    elif schema.format == v2_shared_pb2.SCHEMA_FORMAT_UNSPECIFIED:
        failures.append(("Schema.Format", "Schema format must not be Unspecified."))
    name = schema.name
    if not name:
        failures.append(("Schema.Name", "Schema name must not be empty"))
    elif not unicodedata.is_normalized("NFC", name):
        failures.append(
            ("Schema.Name", "Schema name must be in Unicode NFC (Normalization Form C)")
        )
    elif not all(char.isalnum() or char in _SCHEMA_NAME_PUNCTUATION for char in name):
        failures.append(
            (
                "Schema.Name",
                "Schema name can only contain unicode letters, digits, underscores, dashes, "
                f"periods, colons, and dollar signs. Attempted Value: {name}",
            )
        )
    if schema.HasField("id") and not _is_uuid(schema.id):
        failures.append(("Schema.Id", "Schema ID must be a valid and non-empty UUID"))
    for key, value in record.properties.items():
        if not key:
            failures.append(("Properties", "Property keys must not be empty."))
        if not _has_kind(value):
            failures.append(("Properties", "Property values must have a type set."))
    return failures


def _has_kind(value: struct_pb2.Value) -> bool:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return all(_has_kind(item) for item in value.struct_value.fields.values())
    if kind == "list_value":
        return all(_has_kind(item) for item in value.list_value.values)
    return kind is not None


def _is_uuid(text: str) -> bool:
    try:
        return uuid.UUID(text).int != 0
    except ValueError:
        return False


def _stream_failures(stream: str) -> list[tuple[str, str]]:
    if not stream:
        return [("Stream", "Stream must not be empty.")]
    if stream == "$$":
        return [("Stream", "Stream must not be '$$'.")]
    return []


def _validate_append_request(request: AppendRequest) -> None:
    """``AppendRequestValidator``."""
    failures = _stream_failures(request.stream)
    expected = request.expected_revision
    if expected < 0 and expected not in _VALID_EXPECTED_REVISIONS:
        failures.append(
            (
                "ExpectedRevision",
                "Expected revision must be positive or one of the allowed constants: "
                "NoStream (-1), Any (-2) or Exists (-4).",
            )
        )
    if not request.records:
        failures.append(("Records", "Stream append request must contain at least one record"))
    if failures:
        raise errors.invalid_request("AppendRequest", failures)


def _validate_append_records(request: v2_streams_pb2.AppendRecordsRequest) -> None:
    """``AppendRecordsRequestValidator`` (each record is checked as it is prepared)."""
    failures = []
    if not request.records:
        failures.append(("Records", "Append records request must contain at least one record."))
    seen: set[str] = set()
    duplicate = False
    for check in request.checks:
        if check.WhichOneof("type") != "stream_state":
            failures.append(("Checks", "Each consistency check must specify a type."))
            continue
        state = check.stream_state
        failures += _stream_failures(state.stream)
        expected = state.expected_state
        if expected < 0 and expected not in _VALID_EXPECTED_STATES:
            failures.append(
                (
                    "Checks",
                    "Expected state must be positive or one of the allowed constants: "
                    "NoStream (-1), Exists (-4), Deleted (-5), or Tombstoned (-6). "
                    "Any (-2) is not allowed.",
                )
            )
        key = state.stream.casefold()
        duplicate = duplicate or key in seen
        seen.add(key)
    if duplicate:
        failures.append(("Checks", "Each stream can only appear once in consistency checks."))
    for record in request.records:
        if not record.HasField("stream") or not record.stream:
            failures.append(("Stream", "Stream must not be empty."))
            break
    if failures:
        raise errors.invalid_request("AppendRecordsRequest", failures)
