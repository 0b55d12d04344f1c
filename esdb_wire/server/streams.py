"""The Streams service (Read, Append, Delete, Tombstone, BatchAppend) over :class:`EventStore`.

Translates ``streams.proto`` messages to store calls and back, reproducing the real
server's replies (spec §3.2-3.8, §3.11, §4). Methods follow :mod:`esdb_wire.server.rpc`.
This module takes each request and does the writes; the reads, the catch-up
subscriptions and BatchAppend's writes have modules of their own
(:mod:`.streams_read`, :mod:`.streams_subscriptions`, :mod:`.streams_batch_append`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.server import errors
from esdb_wire.server.auth import DELETE, READ, WRITE, StreamAccess, user_of
from esdb_wire.server.records import (
    NO_STREAM,
    ProposedEvent,
    StreamDeletedError,
    Success,
    WrongExpectedVersion,
    event_size,
)
from esdb_wire.server.rpc import CallContext
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_batch_append import (
    BatchAppendReq,
    BatchAppendResp,
    BatchAppendSession,
)
from esdb_wire.server.streams_read import (
    ReadEncoder,
    ReadItem,
    ReadReq,
    read_all_responses,
    read_stream_responses,
)
from esdb_wire.server.streams_subscriptions import subscribe_all, subscribe_stream
from esdb_wire.server.streams_wire import (
    APPLICATION_JSON,
    END_REVISION,
    expected_revision,
    stream_name_of,
    valid_stream_name,
)

AppendReq = streams_pb2.AppendReq
AppendResp = streams_pb2.AppendResp

_EMPTY = shared_pb2.Empty()
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
        encoder = ReadEncoder(self._store, options, may_read)
        backwards = direction == ReadReq.Options.Backwards
        if direction in _DIRECTIONS and count_case == "count":
            if stream_case == "stream" and filter_case == "no_filter":
                for response in read_stream_responses(self._store, options, backwards, encoder):
                    yield response
                return
            if stream_case == "all" and filter_case is not None:
                for response in read_all_responses(self._store, options, backwards, encoder):
                    yield response
                return
        if direction == ReadReq.Options.Forwards and count_case == "subscription":
            if stream_case == "stream" and filter_case == "no_filter":
                async for response in subscribe_stream(self._store, options, encoder):
                    yield response
                return
            if stream_case == "all" and filter_case is not None:
                async for response in subscribe_all(self._store, options, encoder):
                    yield response
                return
        names = (
            _CASE_NAMES[stream_case],
            _CASE_NAMES[count_case],
            _DIRECTIONS.get(direction, str(direction)),
            _CASE_NAMES[filter_case],
        )
        raise errors.invalid_combination(names)

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
        expected = expected_revision(
            options, "expected_stream_revision", errors.APPEND_EXPECTED_CASE_TYPE
        )
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
        expected = expected_revision(
            options, "expected_stream_revision", errors.DELETE_EXPECTED_CASE_TYPE
        )
        self._check_delete(options.stream_identifier, context)
        name = valid_stream_name(options.stream_identifier)
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
        expected = expected_revision(
            options, "expected_stream_revision", errors.TOMBSTONE_EXPECTED_CASE_TYPE
        )
        self._check_delete(options.stream_identifier, context)
        name = valid_stream_name(options.stream_identifier)
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
        user = user_of(context) if self._access is not None else None
        session = BatchAppendSession(self._store, self._access, user)
        async for request in requests:
            response = session.reply_to(request)
            if response is not None:
                yield response


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
        wev.expected_revision_20_6_0 = END_REVISION
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
