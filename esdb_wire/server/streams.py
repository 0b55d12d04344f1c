"""The Streams service (Read, Append, Delete, Tombstone, BatchAppend) over :class:`EventStore`.

Translates ``streams.proto`` messages to store calls and back, reproducing the real
server's replies (spec §3.2-3.8, §3.11, §4). Methods follow :mod:`esdb_wire.server.rpc`.
"""

from __future__ import annotations

import operator
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Union

from google.protobuf import empty_pb2
from google.protobuf.message import Message

from esdb_wire.protos import shared_pb2, status_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid, write_uuid
from esdb_wire.protos.wire_names import pack_any
from esdb_wire.server import errors
from esdb_wire.server.auth import DELETE, READ, WRITE, StreamAccess, User, user_of
from esdb_wire.server.encoding import read_event_response, recorded_event_bytes
from esdb_wire.server.filters import compile_filter_regex
from esdb_wire.server.indexes import index_filter
from esdb_wire.server.records import (
    ANY,
    LINK_EVENT_TYPE,
    NO_STREAM,
    STREAM_EXISTS,
    ProposedEvent,
    ReadCheck,
    Record,
    StreamDeletedError,
    Success,
    WrongExpectedVersion,
    event_size,
    in_default_all_filter,
)
from esdb_wire.server.rpc import CallContext, RpcError
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode

ReadReq = streams_pb2.ReadReq
ReadResp = streams_pb2.ReadResp
RecordedEvent = ReadResp.ReadEvent.RecordedEvent
AppendReq = streams_pb2.AppendReq
AppendResp = streams_pb2.AppendResp
BatchAppendReq = streams_pb2.BatchAppendReq
BatchAppendResp = streams_pb2.BatchAppendResp

APPLICATION_JSON = "application/json"
APPLICATION_OCTET_STREAM = "application/octet-stream"
READ_BATCH_SIZE = 32  # the server's page size: also the default filter window
SUBSCRIPTION_PAGE = 512
_MAX_LONG = 2**63 - 1
_END_REVISION = 2**64 - 1  # StreamRevision.End, i.e. -1 as a long

_EMPTY = shared_pb2.Empty()
_G_EMPTY = empty_pb2.Empty()
_DIRECTIONS = {ReadReq.Options.Forwards: "Forwards", ReadReq.Options.Backwards: "Backwards"}
_CASE_NAMES = {
    None: "None",
    "stream": "Stream",
    "all": "All",
    "count": "Count",
    "subscription": "Subscription",
    "filter": "Filter",
    "no_filter": "NoFilter",
}

Predicate = Callable[[Record], bool]
# Read yields messages, or for events their bytes already encoded (see .encoding).
ReadItem = Union[ReadResp, bytes]


# ---- conversions -------------------------------------------------------------------


def stream_name_of(identifier: shared_pb2.StreamIdentifier) -> str:
    return identifier.stream_name.decode("utf-8", errors="replace")


def _valid_stream_name(identifier: shared_pb2.StreamIdentifier) -> str:
    """The stream name; "" and "$$" make the server's handler throw."""
    name = stream_name_of(identifier)
    if name in ("", "$$"):
        raise errors.unhandled()
    return name


def _revision(value: int) -> int:
    """A uint64 revision as the server's long (``StreamRevision``)."""
    if value == _END_REVISION:
        return -1
    if value > _MAX_LONG:
        raise errors.unhandled()
    return value


def _expected(options: Message, oneof: str, type_name: str) -> int:
    """The expected revision of Append/Delete/Tombstone/BatchAppend options."""
    case = options.WhichOneof(oneof)
    if case in ("revision", "stream_position"):
        return _revision(getattr(options, case))
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


class _Encoder:
    """Builds ``ReadResp.event`` messages for one read, resolving links if asked: only
    to events the reader may read (``may_read``, secure mode), else left unresolved.

    Each record is encoded once and its bytes reused by every later read.
    """

    __slots__ = ("may_read", "resolve", "store", "structured")

    def __init__(
        self, store: EventStore, options: ReadReq.Options, may_read: ReadCheck | None
    ) -> None:
        self.store = store
        self.structured = options.uuid_option.WhichOneof("content") != "string"
        self.resolve = options.resolve_links
        self.may_read = may_read

    def event(self, record: Record) -> bytes:
        """The encoded ``ReadResp`` of one record (see :mod:`.encoding`)."""
        structured = self.structured
        if self.resolve and record.event_type == LINK_EVENT_TYPE:
            target = self.store.resolve_link(record, may_read=self.may_read)
            event = (
                None
                if target is None
                else recorded_event_bytes(target, structured, fill_recorded_event)
            )
            link = recorded_event_bytes(record, structured, fill_recorded_event)
            return read_event_response(event, link, record.position)
        event = recorded_event_bytes(record, structured, fill_recorded_event)
        return read_event_response(event, None, record.position)


def _checkpoint(position: int) -> ReadResp:
    return ReadResp(
        checkpoint=ReadResp.Checkpoint(commit_position=position, prepare_position=position)
    )


def _confirmation() -> ReadResp:
    return ReadResp(
        confirmation=ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4()))
    )


def _caught_up(ticks: int, *, revision: int = -1, position: int = -1) -> ReadResp:
    """``caught_up`` with its 25.1 fields: the server time, and the resume point (a stream
    revision or an ``$all`` position) when anything was read."""
    caught_up = ReadResp.CaughtUp()
    caught_up.timestamp.seconds, remainder = divmod(ticks, 10_000_000)
    caught_up.timestamp.nanos = remainder * 100
    if revision >= 0:
        caught_up.stream_revision = revision
    if position >= 0:
        caught_up.position.commit_position = caught_up.position.prepare_position = position
    return ReadResp(caught_up=caught_up)


def filter_predicate(options: ReadReq.Options.FilterOptions) -> Predicate:
    """The user filter (§3.6): ``re.search`` if a regex is given, else any prefix."""
    case = options.WhichOneof("filter")
    if case is None:
        raise errors.invalid_argument(_filter_text(options), errors.FILTER_OPTIONS_TYPE)
    expression = getattr(options, case)
    if case == "stream_identifier" and not expression.regex:
        index = index_filter(expression.prefix)  # "$idx-..." reads a secondary index
        if index is not None:
            return index
    attribute = operator.attrgetter("stream_name" if case == "stream_identifier" else "event_type")
    if expression.regex:
        try:
            search = compile_filter_regex(expression.regex).search
        except re.error:
            raise errors.unhandled() from None
        return lambda record: search(attribute(record)) is not None
    prefixes = tuple(expression.prefix)
    return lambda record: attribute(record).startswith(prefixes)


def _filter_text(options: ReadReq.Options.FilterOptions) -> str:
    """Roughly how .NET prints a message (its JSON form)."""
    from google.protobuf import json_format  # noqa: PLC0415 (error path only)

    return json_format.MessageToJson(options, indent=None)


def _window(options: ReadReq.Options.FilterOptions) -> int:
    case = options.WhichOneof("window")
    if case == "max":
        return options.max
    if case == "count":
        return READ_BATCH_SIZE
    raise errors.invalid_argument("None", errors.WINDOW_CASE_TYPE)


def _subscription_filter(options: ReadReq.Options) -> tuple[Predicate | None, int]:
    """The user filter of a ``$all`` subscription and its checkpoint interval (0: none)."""
    if not options.HasField("filter"):
        return None, 0
    predicate = filter_predicate(options.filter)
    window = _window(options.filter)
    multiplier = options.filter.checkpointIntervalMultiplier
    if multiplier == 0:
        raise errors.unhandled()  # the server's enumerator throws
    return predicate, max(window * multiplier, 1)


def _read_start(options: ReadReq.Options.StreamOptions) -> int | None:
    """The revision a stream read starts at; None for ``end`` (-1 to the server)."""
    case = options.WhichOneof("revision_option")
    if case == "start":
        return 0
    if case == "end":
        return None
    if case == "revision":
        revision = _revision(options.revision)
        return None if revision < 0 else revision
    raise errors.unhandled()


def _position(position: ReadReq.Options.Position) -> int:
    """The commit position of a request position (the server rejects commit < prepare)."""
    if position.commit_position < position.prepare_position:
        raise errors.unhandled()
    return position.commit_position


# ---- the service -------------------------------------------------------------------


@dataclass
class _PendingWrite:
    """A BatchAppend write collecting events until ``is_final``."""

    stream_name: str
    expected: int
    events: list[ProposedEvent] = field(default_factory=list)
    size: int = 0


class StreamsService:
    """``event_store.client.streams.Streams`` backed by an :class:`EventStore`.

    With ``access`` (secure mode), every operation is checked against the stream's ACL
    for the caller (:func:`~esdb_wire.server.auth.user_of`) where the real server checks
    it: after the request's options are read, before anything is read or written.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        max_append_event_size: int | None = None,
        access: StreamAccess | None = None,
    ) -> None:
        self._store = store
        self._max_event_size = max_append_event_size
        self._access = access

    # ---- Read ----

    async def Read(self, request: ReadReq, context: CallContext) -> AsyncIterator[ReadItem]:
        """Reads and catch-up subscriptions of a stream or of ``$all``."""
        options = request.options
        if not options.HasField("uuid_option"):
            raise errors.required_argument("uuidOption", errors.UUID_OPTION_TYPE)
        stream_case = options.WhichOneof("stream_option")
        if stream_case is None:
            raise errors.invalid_argument("None", errors.STREAM_OPTION_CASE_TYPE)
        access = self._access
        may_read = None
        if access is not None:
            stream = (
                "$all" if stream_case == "all" else stream_name_of(options.stream.stream_identifier)
            )
            user = user_of(context)
            access.check(user, READ, stream)
            may_read = access.read_check(user)
        count_case = options.WhichOneof("count_option")
        filter_case = options.WhichOneof("filter_option")
        direction = options.read_direction
        encoder = _Encoder(self._store, options, may_read)
        backwards = direction == ReadReq.Options.Backwards
        if direction in _DIRECTIONS and count_case == "count":
            if stream_case == "stream" and filter_case == "no_filter":
                for response in self._read_stream(options, backwards, encoder):
                    yield response
                return
            if stream_case == "all" and filter_case is not None:
                for response in self._read_all(options, backwards, encoder):
                    yield response
                return
        if direction == ReadReq.Options.Forwards and count_case == "subscription":
            if stream_case == "stream" and filter_case == "no_filter":
                async for response in self._subscribe_stream(options, encoder):
                    yield response
                return
            if stream_case == "all" and filter_case is not None:
                async for response in self._subscribe_all(options, encoder):
                    yield response
                return
        names = (
            _CASE_NAMES[stream_case],
            _CASE_NAMES[count_case],
            _DIRECTIONS.get(direction, str(direction)),
            _CASE_NAMES[filter_case],
        )
        raise errors.invalid_combination(names)

    def _read_stream(
        self, options: ReadReq.Options, backwards: bool, encoder: _Encoder
    ) -> Iterator[ReadItem]:
        stream_options = options.stream
        name = _valid_stream_name(stream_options.stream_identifier)
        start = _read_start(stream_options)
        count = options.count
        if count == 0 or (start is None and not backwards):
            raise errors.unexpected_result("ReadStreamResult", "Error")
        try:
            found = self._store.read_stream(name, start, count, backwards=backwards)
        except StreamDeletedError:
            raise errors.stream_deleted(name) from None
        if found is None:
            not_found = ReadResp.StreamNotFound(stream_identifier=stream_options.stream_identifier)
            yield ReadResp(stream_not_found=not_found)
            return
        compatible = options.control_option.compatibility >= 1
        if compatible and not backwards:
            assert start is not None
            records = found.records
            first = records[0].revision if records else found.last_revision + 1
            if first >= start + min(count, READ_BATCH_SIZE) and first != start:
                yield ReadResp(first_stream_position=first)
        for record in found.records:
            yield encoder.event(record)
        if compatible:
            yield ReadResp(last_stream_position=found.last_revision)

    def _read_all(
        self, options: ReadReq.Options, backwards: bool, encoder: _Encoder
    ) -> Iterator[ReadItem]:
        predicate = None
        if options.HasField("filter"):
            predicate = filter_predicate(options.filter)
            _window(options.filter)
        all_options = options.all
        case = all_options.WhichOneof("all_option")
        count = options.count
        store = self._store
        if case == "position":
            position: int | None = _position(all_options.position)
        elif case == "start":
            position = 0
        elif case == "end":
            position = None
        else:
            raise errors.unhandled()
        if not backwards:
            records = (
                [] if position is None else store.read_all_forwards(position, count, predicate)
            )
        else:
            records = store.read_all_backwards(position, count, predicate)
        for record in records:
            yield encoder.event(record)

    async def _subscribe_stream(
        self, options: ReadReq.Options, encoder: _Encoder
    ) -> AsyncIterator[ReadItem]:
        """Catch-up subscription to one stream (§3.7); start points are exclusive."""
        store = self._store
        stream_options = options.stream
        name = _valid_stream_name(stream_options.stream_identifier)
        checkpoint = self._subscription_start(stream_options, name)
        yield _confirmation()
        if store.is_tombstoned(name):
            raise errors.stream_deleted(name)
        live = checkpoint >= store.last_revision(name)
        if live:
            yield _caught_up(store.clock(), revision=checkpoint)
        generation = store.generation
        while True:
            if store.generation != generation:
                raise errors.server_reset()
            if store.is_tombstoned(name):
                if not live:
                    raise errors.stream_deleted(name)
                for response in self._final_events(name, checkpoint, encoder):
                    yield response
                raise errors.stream_deleted(name)
            head = store.last_position
            found = store.read_stream(name, checkpoint + 1, SUBSCRIPTION_PAGE)
            if found is None or not found.records:
                if not live:
                    live = True
                    yield _caught_up(store.clock(), revision=checkpoint)
                await store.wait_for_records_after(head)
                continue
            for record in found.records:
                checkpoint = record.revision
                yield encoder.event(record)

    def _subscription_start(self, options: ReadReq.Options.StreamOptions, name: str) -> int:
        """The revision after which a stream subscription starts (exclusive)."""
        case = options.WhichOneof("revision_option")
        if case == "start":
            return -1
        if case == "end" or (case == "revision" and options.revision == _END_REVISION):
            return self._store.last_revision(name)
        if case == "revision":
            return _revision(options.revision)
        raise errors.unhandled()

    def _final_events(self, name: str, checkpoint: int, encoder: _Encoder) -> Iterator[ReadItem]:
        """What a live subscription still gets from a stream just tombstoned."""
        store = self._store
        found = store.read_stream(name, checkpoint + 1, _MAX_LONG, include_tombstoned=True)
        for record in [] if found is None else found.records:
            yield encoder.event(record)
        tombstone = store.tombstone_record(name)
        if tombstone is not None:
            yield encoder.event(tombstone)

    async def _subscribe_all(
        self, options: ReadReq.Options, encoder: _Encoder
    ) -> AsyncIterator[ReadItem]:
        """Catch-up subscription to ``$all`` (§3.6, §3.7): pull the log after the start,
        send ``caught_up`` on reaching its end, then live events; filtered ones also get a
        checkpoint every ``interval`` considered records and when catch-up ends."""
        store = self._store
        predicate, interval = _subscription_filter(options)
        checkpoint = self._all_start(options.all)
        yield _confirmation()
        live = checkpoint >= store.last_position
        if live:
            yield _caught_up(store.clock(), position=checkpoint)
        considered = 0
        last_checkpoint = -1
        generation = store.generation
        while True:
            if store.generation != generation:
                raise errors.server_reset()
            batch = store.records_after(checkpoint, SUBSCRIPTION_PAGE)
            if not batch:
                if not live:
                    live = True
                    if interval and checkpoint > last_checkpoint:
                        last_checkpoint = checkpoint
                        yield _checkpoint(checkpoint)
                    considered = 0
                    yield _caught_up(store.clock(), position=checkpoint)
                await store.wait_for_records_after(checkpoint)
                continue
            for record in batch:
                checkpoint = record.position
                if in_default_all_filter(record) and (predicate is None or predicate(record)):
                    yield encoder.event(record)
                if interval:
                    considered += 1
                    if considered >= interval:
                        considered = 0
                        last_checkpoint = checkpoint
                        yield _checkpoint(checkpoint)

    def _all_start(self, options: ReadReq.Options.AllOptions) -> int:
        """The position after which a ``$all`` subscription starts (exclusive)."""
        case = options.WhichOneof("all_option")
        if case == "position":
            return _position(options.position)
        if case == "start":
            return -1
        if case == "end":
            return self._store.last_position
        raise errors.unhandled()

    # ---- Append ----

    async def Append(self, requests: AsyncIterator[AppendReq], context: CallContext) -> AppendResp:
        """Options first, then proposed messages; WEV is a reply, not an error (§3.2)."""
        iterator = requests.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            raise errors.unhandled() from None
        if first.WhichOneof("content") != "options":
            raise errors.unhandled()
        options = first.options
        name = stream_name_of(options.stream_identifier)
        expected = _expected(options, "expected_stream_revision", errors.APPEND_EXPECTED_CASE_TYPE)
        access = self._access
        if access is not None:
            access.check(user_of(context), WRITE, name)
        events: list[ProposedEvent] = []
        size = 0
        max_size = self._store.max_append_size
        async for request in iterator:
            if request.WhichOneof("content") != "proposed_message":
                raise errors.unhandled()
            event, event_bytes = self._proposed_event(request.proposed_message)
            size += event_bytes
            if size > max_size:
                raise errors.maximum_append_size_exceeded(max_size)
            events.append(event)
        if name in ("", "$$"):
            raise errors.unhandled()
        try:
            result = self._store.append(name, expected, events)
        except StreamDeletedError:
            raise errors.stream_deleted(name) from None
        if isinstance(result, Success):
            return AppendResp(success=_append_success(result))
        return AppendResp(wrong_expected_version=_append_wev(result, options))

    def _proposed_event(self, message: AppendReq.ProposedMessage) -> tuple[ProposedEvent, int]:
        """The event of a proposed message and its size; checks the required metadata."""
        metadata = message.metadata
        event_type = metadata.get("type")
        if event_type is None:
            raise errors.missing_required_metadata_property("type")
        content_type = metadata.get("content-type")
        if content_type is None:
            raise errors.missing_required_metadata_property("content-type")
        data = message.data
        custom_metadata = message.custom_metadata
        size = event_size(event_type, data, custom_metadata)
        if self._max_event_size is not None and size > self._max_event_size:
            raise errors.maximum_append_event_size_exceeded(
                _id_text(message.id), size, self._max_event_size
            )
        try:
            event_id = read_uuid(message.id)
        except ValueError:
            raise errors.unhandled() from None
        is_json = content_type == APPLICATION_JSON
        return ProposedEvent(event_id, event_type, is_json, data, custom_metadata), size

    # ---- Delete / Tombstone ----

    async def Delete(
        self, request: streams_pb2.DeleteReq, context: CallContext
    ) -> streams_pb2.DeleteResp:
        """Soft delete (§3.9); WEV is an error here."""
        options = request.options
        expected = _expected(options, "expected_stream_revision", errors.DELETE_EXPECTED_CASE_TYPE)
        self._check_delete(options.stream_identifier, context)
        name = _valid_stream_name(options.stream_identifier)
        position = self._delete(name, expected, hard=False)
        return streams_pb2.DeleteResp(
            position=streams_pb2.DeleteResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    async def Tombstone(
        self, request: streams_pb2.TombstoneReq, context: CallContext
    ) -> streams_pb2.TombstoneResp:
        """Hard delete (§3.9); WEV is an error with the "Delete failed" text."""
        options = request.options
        expected = _expected(
            options, "expected_stream_revision", errors.TOMBSTONE_EXPECTED_CASE_TYPE
        )
        self._check_delete(options.stream_identifier, context)
        name = _valid_stream_name(options.stream_identifier)
        position = self._delete(name, expected, hard=True)
        return streams_pb2.TombstoneResp(
            position=streams_pb2.TombstoneResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    def _check_delete(self, identifier: shared_pb2.StreamIdentifier, context: CallContext) -> None:
        """Delete and Tombstone both need the stream's ``$d``."""
        access = self._access
        if access is not None:
            access.check(user_of(context), DELETE, stream_name_of(identifier))

    def _delete(self, name: str, expected: int, *, hard: bool) -> int:
        store = self._store
        try:
            result = store.tombstone(name, expected) if hard else store.delete(name, expected)
        except StreamDeletedError:
            raise errors.stream_deleted(name) from None
        if isinstance(result, WrongExpectedVersion):
            raise errors.wrong_expected_version_on_delete(name, expected, result.current)
        return result.position

    # ---- BatchAppend ----

    async def BatchAppend(
        self, requests: AsyncIterator[BatchAppendReq], context: CallContext
    ) -> AsyncIterator[BatchAppendResp]:
        """Writes keyed by correlation id, submitted on ``is_final`` (§3.11)."""
        pending: dict[uuid.UUID, _PendingWrite] = {}
        user = user_of(context) if self._access is not None else None
        async for request in requests:
            try:
                response = self._batch_step(request, pending, user)
            except (ValueError, KeyError, RpcError) as error:
                response = _batch_error(request, _bad_request(_error_text(error)))
                if request.HasField("options"):
                    response.stream_identifier.CopyFrom(request.options.stream_identifier)
            if response is not None:
                yield response

    def _batch_step(
        self,
        request: BatchAppendReq,
        pending: dict[uuid.UUID, _PendingWrite],
        user: User | None = None,
    ) -> BatchAppendResp | None:
        """Handle one request; returns the reply it causes, if any."""
        key = read_uuid(request.correlation_id)
        if request.HasField("options"):
            options = request.options
            access = self._access
            if access is not None:
                # Checked first, as the server does: no stream identifier is denied too.
                has_stream = options.HasField("stream_identifier")
                stream = stream_name_of(options.stream_identifier) if has_stream else None
                if not access.allowed(user, WRITE, stream):
                    response = _batch_error(request, _ACCESS_DENIED_STATUS)
                    if has_stream:
                        response.stream_identifier.CopyFrom(options.stream_identifier)
                    return response
            if not options.HasField("stream_identifier"):
                return _batch_error(
                    request, _bad_request("Required field StreamIdentifier not set.")
                )
            if _requested_timeout(options) <= 0:
                response = _batch_error(request, _TIMEOUT_STATUS)
                response.stream_identifier.CopyFrom(options.stream_identifier)
                return response
            if key not in pending:
                name = stream_name_of(options.stream_identifier)
                expected = _expected(
                    options, "expected_stream_position", errors.BATCH_EXPECTED_CASE_TYPE
                )
                pending[key] = _PendingWrite(name, expected)
        write = pending.get(key)
        if write is None:
            return None
        for message in request.proposed_messages:
            event = _batch_event(message)
            write.events.append(event)
            write.size += event_size(event.event_type, event.data, event.custom_metadata)
        max_size = self._store.max_append_size
        if write.size > max_size:
            del pending[key]
            return _batch_reply(request, write.stream_name, _max_size_status(max_size))
        if not request.is_final:
            return None
        del pending[key]
        return self._batch_write(request, write)

    def _batch_write(self, request: BatchAppendReq, write: _PendingWrite) -> BatchAppendResp:
        name = write.stream_name
        if name in ("", "$$"):
            raise ValueError("Value cannot be null. (Parameter 'eventStreamId')")
        try:
            result = self._store.append(name, write.expected, write.events)
        except StreamDeletedError:
            identifier = shared_pb2.StreamIdentifier(stream_name=name.encode())
            status = _status(
                StatusCode.NOT_FOUND,
                "StreamDeleted",
                shared_pb2.StreamDeleted(stream_identifier=identifier),
            )
            return _batch_reply(request, name, status)
        if isinstance(result, WrongExpectedVersion):
            return _batch_reply(request, name, _batch_wev_status(result))
        success = BatchAppendResp.Success(
            position=shared_pb2.AllStreamPosition(
                commit_position=result.position, prepare_position=result.position
            )
        )
        if result.current_revision >= 0:
            success.current_revision = result.current_revision
        else:
            success.no_stream.CopyFrom(_G_EMPTY)
        response = BatchAppendResp(correlation_id=request.correlation_id, success=success)
        response.stream_identifier.stream_name = name.encode()
        return response


# ---- Append helpers ----------------------------------------------------------------


def _append_success(result: Success) -> AppendResp.Success:
    success = AppendResp.Success(
        position=AppendResp.Position(
            commit_position=result.position, prepare_position=result.position
        )
    )
    if result.current_revision >= 0:
        success.current_revision = result.current_revision
    else:
        success.no_stream.CopyFrom(_EMPTY)
    return success


def _append_wev(
    result: WrongExpectedVersion, options: AppendReq.Options
) -> AppendResp.WrongExpectedVersion:
    """Both the 20.6 and the current oneofs, as the server fills them (§3.2)."""
    wev = AppendResp.WrongExpectedVersion()
    case = options.WhichOneof("expected_stream_revision")
    if case == "any":
        wev.expected_any.CopyFrom(_EMPTY)
        wev.any_20_6_0.CopyFrom(_EMPTY)
    elif case == "stream_exists":
        wev.expected_stream_exists.CopyFrom(_EMPTY)
        wev.stream_exists_20_6_0.CopyFrom(_EMPTY)
    elif case == "no_stream":
        wev.expected_no_stream.CopyFrom(_EMPTY)
        wev.expected_revision_20_6_0 = _END_REVISION
    else:
        wev.expected_revision = result.expected
        wev.expected_revision_20_6_0 = result.expected
    if result.current == NO_STREAM:
        wev.current_no_stream.CopyFrom(_EMPTY)
        wev.no_stream_20_6_0.CopyFrom(_EMPTY)
    else:
        wev.current_revision = result.current
        wev.current_revision_20_6_0 = result.current
    return wev


def _id_text(message: shared_pb2.UUID) -> str:
    try:
        return str(read_uuid(message))
    except ValueError:
        return ""


# ---- BatchAppend helpers -----------------------------------------------------------


def _requested_timeout(options: BatchAppendReq.Options) -> float:
    """Seconds left for the write: the duration deadline, else the timestamp one."""
    if options.WhichOneof("deadline_option") == "deadline":
        return options.deadline.ToNanoseconds() / 1e9
    if options.HasField("deadline_21_10_0"):
        return (options.deadline_21_10_0.ToNanoseconds() - time.time_ns()) / 1e9
    return float("inf")


def _batch_event(message: BatchAppendReq.ProposedMessage) -> ProposedEvent:
    """A proposed message as the server converts it (a missing key raises)."""
    metadata = message.metadata
    for key in ("type", "content-type"):
        if key not in metadata:
            raise KeyError("The given key was not present in the dictionary.")
    is_json = metadata["content-type"] == APPLICATION_JSON
    return ProposedEvent(
        read_uuid(message.id),
        metadata["type"],
        is_json,
        message.data,
        message.custom_metadata,
    )


def _error_text(error: Exception) -> str:
    if isinstance(error, RpcError):
        return error.message
    if isinstance(error, KeyError):
        return str(error.args[0])
    return str(error)


def _status(code: StatusCode, message: str, detail: Message) -> status_pb2.Status:
    return status_pb2.Status(code=code.name, message=message, details=pack_any(detail))


def _bad_request(message: str) -> status_pb2.Status:
    return _status(
        StatusCode.INVALID_ARGUMENT, "BadRequest", shared_pb2.BadRequest(message=message)
    )


def _max_size_status(max_size: int) -> status_pb2.Status:
    detail = shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=max_size)
    return _status(StatusCode.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", detail)


_TIMEOUT_STATUS = _status(StatusCode.DEADLINE_EXCEEDED, "Timeout", shared_pb2.Timeout())
_ACCESS_DENIED_STATUS = _status(
    StatusCode.PERMISSION_DENIED, "AccessDenied", shared_pb2.AccessDenied()
)


def _batch_wev_status(result: WrongExpectedVersion) -> status_pb2.Status:
    detail = shared_pb2.WrongExpectedVersion()
    if result.current == NO_STREAM:
        detail.current_no_stream.CopyFrom(_G_EMPTY)
    else:
        detail.current_stream_revision = result.current
    if result.expected == ANY:
        detail.expected_any.CopyFrom(_G_EMPTY)
    elif result.expected == NO_STREAM:
        detail.expected_no_stream.CopyFrom(_G_EMPTY)
    elif result.expected == STREAM_EXISTS:
        detail.expected_stream_exists.CopyFrom(_G_EMPTY)
    else:
        detail.expected_stream_position = result.expected
    return _status(StatusCode.ALREADY_EXISTS, "WrongExpectedVersion", detail)


def _batch_error(request: BatchAppendReq, status: status_pb2.Status) -> BatchAppendResp:
    return BatchAppendResp(correlation_id=request.correlation_id, error=status)


def _batch_reply(
    request: BatchAppendReq, stream_name: str, status: status_pb2.Status
) -> BatchAppendResp:
    response = _batch_error(request, status)
    response.stream_identifier.stream_name = stream_name.encode()
    return response
